"""The view of a live figure: matplotlib renders each frame in the kernel, the browser paints the newest one.

The kernel sends every frame whole, as the canvas's RGBA pixels compressed with zlib at its fastest level (a third
of the time a PNG takes to encode, at about the same size). The browser inflates and decodes frames off its main
thread and paints at most one per display refresh, always the newest: a frame that arrives during a fast drag
never waits behind an older one, and none leaves a stale picture behind. The view reports the screen's pixel
ratio, so figures stay sharp on high-density screens.
"""
import zlib

import anywidget
import numpy as np
import traitlets

COMPRESS_LEVEL = 1  # zlib's fastest: on a loopback link encoding time matters more than bytes

DECODE = """
async function decode(packed, width, height) {
  const inflated = new Blob([packed]).stream().pipeThrough(new DecompressionStream("deflate"));
  const pixels = new Uint8ClampedArray(await new Response(inflated).arrayBuffer());
  return createImageBitmap(new ImageData(pixels, width, height));
}
"""

# The browser side. A worker inflates and decodes each frame, so the page's main thread (which also moves the
# slider and runs JupyterLab) only paints; where no worker can start, the page decodes frames itself.
ESM = DECODE + """
const WORKER = `${decode}
self.onmessage = async ({ data: [n, packed, width, height, ratio] }) => {
  const bitmap = await decode(packed, width, height);
  self.postMessage([n, bitmap, ratio], [bitmap]);
};`;

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
    let asked = 0, shown = 0, next = null;
    const paint = () => {
      const [bitmap, ratio] = next;
      next = null;
      if (canvas.width !== bitmap.width || canvas.height !== bitmap.height || canvas.ratio !== ratio) {
        [canvas.width, canvas.height, canvas.ratio] = [bitmap.width, bitmap.height, ratio];
        canvas.style.width = `${bitmap.width / ratio}px`;
        canvas.style.height = `${bitmap.height / ratio}px`;
      }
      context.drawImage(bitmap, 0, 0);
      bitmap.close();
    };
    const decoded = ([n, bitmap, ratio]) => {
      if (n <= shown) { bitmap.close(); return; }  // a newer frame is decoded already
      shown = n;
      if (next) next[0].close(); else requestAnimationFrame(paint);
      next = [bitmap, ratio];
    };
    let worker = startWorker();
    if (worker) {
      worker.onmessage = ({ data }) => decoded(data);
      worker.onerror = () => {  // a page whose policy forbids such workers: decode here instead
        worker.terminate();
        worker = null;
        show();
      };
    }
    const show = async () => {
      const view = model.get("pixels"), [height, width] = model.get("shape"), ratio = model.get("ratio"), n = ++asked;
      if (!view || !view.byteLength) return;
      const packed = view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
      if (worker) worker.postMessage([n, packed, width, height, ratio], [packed]);
      else decoded([n, await decode(packed, width, height), ratio]);
    };
    model.on("change:pixels", show);
    show();
    const ratio = window.devicePixelRatio || 1;
    if (ratio !== model.get("ratio")) {
      model.set("screen_ratio", ratio);
      model.save_changes();
    }
    return () => {
      model.off("change:pixels", show);
      if (worker) worker.terminate();
    };
  },
};
"""


class FrameView(anywidget.AnyWidget):
    """Shows a figure's frames in the browser: `show()` sends the canvas's current pixels."""

    _esm = ESM
    pixels = traitlets.Bytes(b"").tag(sync=True)  # RGBA rows, zlib-compressed
    shape = traitlets.Tuple((0, 0)).tag(sync=True)  # (height, width) of the frame in device pixels
    ratio = traitlets.Float(1.0).tag(sync=True)  # device pixels per CSS pixel of the frame being sent
    screen_ratio = traitlets.Float(1.0).tag(sync=True)  # what the browser's screen has (set by the browser)

    def show(self, canvas):
        """Send the canvas's current pixels as the next frame."""
        rgba = canvas.buffer_rgba()
        with self.hold_sync():
            self.shape = rgba.shape[:2]
            self.pixels = zlib.compress(rgba, COMPRESS_LEVEL)

    def frame(self):
        """The last frame sent, as an array of RGBA pixels."""
        return np.frombuffer(zlib.decompress(self.pixels), np.uint8).reshape(*self.shape, 4)
