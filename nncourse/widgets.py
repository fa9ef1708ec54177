"""Every widget builder of the course, importable as `from nncourse import widgets`.

Each builder takes the student's own function(s) and returns a live figure: drawn once, updated in
place as its controls move, showing "implement X above" until the function works. One module per
lesson holds the builders; add its builders to BUILDERS when a lesson adds one. A builder's module
(and matplotlib) is imported on first use. In the grader's kernel (`nncourse.HEADLESS`) nobody watches:
builders return a NotDrawn note and matplotlib is never imported.
"""
import importlib

import nncourse

BUILDERS = {
    "live": ("LiveFigure", "slider"),
    "neuron_widgets": ("neuron_explorer", "perceptron_trainer"),
    "activation_widgets": ("activation_explorer", "gradient_depth", "saturation_trainer", "softmax_explorer"),
    "forward_widgets": ("digits_explorer", "init_explorer", "network_diagram", "xor_explorer"),
    "loss_widgets": ("line_descent", "line_fit_explorer", "probability_losses"),
    "backprop_widgets": ("computation_graph", "playground", "weight_nudge"),
    "optimizer_widgets": ("batch_noise", "optimizer_curves", "optimizer_race"),
    "keras_widgets": ("keras_race",),
    "generalization_widgets": ("overfitting_lab",),
    "deep_widgets": ("depth_lab",),
    "architecture_widgets": ("attention_explorer", "bottleneck_explorer", "conv_explorer", "gan_lab", "time_gradient"),
    "interpretability_widgets": ("ig_convergence", "saliency_explorer", "saturation_demo"),
}
HOME = {name: module for module, names in BUILDERS.items() for name in names}
__all__ = sorted(HOME)


class NotDrawn:
    """What a builder returns in the grader's kernel: a note, no figure."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"({self.name}: not drawn while grading)"


def __getattr__(name):
    """A builder from its lesson's module, imported on first use (a NotDrawn maker when headless)."""
    if name not in HOME:
        raise AttributeError(f"module 'nncourse.widgets' has no attribute {name!r}")
    if nncourse.HEADLESS and HOME[name] != "live":
        return lambda *args, **kwargs: NotDrawn(name)
    return getattr(importlib.import_module(f"nncourse.{HOME[name]}"), name)


def __dir__():
    return __all__
