"""Whole frames for ipympl canvases: a dropped frame can never leave a stale picture behind.

ipympl normally sends each repaint as a diff against the previous frame; when the browser skips one while frames
arrive quickly (a fast drag), pieces of old plots stay on screen until the next full draw (matplotlib issue
#19116). A figure that changes on every slider move gains little from diffs, so its canvas sends every frame
whole, PNG-encoded with light compression (on this loopback link encoding time matters more than bytes), and
without the alpha channel when the figure is opaque (a third less to compress).
"""
from io import BytesIO

import numpy as np
from PIL import Image

COMPRESS_LEVEL = 1


def send_whole_frames(canvas):
    """Make an ipympl (webagg) canvas send every frame whole; other canvases are left alone."""
    if hasattr(canvas, "get_diff_image") and hasattr(canvas, "_png_is_old"):
        canvas.get_diff_image = lambda: whole_frame(canvas)
    return canvas


def whole_frame(canvas):
    """The canvas's current pixels as a full-frame PNG, or None when nothing changed since the last frame."""
    if not canvas._png_is_old:
        return None
    pixels = np.asarray(canvas.get_renderer().buffer_rgba())
    canvas.set_image_mode("full")
    canvas._last_buff = pixels.view(np.uint32).squeeze(2).copy()  # kept in step for ipympl's data-URL snapshot
    canvas._force_full = canvas._png_is_old = False
    opaque = pixels[..., 3].min() == 255  # a figure on its usual opaque background: no alpha to send
    with BytesIO() as png:
        Image.fromarray(np.ascontiguousarray(pixels[..., :3]) if opaque else pixels).save(
            png, format="png", compress_level=COMPRESS_LEVEL)
        return png.getvalue()
