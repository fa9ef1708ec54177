"""ipympl canvases send whole frames: each one decodes to exactly the canvas's pixels, whatever came before."""
import io

import matplotlib
import numpy as np
import pytest
from PIL import Image

from nncourse.frames import send_whole_frames


@pytest.fixture
def canvas():
    import matplotlib.pyplot as plt

    previous = matplotlib.get_backend()
    plt.switch_backend("module://ipympl.backend_nbagg")
    try:
        fig, ax = plt.subplots(figsize=(3, 2))
        line, = ax.plot([0, 1, 2], [0, 1, 0])
        yield send_whole_frames(fig.canvas), line
        plt.close(fig)
    finally:
        plt.switch_backend(previous)


def test_every_frame_is_whole_and_matches_the_canvas(canvas):
    canvas, line = canvas
    for shift in (0.0, 0.5, 1.0):
        line.set_ydata(np.array([0, 1, 0]) + shift)
        canvas.draw()
        canvas._png_is_old = True
        frame = canvas.get_diff_image()
        assert canvas._current_image_mode == "full"
        shown = np.asarray(Image.open(io.BytesIO(frame)))
        assert np.array_equal(shown, np.asarray(canvas.get_renderer().buffer_rgba()))
    assert canvas.get_diff_image() is None  # nothing new since the last frame


def test_other_canvases_are_left_alone():
    from matplotlib.figure import Figure

    figure = Figure()
    assert not hasattr(send_whole_frames(figure.canvas), "get_diff_image")
