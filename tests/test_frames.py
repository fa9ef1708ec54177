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
        shown = np.asarray(Image.open(io.BytesIO(frame)).convert("RGBA"))
        assert np.array_equal(shown, np.asarray(canvas.get_renderer().buffer_rgba()))
    assert canvas.get_diff_image() is None  # nothing new since the last frame


def test_an_opaque_figure_is_sent_without_alpha_and_a_transparent_one_with_it(canvas):
    canvas, line = canvas
    modes = []
    for face in ("white", "none"):
        canvas.figure.set_facecolor(face)
        canvas.figure.axes[0].set_facecolor(face)
        canvas.draw()
        canvas._png_is_old = True
        image = Image.open(io.BytesIO(canvas.get_diff_image()))
        modes.append(image.mode)
        assert np.array_equal(np.asarray(image.convert("RGBA")), np.asarray(canvas.get_renderer().buffer_rgba()))
    assert modes == ["RGB", "RGBA"]


def test_other_canvases_are_left_alone():
    from matplotlib.figure import Figure

    figure = Figure()
    assert not hasattr(send_whole_frames(figure.canvas), "get_diff_image")
