"""The view's browser code, run in chromium on frames a live figure really sent: the picture it paints is the kernel's."""
import base64

import numpy as np

from nncourse.frames import FRAMES
from tests.test_frames import Blip, recorded

PLAY = """
async ([sent, alone]) => {
  // feed the frames to the view's code (the first `alone` each after the last was delivered, the rest at once) and
  // paint what it delivers as the page does: each bitmap at its place on one canvas
  const delivered = [];
  let arrived = () => {};
  const send = frames((message) => { delivered.push(message); arrived(); });
  const until = (count) => new Promise((resolve) => {
    arrived = () => { if (delivered.length >= count) resolve(); };
    arrived();
  });
  for (const [i, [n, packed, shape, boxes, key]] of sent.entries()) {
    send([n, Uint8Array.from(atob(packed), (c) => c.charCodeAt(0)).buffer, shape, boxes, key, 1]);
    if (i < alone) await until(i + 1);
  }
  await until(Math.min(alone, sent.length) + (sent.length > alone ? 1 : 0));
  let canvas = null, parts = [];
  for (const [n, bitmap, ratio, top, left, height, width] of delivered) {
    if (!bitmap) { parts.push([n, null]); continue; }
    canvas = canvas || new OffscreenCanvas(width, height);
    canvas.getContext("2d").drawImage(bitmap, left, top);
    parts.push([n, bitmap.height * bitmap.width]);
  }
  if (!canvas) return [parts, null];
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let text = "";
  for (let i = 0; i < pixels.length; i += 8192) text += String.fromCharCode(...pixels.subarray(i, i + 8192));
  return [parts, [btoa(text), canvas.height, canvas.width]];
}
"""


def play(chrome, frames, alone=0):
    """What the browser code delivers for these frames, the first `alone` fed one at a time and the rest together:
    ([(n, pixels in the delivered part or None)], the RGBA picture they paint together or None)."""
    page = chrome.new_page()
    try:
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=FRAMES)
        sent = [[n, base64.b64encode(packed).decode(), list(shape), boxes, key] for n, packed, shape, boxes, key in frames]
        parts, picture = page.evaluate(PLAY, [sent, alone])
    finally:
        page.close()
    if picture is not None:
        picture = np.frombuffer(base64.b64decode(picture[0]), np.uint8).reshape(picture[1], picture[2], 4)
    return [tuple(part) for part in parts], picture


def test_the_browser_rebuilds_each_frame_from_the_patches_and_paints_only_the_newest(chrome):
    blip = Blip()
    sent = recorded(blip.view)
    blip.show()
    for a in (0.5, 1.5, 2.0):
        blip.update(a=a)
    assert [key for *_, key in sent] == [True, False, False, False]
    parts, picture = play(chrome, sent)
    height, width = blip.view.frame().shape[:2]
    assert parts == [(sent[-1][0], height * width)], "frames that arrive together: one picture, for the newest"
    assert np.array_equal(picture, blip.view.frame())
    parts, picture = play(chrome, sent, alone=len(sent))
    assert [n for n, _ in parts] == [n for n, *_ in sent] and np.array_equal(picture, blip.view.frame())
    assert all(area < height * width / 10 for _, area in parts[1:]), "after the first, only the changed part is painted"
    parts, picture = play(chrome, sent, alone=1)  # the patches together: one picture of all they changed
    assert [n for n, _ in parts] == [sent[0][0], sent[-1][0]] and np.array_equal(picture, blip.view.frame())


def test_a_view_that_missed_the_key_frame_asks_for_one(chrome):
    blip = Blip()
    sent = recorded(blip.view)
    blip.show()
    blip.update(a=0.5)
    assert play(chrome, sent[1:]) == ([(sent[1][0], None)], None), "a patch without its picture is not painted"
