"""The view of a live figure: matplotlib renders each frame in the kernel, the browser paints the newest one.

A frame travels as the canvas's RGBA pixels compressed with zlib at its fastest level (a third of the time a PNG
takes to encode, at about the same size). Only the rectangles whose pixels changed since the frame before are
sent (a moving line or a few numbers, not the whole figure); a first frame or a new size goes whole, as a key
frame. The browser inflates and patches frames off its main thread, in the order they were sent, makes a picture
only of the newest (of all that changed since the last one it made) and paints it at the next display refresh:
during a fast drag no frame waits behind an older one. A view that joins late (the figure shown again, the page
reloaded) asks for a key frame. The view reports the screen's pixel ratio, so figures stay sharp on high-density
screens.
"""
import zlib

import anywidget
import numpy as np
import traitlets

COMPRESS_LEVEL = 1  # zlib's fastest: on a loopback link encoding time matters more than bytes
GAP = 24  # changed pixels this close (in rows or columns) go in one rectangle: fewer, slightly larger patches

# Shared by the worker and the page: inflate a frame's pixels, write them into the picture kept so far, and deliver
# [n, bitmap of the part that changed since the last delivery, ratio, its top, its left, picture height, width].
FRAMES = """
async function inflate(packed) {
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8ClampedArray(await new Response(stream).arrayBuffer());
}

function patch(picture, width, pixels, boxes) {
  let at = 0;
  for (const [top, left, height, wide] of boxes) {
    for (let row = 0; row < height; row++, at += wide * 4) {
      picture.set(pixels.subarray(at, at + wide * 4), ((top + row) * width + left) * 4);
    }
  }
}

function frames(deliver) {
  let picture = null, width = 0, height = 0, waiting = 0, queue = Promise.resolve(), dirty = null;
  const grow = (d, [top, left, tall, wide]) => d ? [Math.min(d[0], top), Math.min(d[1], left),
    Math.max(d[2], top + tall), Math.max(d[3], left + wide)] : [top, left, top + tall, left + wide];
  const take = async ([n, packed, shape, boxes, key, ratio]) => {
    waiting--;
    const pixels = await inflate(packed);
    if (key) [picture, height, width, dirty] = [pixels, shape[0], shape[1], [0, 0, shape[0], shape[1]]];
    else if (!picture || shape[0] !== height || shape[1] !== width) return deliver([n, null, ratio]);
    else {
      patch(picture, width, pixels, boxes);
      dirty = boxes.reduce(grow, dirty);
    }
    if (waiting) return;  // a newer frame is queued: make a picture only for that one, of all that changed until then
    const [top, left, bottom, right] = dirty;
    dirty = null;
    const bitmap = await createImageBitmap(new ImageData(picture, width, height), left, top, right - left, bottom - top);
    deliver([n, bitmap, ratio, top, left, height, width]);
  };
  return (message) => {
    waiting++;
    queue = queue.then(() => take(message)).catch(() => deliver([message[0], null, message[5]]));
  };
}
"""

# The browser side. A worker inflates, patches and decodes each frame, so the page's main thread (which also moves
# the slider and runs JupyterLab) only paints; where no worker can start, the page does that work itself.
ESM = FRAMES + """
const WORKER = `${inflate}\n${patch}\n${frames}
const send = frames((message) => self.postMessage(message, message[1] ? [message[1]] : []));
self.onmessage = ({ data }) => send(data);`;

function startWorker() {
  try {
    return new Worker(URL.createObjectURL(new Blob([WORKER], { type: "text/javascript" })));
  } catch (error) {
    return null;
  }
}

export default {
  render({ model, el }) {
    const canvas = document.createElement("canvas");
    canvas.className = "nncourse-frame";
    el.appendChild(canvas);
    const context = canvas.getContext("2d");
    let pending = [], asked = false;
    const paint = () => {  // every changed part since the last display refresh, oldest first
      for (const [bitmap, ratio, top, left, height, width] of pending) {
        if (canvas.width !== width || canvas.height !== height) [canvas.width, canvas.height] = [width, height];
        if (canvas.ratio !== ratio) {
          canvas.ratio = ratio;
          canvas.style.width = `${width / ratio}px`;
          canvas.style.height = `${height / ratio}px`;
        }
        context.drawImage(bitmap, left, top);
        bitmap.close();
      }
      pending = [];
    };
    const decoded = ([n, bitmap, ...where]) => {
      if (!bitmap) {  // a change to a picture this view never had: the kernel sends the whole frame once
        if (!asked) model.send({ key: true });
        asked = true;
        return;
      }
      if (!pending.length) requestAnimationFrame(paint);
      pending.push([bitmap, ...where]);
    };
    let send = frames(decoded), worker = startWorker();
    if (worker) {
      worker.onmessage = ({ data }) => decoded(data);
      worker.onerror = () => {  // a page whose policy forbids such workers: work here instead
        worker.terminate();
        worker = null;
        send = frames(decoded);
        asked = false;
        model.send({ key: true });
      };
    }
    const show = () => {
      const view = model.get("pixels");
      if (!view || !view.byteLength) return;
      const key = model.get("key");
      if (key) asked = false;
      const packed = view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
      const message = [model.get("n"), packed, model.get("shape"), model.get("boxes"), key, model.get("ratio")];
      if (worker) worker.postMessage(message, [packed]);
      else send(message);
    };
    model.on("change:n", show);
    show();
    const ratio = window.devicePixelRatio || 1;
    if (ratio !== model.get("ratio")) {
      model.set("screen_ratio", ratio);
      model.save_changes();
    }
    return () => {
      model.off("change:n", show);
      if (worker) worker.terminate();
    };
  },
};
"""


class FrameView(anywidget.AnyWidget):
    """Shows a figure's frames in the browser: `show()` sends what changed on the canvas since the last frame."""

    _esm = ESM
    n = traitlets.Int(0).tag(sync=True)  # the frame's number: every frame sent has a new one
    pixels = traitlets.Bytes(b"").tag(sync=True)  # the boxes' RGBA rows one after another, zlib-compressed
    boxes = traitlets.List([]).tag(sync=True)  # [top, left, height, width] of each rectangle sent, in device pixels
    key = traitlets.Bool(True).tag(sync=True)  # the frame is whole (its one box is the figure)
    shape = traitlets.Tuple((0, 0)).tag(sync=True)  # (height, width) of the whole frame in device pixels
    ratio = traitlets.Float(1.0).tag(sync=True)  # device pixels per CSS pixel of the frame being sent
    screen_ratio = traitlets.Float(1.0).tag(sync=True)  # what the browser's screen has (set by the browser)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.shown = None  # the whole last frame, as the browser has it
        self.on_msg(self._on_message)

    def show(self, canvas):
        """Send the canvas's current pixels as the next frame: only the changed rectangles, or the whole frame."""
        rgba = np.asarray(canvas.buffer_rgba())
        if self.shown is None or self.shown.shape != rgba.shape:
            self.send_key(rgba)
            return
        boxes = changed_boxes(self.shown, rgba)
        if boxes:  # an unchanged canvas sends nothing
            parts = []
            for top, left, height, width in boxes:
                region = rgba[top:top + height, left:left + width]
                self.shown[top:top + height, left:left + width] = region
                parts.append(region.tobytes())
            self.send_frame(b"".join(parts), boxes, key=False)

    def send_key(self, rgba=None):
        """Send the whole frame (the last one shown, unless given a new one)."""
        if rgba is not None:
            self.shown = np.array(rgba)
        if self.shown is not None:
            height, width = self.shown.shape[:2]
            self.send_frame(self.shown.tobytes(), [[0, 0, height, width]], key=True)

    def send_frame(self, payload, boxes, key):
        """Compress the pixels and sync them with their boxes as one update."""
        with self.hold_sync():
            self.shape = self.shown.shape[:2]
            self.boxes = [list(map(int, box)) for box in boxes]
            self.key = key
            self.pixels = zlib.compress(payload, COMPRESS_LEVEL)
            self.n += 1

    def frame(self):
        """The last frame sent, as an array of RGBA pixels (None before the first)."""
        return None if self.shown is None else self.shown.copy()

    def _on_message(self, _widget, content, _buffers):
        if isinstance(content, dict) and content.get("key"):
            self.send_key()


def changed_boxes(old, new):
    """[(top, left, height, width)] rectangles that together hold every pixel where `new` differs from `old`."""
    different = old.view(np.uint32)[..., 0] != new.view(np.uint32)[..., 0]
    boxes = []
    for top, bottom in runs(np.flatnonzero(different.any(axis=1))):
        for left, right in runs(np.flatnonzero(different[top:bottom].any(axis=0))):
            boxes.append((top, left, bottom - top, right - left))
    return boxes


def runs(indices, gap=GAP):
    """[(start, stop)] spans of sorted indices, split where two neighbours are more than `gap` apart."""
    if not len(indices):
        return []
    breaks = np.flatnonzero(np.diff(indices) > gap)
    starts, ends = indices[np.r_[0, breaks + 1]], indices[np.r_[breaks, len(indices) - 1]] + 1
    return list(zip(starts.tolist(), ends.tolist()))
