"""Every widget builder of the course, importable as `from nncourse import widgets`.

Each builder takes the student's own function(s) and returns a live figure: drawn once, updated in
place as its controls move, showing "implement X above" until the function works. One module per
lesson holds the builders; add a line here when a lesson adds one.
"""
from nncourse.live import LiveFigure, slider  # noqa: F401
from nncourse.neuron_widgets import neuron_explorer, perceptron_trainer  # noqa: F401
