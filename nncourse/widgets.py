"""Every widget builder of the course, importable as `from nncourse import widgets`.

Each builder takes the student's own function(s) and returns a live figure: drawn once, updated in
place as its controls move, showing "implement X above" until the function works. One module per
lesson holds the builders; add a line here when a lesson adds one.
"""
from nncourse.live import LiveFigure, slider  # noqa: F401
from nncourse.neuron_widgets import neuron_explorer, perceptron_trainer  # noqa: F401
from nncourse.loss_widgets import line_descent, line_fit_explorer, probability_losses  # noqa: F401
from nncourse.backprop_widgets import computation_graph, playground, weight_nudge  # noqa: F401
from nncourse.activation_widgets import activation_explorer, gradient_depth, saturation_trainer, softmax_explorer  # noqa: F401
from nncourse.keras_widgets import keras_race  # noqa: F401
from nncourse.optimizer_widgets import batch_noise, optimizer_curves, optimizer_race  # noqa: F401
from nncourse.forward_widgets import digits_explorer, init_explorer, network_diagram, xor_explorer  # noqa: F401
from nncourse.deep_widgets import depth_lab  # noqa: F401
from nncourse.generalization_widgets import overfitting_lab  # noqa: F401
from nncourse.interpretability_widgets import ig_convergence, saliency_explorer, saturation_demo  # noqa: F401
from nncourse.architecture_widgets import attention_explorer, bottleneck_explorer, conv_explorer, gan_lab, time_gradient  # noqa: F401
