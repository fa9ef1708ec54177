"""Drive JupyterLab in Debian's chromium with Playwright: a loopback server, a browser, lesson helpers.

Used by the browser tests (tests/browser/) and by `python -m benchmarks --browser`. Everything is
discovered from the repository: every `lessons/NN_topic/NN_topic.ipynb` present is covered.
"""
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM = os.environ.get("NNCOURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LESSON_NAME = re.compile(r"^\d\d_[a-z0-9_]+$")
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
TIMEOUT_MS = 60_000          # the longest any single wait may take
RUN_ALL_MS = 240_000         # ... except a Run All, which trains Keras models in three lessons (slow on a loaded machine)
STALL_S = 20                 # a cell marked busy while the kernel has been idle this long lost its reply
COMPLETED_SUFFIX = "_completed"

# Lab settings: JupyterLab's default windowing (every cell in the DOM, off-screen ones not rendered: read their
# text with textContent, which does not need rendering), no news pop-ups.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "contentVisibility"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}

# Recorded in the page before anything loads: input events (an "input" event is a control's value changing) and every
# drawImage onto a canvas (a live figure's view paints each frame the kernel sends with drawImage), with
# performance.now() timestamps.
PAGE_PROBES = """
(() => {
  window.__inputs = [];
  for (const kind of ['keydown', 'pointerdown', 'pointermove', 'input']) {
    window.addEventListener(kind, e => window.__inputs.push([kind, e.timeStamp]), true);
  }
  const draw = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    const canvas = this.canvas;
    (canvas.__draws = canvas.__draws || []).push(performance.now());
    return draw.apply(this, args);
  };
})();
"""


class StepFailed(AssertionError):
    """A browser step failed; the message names the step (and the screenshot, when one was taken)."""


def lesson_names(root=ROOT):
    """Every released lesson present: lessons/NN_topic/NN_topic.ipynb, in order."""
    lessons = root / "lessons"
    return sorted(p.name for p in lessons.iterdir() if LESSON_NAME.match(p.name) and (p / f"{p.name}.ipynb").exists()) \
        if lessons.is_dir() else []


def strip_markers(source):
    """A solution cell's source without the ### BEGIN/END SOLUTION lines."""
    return "\n".join(line for line in source.splitlines() if not MARKER.match(line))


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_sources(lesson, root=ROOT, kinds=("code",)):
    """grade_id -> solution (markers removed) for every solution cell of these kinds (code, markdown)."""
    nb = nbformat.read(root / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    return {nbgrader_meta(c)["grade_id"]: strip_markers(c.source) for c in nb.cells
            if c.cell_type in kinds and nbgrader_meta(c).get("solution")}


def completed_notebook(lesson, root=ROOT):
    """The released lesson with every exercise (code and written answers) filled in from the solution."""
    nb = nbformat.read(root / "lessons" / lesson / f"{lesson}.ipynb", as_version=4)
    solutions = solution_sources(lesson, root, kinds=("code", "markdown"))
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and grade_id in solutions:
            cell.source = solutions[grade_id]
    return nb


def allowed_to_fail(nb):
    """Indices (in nb.cells) of the cells allowed to raise NotImplementedError as released."""
    return {i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and (nbgrader_meta(c).get("solution") or nbgrader_meta(c).get("grade"))}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_available():
    return Path(CHROMIUM).exists() and _playwright_installed()


def _playwright_installed():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


class LabServer:
    """JupyterLab from the project venv on 127.0.0.1, a random port, a token, a temp copy of lessons/."""

    def __init__(self, lessons=None, root=ROOT):
        self.root = root
        self.lessons = lessons or lesson_names(root)
        self.tmp = Path(tempfile.mkdtemp(prefix="nncourse-browser-"))
        self.workdir = self.tmp / "lessons"
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.process = None
        self.log = self.tmp / "jupyter.log"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, lesson, completed=False):
        name = f"{lesson}{COMPLETED_SUFFIX if completed else ''}.ipynb"
        return f"{self.url}/lab/tree/{lesson}/{name}?reset&token={self.token}"

    def notebook_path(self, lesson, completed=False):
        return self.workdir / lesson / f"{lesson}{COMPLETED_SUFFIX if completed else ''}.ipynb"

    def prepare(self):
        """Copy lessons/ (plus a completed copy of each lesson) and write the lab settings."""
        shutil.copytree(self.root / "lessons", self.workdir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        for lesson in self.lessons:
            nbformat.write(completed_notebook(lesson, self.root), self.notebook_path(lesson, completed=True))
        settings = self.tmp / "settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        return settings

    def start(self, timeout=90):
        settings = self.prepare()
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(self.tmp / "ws"),
                   MPLBACKEND="module://ipympl.backend_nbagg", PYTHONWARNINGS="ignore")
        env.pop("JUPYTER_TOKEN", None)
        jupyter = Path(sys.prefix) / "bin" / "jupyter"
        if not jupyter.exists():
            jupyter = self.root / ".venv" / "bin" / "jupyter"
        command = [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
                   "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                   f"--ServerApp.root_dir={self.workdir}", "--ServerApp.open_browser=False",
                   "--LabApp.news_url="]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # containers and CI runners often run as root
        self.process = subprocess.Popen(command, cwd=self.workdir, env=env, stdout=self.log.open("wb"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StepFailed(f"start JupyterLab: the server exited ({self.process.returncode}); log:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)  # polling the server's own readiness endpoint, not a fixed wait on the page
        self.stop()
        raise StepFailed(f"start JupyterLab: not ready after {timeout} s; log:\n{self.log.read_text()[-3000:]}")

    def api(self, path, method="GET"):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self):
        """Delete every session (and so its kernel) on the server."""
        for session in self.api("/api/sessions") or []:
            self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@contextlib.contextmanager
def browser(headless=True):
    """Debian's chromium driven by Playwright, with a fresh user-data-dir."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="nncourse-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=headless, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000}, ignore_default_args=["--enable-automation"])
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(PAGE_PROBES)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def percentile(values, q):
    """The q-th percentile (0-100) by linear interpolation; None for no values."""
    values = sorted(values)
    if not values:
        return None
    k = (len(values) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


# ---------------------------------------------------------------------------------------------
# A lesson open in JupyterLab (a page object: every method waits on what the page shows)
# ---------------------------------------------------------------------------------------------
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
CELLS = PANEL + " .jp-Notebook .jp-Cell"
SETTLED = """(index) => {
  const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')]
      .map(c => c.querySelector('.jp-InputArea-prompt')).map(p => p ? p.textContent.trim() : null);
  const code = prompts.filter(p => p !== null);
  return code.length > 0 && !code.some(p => p.includes('*')) && /\\[\\d+\\]/.test(prompts[index] || '');
}"""
ERROR_NAME = re.compile(r"^(\w*(?:Error|Exception|Interrupt|Exit))\b", re.M)
SLIDER = ".nncourse-slider"
SLIDER_INFO = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .nncourse-slider')].map((s, i) => {
  const input = s.querySelector('input[type=range]');
  const box = s.closest('.widget-vbox');
  const figure = box ? box.querySelector('canvas.nncourse-frame') : null;
  const label = s.querySelector('.nncourse-slider-label'), symbols = label.querySelectorAll('i, sub');
  // a description's math symbols, when it has any ("slope $w$" -> "w"), name what the slider moves
  const math = [...symbols].map(e => e.textContent).join('');
  return {index: i, label: math || label.textContent.trim(),
          min: parseFloat(input.min), max: parseFloat(input.max), value: parseFloat(input.value), has_figure: !!figure,
          trains: s.dataset.paced === 'true'};  // paced: its widget retrains a network for each value
})"""
WEIGHT_LABEL = re.compile(r"^(w|W)\s*_?\{?\d*\}?$|^w\d|weight(?!decay)|^b$|^bias", re.I)
RATE_LABEL = re.compile(r"learning\s*rate|^lr\b|^η|^eta\b|step size", re.I)


class LessonPage:
    """One notebook open in JupyterLab; `step` names each action so a failure says where it happened."""

    def __init__(self, context, server, lesson, completed=False, tag=None):
        self.server, self.lesson, self.completed = server, lesson, completed
        self.nb = nbformat.read(server.notebook_path(lesson, completed), as_version=4)
        self.tag = tag or ("completed" if completed else "released")
        self.page = context.new_page()
        self.shots = []
        self.current = "open"
        self.stalls = 0  # Run All rounds resumed after a lost reply (printed by the test when nonzero)

    # -- bookkeeping -------------------------------------------------------------------------
    @contextlib.contextmanager
    def step(self, name):
        """Run one named step; on any failure take a screenshot and raise StepFailed naming the step."""
        self.current = name
        try:
            yield
        except StepFailed:
            raise
        except Exception as error:  # Playwright timeouts, assertion errors, ...
            shot = self.screenshot(f"FAILED-{name}")
            raise StepFailed(f"[{self.lesson} / {self.tag}] step '{name}' failed: {type(error).__name__}: "
                             f"{str(error).strip()[:1500]}\n  screenshot: {shot}") from error

    def screenshot(self, name, full_page=True):
        SCREENSHOTS.mkdir(exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
        path = SCREENSHOTS / f"{self.lesson}_{self.tag}_{len(self.shots) + 1:02d}_{safe}.png"
        try:
            self.page.screenshot(path=str(path), full_page=full_page)
        except Exception:  # a screenshot must never hide the real failure
            return None
        self.shots.append(path)
        return path

    # -- navigation ----------------------------------------------------------------------------
    def open(self):
        with self.step("open the notebook"):
            self.page.goto(self.server.notebook_url(self.lesson, self.completed))
            self.page.wait_for_selector(CELLS)
            self.page.wait_for_function(f"() => document.querySelectorAll('{CELLS}').length === {len(self.nb.cells)}")
            self.page.wait_for_selector(PANEL + " .jp-Notebook-ExecutionIndicator[data-status='idle']")
            self.wait_kernel_ready()
        return self

    def kernel(self):
        """The server's record of this notebook's kernel (execution_state, connections), or None."""
        for session in self.server.api("/api/sessions") or []:
            if session.get("path", "").endswith(self.server.notebook_path(self.lesson, self.completed).name):
                return session.get("kernel")
        return None

    def wait_kernel_ready(self, timeout=TIMEOUT_MS / 1000):
        """Wait until the server says the kernel is idle with the page connected (the indicator can be early)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kernel = self.kernel()
            if kernel and kernel.get("execution_state") == "idle" and kernel.get("connections", 0) >= 1:
                return kernel
            time.sleep(0.2)  # polling the server's kernel record, not a fixed wait on the page
        raise AssertionError(f"the kernel is not ready after {timeout:.0f} s: {self.kernel()}")

    def close(self):
        """Close the tab and shut its kernel down (two cores are shared; idle kernels add up)."""
        try:
            self.page.close()
        finally:
            self.server.shutdown_kernels()

    def menu(self, top, item):
        self.page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
        self.page.locator(f".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('{item}'))").click()

    def cell(self, index):
        return self.page.locator(CELLS).nth(index)

    def prompts(self):
        return self.page.evaluate("""() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')]
            .map(c => c.querySelector('.jp-InputArea-prompt')).map(p => p ? p.textContent.trim() : null)""")

    def wait_settled(self, index, timeout=TIMEOUT_MS):
        """Wait until no cell is queued or running and cell `index` shows an execution count."""
        self.page.wait_for_function(SETTLED, arg=index, timeout=timeout)

    def wait_run(self, index, timeout=RUN_ALL_MS):
        """Wait until a run from cell `index` settles; False when the kernel sat idle while a cell kept its
        busy mark for STALL_S (the page missed a reply, as a websocket reconnect under load can cause)."""
        deadline, idle_since = time.monotonic() + timeout / 1000, None
        while time.monotonic() < deadline:
            if self.page.evaluate(SETTLED, index):
                return True
            kernel = self.kernel() or {}
            if kernel.get("execution_state") == "idle":
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > STALL_S:
                    return False
            else:
                idle_since = None
            time.sleep(0.5)  # polling the page and the server's kernel record
        raise AssertionError(f"cells still running after {timeout / 1000:.0f} s; prompts: {self.prompts()}")

    def select(self, index):
        """Select a cell in command mode by clicking its prompt area."""
        self.cell(index).locator(".jp-InputArea-prompt").click()

    def run_all(self):
        """Run > Run All Cells; then keep going past every stopped cell (Run Selected Cell and All Below)."""
        code = [i for i, c in enumerate(self.nb.cells) if c.cell_type == "code"]
        with self.step("Run All"):
            started = time.perf_counter()
            self.menu("Run", "Run All Cells")
            self.wait_run(code[0])
            rounds = 0
            while True:
                prompts = self.prompts()
                pending = [i for i in code if not re.search(r"\[\d+\]", prompts[i] or "")]
                if not pending:
                    break
                rounds += 1
                if rounds > len(code):
                    raise AssertionError(f"cells {pending} never ran")
                if any("*" in (prompts[i] or "") for i in code):
                    self.stalls += 1  # a reply the page never saw: interrupt, then carry on from the stuck cell
                    self.menu("Kernel", "Interrupt Kernel")
                self.select(pending[0])
                self.menu("Run", "Run Selected Cell and All Below")
                self.wait_run(pending[0])
            self.run_all_seconds = time.perf_counter() - started
        return self.run_all_seconds

    # -- typing and running single cells -----------------------------------------------------
    def exercise_cells(self, grade_id):
        """(index of the exercise cell, indices of the test cells that check it) in the notebook."""
        cells = self.nb.cells
        target = next(i for i, c in enumerate(cells) if nbgrader_meta(c).get("grade_id") == grade_id)
        tests = []
        for i in range(target + 1, len(cells)):
            meta = nbgrader_meta(cells[i])
            if meta.get("solution"):
                break
            if meta.get("grade") and cells[i].cell_type == "code":
                tests.append(i)
        if not tests:
            raise StepFailed(f"[{self.lesson}] exercise '{grade_id}' has no test cell after it")
        return target, tests

    def type_into(self, index, source):
        """Replace a code cell's text by typing into its editor (select all, then insert the text)."""
        editor = self.cell(index).locator(".cm-content")
        editor.scroll_into_view_if_needed()
        editor.click()
        self.page.keyboard.press("Control+a")
        self.page.keyboard.insert_text(source)
        first = next((line.strip() for line in source.splitlines() if line.strip()), "")
        self.page.wait_for_function("([c, t]) => c.innerText.includes(t)", arg=[editor.element_handle(), first[:40]])
        self.page.keyboard.press("Escape")

    def run_range(self, start, stop):
        """Run cells start..stop with Shift+Enter, as a student would; wait until the last one has run."""
        code = [i for i in range(start, stop + 1) if self.nb.cells[i].cell_type == "code"]
        before = self.prompts()
        self.select(start)
        for _ in range(start, stop + 1):
            self.page.keyboard.press("Shift+Enter")
        self.page.wait_for_function("""([index, old]) => {
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')]
                .map(c => c.querySelector('.jp-InputArea-prompt')).map(p => p ? p.textContent.trim() : '');
            return !prompts.some(p => p.includes('*')) && /\\[\\d+\\]/.test(prompts[index]) && prompts[index] !== old;
        }""", arg=[code[-1], before[code[-1]]])

    def wait_for_text(self, indices, text):
        """Wait until one of these cells shows `text` in an error/stderr output."""
        self.page.wait_for_function("""([indices, text]) => {
            const cells = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')];
            return indices.some(i => [...cells[i].querySelectorAll("[data-mime-type='application/vnd.jupyter.stderr']")]
                .some(o => o.textContent.includes(text)));
        }""", arg=[list(indices), text])

    # -- reading what the page shows -------------------------------------------------------------
    def shown_errors(self):
        """[(cell index, exception name, first lines)] for every error/stderr output on the page."""
        found = self.page.evaluate("""() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')].flatMap((c, i) =>
            [...c.querySelectorAll("[data-mime-type='application/vnd.jupyter.stderr']")].map(o => [i, o.textContent]))""")
        errors = []
        for index, text in found:
            match = ERROR_NAME.search(text)
            errors.append((index, match.group(1) if match else "stderr", text.strip()[:600]))
        return errors

    def widget_status_errors(self):
        """Widget status lines that report a crash (anything but 'Implement X above')."""
        texts = self.page.locator(PANEL + " .jp-Notebook .widget-html").all_text_contents()
        return [t for t in texts if " raised " in t]

    def unexpected_errors(self, allowed=()):
        """Shown errors except NotImplementedError in the cells allowed to be unfinished."""
        return [(i, name, text) for i, name, text in self.shown_errors()
                if not (name == "NotImplementedError" and i in allowed)]

    # -- sliders and live figures --------------------------------------------------------------
    def sliders(self):
        return self.page.evaluate(SLIDER_INFO)

    def find_slider(self, kind):
        """The first slider with a figure whose label reads as a weight ('w1', 'b', ...) or a learning rate."""
        import unicodedata
        pattern = WEIGHT_LABEL if kind == "weight" else RATE_LABEL
        for info in self.sliders():
            label = re.sub(r"\s+", "", unicodedata.normalize("NFKC", info["label"])) if kind == "weight" \
                else unicodedata.normalize("NFKC", info["label"])
            if info["has_figure"] and pattern.search(label):
                return dict(info, label=label)
        return None

    def slider_parts(self, index):
        slider = self.page.locator(f"{PANEL} .jp-Notebook {SLIDER}").nth(index)
        canvas = slider.locator("xpath=ancestor::div[contains(@class,'widget-vbox')][1]").locator("canvas.nncourse-frame").first
        return slider, slider.locator("input[type=range]"), canvas

    def draws(self, canvas):
        return canvas.evaluate("c => (c.__draws || []).length")

    def now(self):
        return self.page.evaluate("performance.now()")

    def wait_repaint(self, canvas, before, since):
        """Wait for the canvas's next paint; return ms from the first value change after `since` to it (the first
        input event, if no value changed: a pointer that has not yet moved the thumb has nothing to repaint)."""
        self.page.wait_for_function("([c, n]) => (c.__draws || []).length > n", arg=[canvas.element_handle(), before])
        return canvas.evaluate("""(c, [n, since]) => {
            const paint = c.__draws[n];
            const first = window.__inputs.find(e => e[0] === 'input' && e[1] >= since)
                || window.__inputs.find(e => e[1] >= since);
            return paint - (first ? first[1] : since);
        }""", [before, since])

    def drag(self, index, fraction=0.25):
        """Drag a slider handle with the mouse by `fraction` of the track; return input-to-repaint ms."""
        slider, handle, canvas = self.slider_parts(index)
        handle.hover()  # scrolls into view and waits until stable
        track = handle.bounding_box()
        at = handle.evaluate("i => (i.value - i.min) / (i.max - i.min)")  # where the thumb sits along the track
        x, y = track["x"] + 8 + at * (track["width"] - 16), track["y"] + track["height"] / 2  # the thumb is ~16 px wide
        direction = 1 if at < 0.5 else -1
        shown = self.shown_value(slider)
        before, since = self.draws(canvas), self.now()
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        self.page.mouse.move(x + direction * fraction * track["width"], y, steps=8)
        self.page.mouse.up()
        self.wait_value_change(slider, shown)
        return self.wait_repaint(canvas, before, since)

    def shown_value(self, slider):
        """What the slider shows: its handle's aria value and its readout text."""
        return slider.evaluate("s => [s.querySelector('input').value, s.querySelector('output').textContent]")

    def wait_value_change(self, slider, shown):
        self.page.wait_for_function("""([s, old]) => {
            const now = [s.querySelector('input').value, s.querySelector('output').textContent];
            return now[0] !== old[0] || now[1] !== old[1];
        }""", arg=[slider.element_handle(), shown])

    def press(self, index, key=None):
        """Focus a slider handle and press an arrow key (away from the nearer end); return input-to-repaint ms."""
        slider, handle, canvas = self.slider_parts(index)
        handle.scroll_into_view_if_needed()
        handle.focus()
        value, low, high, step = map(float, handle.evaluate("i => [i.value, i.min, i.max, i.step]"))
        if key is None:  # one direction per slider, so repeated presses do not cancel each other out ...
            directions = self.__dict__.setdefault("key_directions", {})
            key = directions.setdefault(index, "ArrowRight" if value < (low + high) / 2 else "ArrowLeft")
            if value + step > high + 1e-9 or value - step < low - 1e-9:  # ... until it reaches an end
                key = directions[index] = "ArrowLeft" if value + step > high + 1e-9 else "ArrowRight"
        shown = self.shown_value(slider)
        before, since = self.draws(canvas), self.now()
        self.page.keyboard.press(key)
        self.wait_value_change(slider, shown)
        return self.wait_repaint(canvas, before, since)

    def sweep(self, index, seconds=1.5, hz=60, sweeps=3):
        """Sweep a slider across its track as a dragging hand does, with a new position every 1/`hz` s for `seconds`
        (set in the page, with the events the range control fires); after the figure settles return (paints per
        second during the sweep, ms from the last input to the last paint)."""
        slider, handle, canvas = self.slider_parts(index)
        handle.scroll_into_view_if_needed()
        window = handle.evaluate("""async (input, [seconds, hz, sweeps]) => {
            // what the range control does while dragged: take each new position, fire "input" (and "change" at the end)
            const low = parseFloat(input.min), high = parseFloat(input.max);
            const seen = new Set([input.value]);
            const start = performance.now(), n = Math.round(seconds * hz);
            let last = 0;
            for (let i = 1; i <= n; i++) {
                await new Promise(r => setTimeout(r, Math.max(0, start + i * 1000 / hz - performance.now())));
                const phase = i / n * sweeps, part = phase % 1;
                const along = Math.floor(phase) % 2 === 0 ? 0.1 + 0.8 * part : 0.9 - 0.8 * part;
                input.value = low + along * (high - low);
                input.dispatchEvent(new Event('input', {bubbles: true}));
                last = performance.now();
                seen.add(input.value);
            }
            input.dispatchEvent(new Event('change', {bubbles: true}));
            return [start, last, seen.size];
        }""", [seconds, hz, sweeps])
        if window[2] < 3:
            raise AssertionError(f"the sweep moved the slider through {window[2]} values only")
        self.settle(index)
        draws = canvas.evaluate("c => c.__draws || []")
        start, last = window[:2]
        during = [t for t in draws if start <= t <= last]
        final = draws[-1] if draws and draws[-1] >= start else None
        return len(during) / ((last - start) / 1000), (final - last) if final is not None else None

    def settle_canvas(self, index):
        """Wait until the figure has stopped repainting (15 animation frames in a row without a new paint)."""
        canvas = self.slider_parts(index)[2]
        canvas.evaluate("""c => new Promise(done => {
            let n = (c.__draws || []).length, quiet = 0;
            const check = () => requestAnimationFrame(() => {
                const m = (c.__draws || []).length;
                quiet = m === n ? quiet + 1 : 0;
                n = m;
                if (quiet >= 15) done(); else check();
            });
            check();
        })""")

    def settle(self, index, quiet_s=1.5):
        """Wait until the kernel is idle and the figure has not repainted for quiet_s (a coalesced render runs
        after the kernel reports idle, so both are needed)."""
        canvas = self.slider_parts(index)[2]
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            self.wait_kernel_idle(quiet_s=0.2)
            before = self.draws(canvas)
            time.sleep(quiet_s)  # a quiet period is what is being checked here, not a guess at a duration
            if self.draws(canvas) == before and (self.kernel() or {}).get("execution_state") == "idle":
                return
        raise AssertionError(f"the figure kept repainting for {TIMEOUT_MS / 1000:.0f} s")

    def wait_kernel_idle(self, quiet_s=1.0, timeout=TIMEOUT_MS / 1000):
        """Wait until the server has seen the kernel idle for quiet_s in a row (all slider messages handled)."""
        deadline, since = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            if (self.kernel() or {}).get("execution_state") == "idle":
                since = since or time.monotonic()
                if time.monotonic() - since >= quiet_s:
                    return
            else:
                since = None
            time.sleep(0.1)  # polling the server's kernel record
        raise AssertionError(f"the kernel stayed busy for {timeout:.0f} s after the slider stopped")

    def canvas_png(self, index):
        """The figure's canvas pixels as a PNG data URL (read from the canvas itself, in or out of view)."""
        return self.slider_parts(index)[2].evaluate("c => c.toDataURL('image/png')")


def same_picture(first, second, tolerance=0.002):
    """True when two PNG data URLs differ in at most `tolerance` of their pixels (antialiasing may differ when one
    frame was blitted and the other drawn whole)."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    a, b = (np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"), dtype=int)
            for url in (first, second))
    return a.shape == b.shape and (np.abs(a - b).max(axis=-1) > 8).mean() <= tolerance


# ---------------------------------------------------------------------------------------------
# The exercise each lesson's browser test types in: a correct and a wrong answer, and the feedback
# ---------------------------------------------------------------------------------------------
# Preferred choices; lessons without an entry get one picked from their validity tests (below).
PREFERRED = {
    "01_neuron": ("neuron",
                  "def neuron(x, w, b, activation=step):\n    return activation(np.dot(x, w))\n",
                  "the bias is missing"),
}


def source_of(variant):
    """Source of a registered wrong variant (cell source, or a function's text without decorators)."""
    import inspect
    import textwrap
    if isinstance(variant, str):
        return variant
    if callable(variant):
        lines = textwrap.dedent(inspect.getsource(variant)).splitlines()
        return "\n".join(line for line in lines if not line.startswith("@")) + "\n"
    return "\n".join(f"{name} = {value!r}" for name, value in variant.items()) + "\n"


def feedback_line(error):
    """The most specific line of a feedback message: its hint when there is one, else its first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    hints = [line.split(":", 1)[1].strip() for line in lines if line.startswith("hint:")]
    return hints[0] if hints else (lines[0] if lines else "")


def exercise_plan(lesson, root=ROOT):
    """(grade_id, correct source, wrong source, expected feedback text), checked in-process first.

    The wrong answer and its message come from PREFERRED or from the lesson's registered wrong
    variants (tests/test_validity_<lesson>.py) that, typed into the notebook as text, fail with a hint.
    """
    import importlib
    from tests.validity import Exercises
    solutions = solution_sources(lesson, root)
    try:
        module = importlib.import_module(f"tests.test_validity_{lesson}")
        ex = next(v for v in vars(module).values() if isinstance(v, Exercises))
    except (ImportError, StopIteration):
        ex = Exercises(lesson)
    candidates = []
    if lesson in PREFERRED:
        candidates.append(PREFERRED[lesson])
    for (grade_id, kind), variants in ex.variants.items():
        if kind == "wrong" and grade_id in solutions and "def " in solutions[grade_id]:
            candidates += [(grade_id, source_of(v), None) for v in variants.values()]
    for grade_id, wrong, expected in candidates:
        try:
            error = ex.outcome(grade_id, wrong)
        except Exception:  # noqa: BLE001 - a candidate that cannot even be tried is skipped
            continue
        if isinstance(error, AssertionError) and (expected is None or expected in str(error)):
            return grade_id, solutions[grade_id], wrong, expected or feedback_line(error)
    return None
