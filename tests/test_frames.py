"""A live figure's view: every frame it sends is exactly the canvas's pixels, and it follows the screen's density."""
import ipywidgets as ipw
import numpy as np

from nncourse import plots
from nncourse.frames import FrameView
from nncourse.live import LiveFigure


def test_every_frame_is_the_canvas_pixels_and_small_to_send():
    fig, ax = plots.figure(figsize=(3, 2))
    line, = ax.plot([0, 1, 2], [0, 1, 0])
    view = FrameView()
    for shift in (0.0, 0.5, 1.0):
        line.set_ydata(np.array([0, 1, 0]) + shift)
        fig.canvas.draw()
        view.show(fig.canvas)
        pixels = np.asarray(fig.canvas.buffer_rgba())
        assert np.array_equal(view.frame(), pixels)
        assert len(view.pixels) < pixels.nbytes / 5


class Wave(LiveFigure):
    def __init__(self):
        fig, ax = plots.figure(figsize=(3, 2))
        self.x = np.linspace(0, 1, 20)
        self.line, = ax.plot(self.x, self.x)
        super().__init__(None, {"a": ipw.FloatSlider(value=1.0, min=-2, max=2)}, fig)

    def redraw(self, a):
        self.line.set_ydata(a * self.x)


def test_each_repaint_sends_the_new_frame_and_a_denser_screen_gets_finer_frames():
    wave = Wave().show()
    first = wave.view.frame()
    wave.update(a=-1.0)
    moved = wave.view.frame()
    assert first.shape == moved.shape and not np.array_equal(first, moved)
    assert np.array_equal(moved, np.asarray(wave.fig.canvas.buffer_rgba()))
    wave.view.screen_ratio = 2.0  # what the browser reports on a high-density screen
    assert wave.view.ratio == 2.0 and wave.view.frame().shape[:2] == (2 * moved.shape[0], 2 * moved.shape[1])
    wave.update(a=0.5)  # blitting goes on at the new size
    assert np.array_equal(wave.view.frame(), np.asarray(wave.fig.canvas.buffer_rgba()))
    assert wave.widget.children[-1] is wave.view
