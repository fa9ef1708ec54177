"""The course's slider: the browser's own range control, whose every move reaches the kernel at once.

An ipywidgets slider runs its drag in JavaScript on the page's main thread, the thread that also paints the
figure, and the kernel echoes every value back to the page. This slider is the browser's native range input: its
drag costs the page next to nothing, each value goes to the kernel at once as a message of its own (a "paced"
slider, for a widget that retrains on every value, sends one at a time with the newest waiting behind it), the
kernel keeps only the newest (a live figure coalesces its renders), and nothing is echoed back.
"""
import html
import re
import unicodedata

import anywidget
import traitlets

ESM = r"""
const PATIENCE_MS = 1000;  // a value the kernel has not answered by then no longer holds the next one back
export default {
  render({ model, el }) {
    el.classList.add("nncourse-slider");
    const label = document.createElement("label"), input = document.createElement("input");
    const readout = document.createElement("output");
    label.className = "nncourse-slider-label";
    input.type = "range";
    input.dataset.lmSuppressShortcuts = "true";  // arrow keys move the slider, not JupyterLab's cell selection
    label.append(input);
    const scale = () => model.get("scale");
    const position = (value) => (scale() === "log" ? Math.log10(value) : value);
    const valueAt = (p) => (scale() === "log" ? 10 ** p : scale() === "int" ? Math.round(p) : p);
    const format = (value) => {  // readout_format: ".3g" (significant digits) or ".4f" (decimals)
      const [, digits, kind] = /\.(\d+)([fg])/.exec(model.get("readout_format")) || [null, "3", "g"];
      if (scale() === "int") return String(Math.round(value));
      return kind === "f" ? value.toFixed(Number(digits)) : String(Number(value.toPrecision(Number(digits))));
    };
    const text = document.createElement("span");
    const showLabel = () => { text.innerHTML = model.get("label"); };
    const show = () => {  // touches the page only where something changed: this runs on every move
      const range = [model.get("min"), model.get("max"), model.get("step")].map(String);
      if (range.some((v, i) => v !== [input.min, input.max, input.step][i])) [input.min, input.max, input.step] = range;
      const at = String(position(model.get("value"))), shown = format(model.get("value"));
      if (input.value !== at) input.value = at;
      if (readout.textContent !== shown) readout.textContent = shown;
    };
    // Paced: one value in flight at a time, the newest waiting behind it. A widget that retrains for every value
    // then gets the latest one next and trains it for a while, instead of restarting on each move of a drag.
    let sentAt = -Infinity, waiting = null;
    const post = (value) => {
      if (!model.get("paced")) { model.send({ value }); return; }
      if (performance.now() - sentAt < PATIENCE_MS) { waiting = value; return; }
      sentAt = performance.now();
      const status = ({ content }) => {
        if (content.execution_state !== "idle") return;
        sentAt = -Infinity;
        if (waiting !== null) { const next = waiting; waiting = null; post(next); }
      };
      model.send({ value }, { iopub: { status } });
    };
    const send = () => {
      const value = valueAt(Number(input.value));
      model.set("value", value);  // this page's copy only: a later value from the kernel must still look new
      post(value);
    };
    input.addEventListener("input", () => { if (model.get("continuous_update")) send(); });
    input.addEventListener("change", send);  // the released value, also when moves are not sent while dragged
    label.prepend(text);
    el.append(label, readout);
    const showPaced = () => { el.dataset.paced = String(model.get("paced")); };  // marks a retraining widget's slider
    showLabel();
    showPaced();
    show();
    model.on("change:label", showLabel);
    model.on("change:paced", showPaced);
    model.on("change", show);
    return () => {
      model.off("change:label", showLabel);
      model.off("change:paced", showPaced);
      model.off("change", show);
    };
  },
};
"""

CSS = """
.nncourse-slider { display: flex; align-items: center; gap: 6px; width: 260px; margin: 2px 8px 2px 0;
  height: var(--jp-widgets-inline-height, 28px); font-size: var(--jp-widgets-font-size, 13px);
  color: var(--jp-widgets-label-color, inherit); }
.nncourse-slider-label { display: flex; flex: 1 1 auto; align-items: center; gap: 6px; min-width: 0; }
.nncourse-slider-label > span { white-space: nowrap; }
.nncourse-slider input { flex: 1 1 auto; min-width: 60px; margin: 0; accent-color: var(--jp-brand-color1, #1976d2); }
.nncourse-slider output { min-width: 3.5em; font-variant-numeric: tabular-nums; }
"""

SCALES = ("linear", "log", "int")


class Slider(anywidget.AnyWidget):
    """A labelled slider (linear, logarithmic or whole numbers) that sends every move to the kernel at once.

    Like ipywidgets' FloatLogSlider, a "log" slider has `min`, `max` and `step` in powers of ten."""

    _esm, _css = ESM, CSS
    value = traitlets.Union([traitlets.Int(), traitlets.Float()], default_value=0.0).tag(sync=True, echo_update=False)
    min = traitlets.Float(0.0).tag(sync=True)
    max = traitlets.Float(1.0).tag(sync=True)
    step = traitlets.Float(0.1).tag(sync=True)
    scale = traitlets.Enum(SCALES, "linear").tag(sync=True)
    continuous_update = traitlets.Bool(True).tag(sync=True)
    paced = traitlets.Bool(False).tag(sync=True)  # one value in flight at a time (set by a live figure that trains)
    readout_format = traitlets.Unicode(".3g").tag(sync=True)  # ".3g": 3 significant digits; ".4f": 4 decimals
    description = traitlets.Unicode("")  # plain text with $...$ for symbols, shown as `label`
    label = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.on_msg(self._moved)

    @traitlets.observe("description")
    def _describe(self, change):
        self.label = math_html(change["new"])

    @traitlets.validate("value")
    def _in_range(self, proposal):
        value = proposal["value"]
        low, high = (10 ** self.min, 10 ** self.max) if self.scale == "log" else (self.min, self.max)
        value = min(max(value, low), high)
        return int(round(value)) if self.scale == "int" else float(value)

    def _moved(self, _widget, content, _buffers):
        """A move in the browser: take it as ipywidgets takes any state the page sends (and echo nothing)."""
        value = content.get("value") if isinstance(content, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.set_state({"value": value})


GREEK = re.compile(r"\\([A-Za-z]+)")
SUBSCRIPT = re.compile(r"_(\{[^}]*\}|\S)")
LETTER = re.compile(r"(?<![&#\w])([A-Za-z])(?![\w;])")


def math_html(text):
    """A description with $...$ symbols as HTML: letters in italics, `_1` as a subscript, `\\delta` as δ."""
    parts = text.split("$")
    return "".join(_symbols(part) if i % 2 else html.escape(part) for i, part in enumerate(parts))


def _symbols(math):
    math = GREEK.sub(lambda m: unicodedata.lookup(f"GREEK SMALL LETTER {m.group(1).upper()}"), html.escape(math))
    math = SUBSCRIPT.sub(lambda m: f"<sub>{m.group(1).strip('{}')}</sub>", math)
    return LETTER.sub(r"<i>\1</i>", math)
