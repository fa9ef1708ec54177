"""A live figure's view: the frames it sends rebuild exactly the canvas's pixels, and it follows the screen's density."""
import zlib

import ipywidgets as ipw
import numpy as np

from nncourse import plots
from nncourse.frames import FrameView, changed_boxes, runs
from nncourse.live import LiveFigure


def recorded(view):
    """A list that collects every frame the view sends, as the browser receives it: (n, packed, shape, boxes, key)."""
    sent = []
    view.observe(lambda _: sent.append((view.n, view.pixels, tuple(view.shape), view.boxes, view.key)), names="n")
    return sent


def replay(frames, picture=None):
    """What the browser makes of frames: a key frame replaces the picture, any other patches its boxes."""
    for _n, packed, shape, boxes, key in frames:
        pixels = np.frombuffer(zlib.decompress(packed), np.uint8)
        if key:
            picture = pixels.reshape(*shape, 4).copy()
            continue
        at = 0
        for top, left, height, width in boxes:
            picture[top:top + height, left:left + width] = pixels[at:at + height * width * 4].reshape(height, width, 4)
            at += height * width * 4
        assert at == pixels.size, "the patch holds exactly its boxes' pixels"
    return picture


def test_every_frame_rebuilds_the_canvas_and_only_what_changed_is_sent():
    fig, ax = plots.figure(figsize=(3, 2))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 3)
    line, = ax.plot([0, 1, 2], [0, 1, 0])
    view = FrameView()
    sent = recorded(view)
    for shift in (0.0, 0.5, 1.0, 1.0, 0.25):
        line.set_ydata(np.array([0, 1, 0]) + shift)
        fig.canvas.draw()
        view.show(fig.canvas)
        pixels = np.asarray(fig.canvas.buffer_rgba())
        assert np.array_equal(view.frame(), pixels) and np.array_equal(replay(sent), pixels)
    assert [key for *_, key in sent] == [True, False, False, False], "an unchanged canvas sends nothing"
    height, width = pixels.shape[:2]
    for _n, packed, _shape, boxes, _key in sent[1:]:  # the line moves in the left fifth of the axes only
        assert sum(h * w for _, _, h, w in boxes) < height * width / 3 and len(packed) < pixels.nbytes / 20


def test_changed_boxes_hold_every_changed_pixel_and_keep_far_changes_apart():
    old = np.zeros((100, 200, 4), np.uint8)
    new = old.copy()
    new[10:12, 5:9] = 255       # two changes far apart: two boxes
    new[70, 150:160, 2] = 7
    new[71, 163] = 1            # within GAP of the one above: the same box
    assert changed_boxes(old, new) == [(10, 5, 2, 4), (70, 150, 2, 14)]
    assert changed_boxes(old, old.copy()) == []
    assert runs(np.array([1, 2, 3, 60, 61])) == [(1, 4), (60, 62)] and runs(np.array([], int)) == []


def test_a_view_that_asks_gets_the_whole_frame():
    wave = Wave().show()
    sent = recorded(wave.view)
    wave.update(a=-1.0)
    assert sent and not sent[-1][-1]
    wave.view._on_message(wave.view, {"key": True}, [])  # what a view that joined late sends
    assert sent[-1][-1] and np.array_equal(replay(sent[-1:]), np.asarray(wave.fig.canvas.buffer_rgba()))
    count = len(sent)
    wave.view._on_message(wave.view, {"other": 1}, [])  # anything else changes nothing
    wave.view._on_message(wave.view, "key", [])
    assert len(sent) == count


class Wave(LiveFigure):
    def __init__(self):
        fig, ax = plots.figure(figsize=(3, 2))
        self.x = np.linspace(0, 1, 20)
        self.line, = ax.plot(self.x, self.x)
        super().__init__(None, {"a": ipw.FloatSlider(value=1.0, min=-2, max=2)}, fig)

    def redraw(self, a):
        self.line.set_ydata(a * self.x)


class Blip(LiveFigure):
    """A dot that moves in one corner of fixed axes: each frame changes a small part of the figure."""

    def __init__(self):
        fig, ax = plots.figure(figsize=(3, 2))
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 10)
        self.dot, = ax.plot([1.0], [1.0], "o")
        super().__init__(None, {"a": ipw.FloatSlider(value=1.0, min=0, max=2)}, fig)

    def redraw(self, a):
        self.dot.set_data([a], [1.0])


def test_each_repaint_sends_the_new_frame_and_a_denser_screen_gets_finer_frames():
    wave = Wave().show()
    sent = recorded(wave.view)
    first = wave.view.frame()
    wave.update(a=-1.0)
    moved = wave.view.frame()
    assert first.shape == moved.shape and not np.array_equal(first, moved)
    assert np.array_equal(moved, np.asarray(wave.fig.canvas.buffer_rgba()))
    wave.view.screen_ratio = 2.0  # what the browser reports on a high-density screen
    assert wave.view.ratio == 2.0 and wave.view.frame().shape[:2] == (2 * moved.shape[0], 2 * moved.shape[1])
    wave.update(a=0.5)  # blitting goes on at the new size
    assert np.array_equal(wave.view.frame(), np.asarray(wave.fig.canvas.buffer_rgba()))
    assert np.array_equal(replay(sent, first), wave.view.frame()) and sent[-2][-1], "the new size came as a key frame"
    assert wave.widget.children[-1] is wave.view
