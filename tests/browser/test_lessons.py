"""The student's journey in a real browser, for every lesson present in lessons/.

Each test opens a notebook in JupyterLab (chromium, driven by Playwright), acts like a student and
checks what the page shows. Screenshots of every step land in screenshots/ (gitignored); a failure
names the lesson and the step and points at the screenshot taken at that moment.
"""
import pytest

from tests.browser import harness
from tests.browser.conftest import LATENCIES, SWEEPS

pytestmark = pytest.mark.browser
LESSONS = harness.lesson_names()
KEY_PRESSES = 10



def fail(page, message):
    shot = page.screenshot(f"FAILED-{page.current}")
    pytest.fail(f"[{page.lesson} / {page.tag}] step '{page.current}': {message}\n  screenshot: {shot}", pytrace=False)


@pytest.mark.parametrize("lesson", LESSONS)
def test_run_all_released(open_lesson, lesson):
    """Run All on the released lesson: only unfinished exercises and their tests may show an error."""
    page = open_lesson(lesson)
    page.screenshot("opened")
    page.run_all()
    page.screenshot("after-run-all")
    with page.step("check errors shown after Run All"):
        unexpected = page.unexpected_errors(harness.allowed_to_fail(page.nb))
        crashed = page.widget_status_errors()
    if unexpected or crashed:
        fail(page, "unexpected errors:\n" + "\n".join(f"  cell {i}: {name}: {text[:300]}" for i, name, text in unexpected)
             + "".join(f"\n  widget status: {t}" for t in crashed))


@pytest.mark.parametrize("lesson", LESSONS)
def test_sliders_repaint(open_lesson, lesson):
    """On the completed lesson, drag and key-press a weight and a learning-rate slider: the plot changes; after a fast
    60 Hz sweep of a weight slider the plot shows the final value."""
    page = open_lesson(lesson, completed=True)
    page.run_all()
    with page.step("check the completed lesson runs without errors"):
        errors = page.unexpected_errors() + [(None, "widget", t) for t in page.widget_status_errors()]
    if errors:
        fail(page, "errors in the completed lesson: " + "; ".join(f"cell {i}: {n}: {t[:200]}" for i, n, t in errors))
    times = LATENCIES.setdefault(lesson, {"mouse": [], "keyboard": []})
    found = {kind: page.find_slider(kind) for kind in ("weight", "rate")}
    if not any(found.values()):
        pytest.skip(f"{lesson} has no weight or learning-rate slider with a live figure")
    for kind, info in found.items():
        if info is None:
            continue
        index, label = info["index"], info["label"]
        with page.step(f"drag the {kind} slider '{label}' with the mouse"):
            page.settle_canvas(index)
            before = page.canvas_png(index)
            times["mouse"].append(page.drag(index))
            page.settle_canvas(index)
            after = page.canvas_png(index)
        page.screenshot(f"{kind}-slider-dragged")
        if before == after:
            fail(page, f"the figure did not change after dragging '{label}'")
        with page.step(f"move the {kind} slider '{label}' with the keyboard"):
            for _ in range(KEY_PRESSES):
                times["keyboard"].append(page.press(index))
            page.settle_canvas(index)
            pressed = page.canvas_png(index)
        page.screenshot(f"{kind}-slider-keys")
        if pressed == after:
            fail(page, f"the figure did not change after pressing arrow keys on '{label}'")
        with page.step(f"sweep the {kind} slider '{label}' fast at 60 Hz"):
            rate, lag = page.sweep(index)
        SWEEPS.setdefault(lesson, []).append({"kind": kind, "trains": info["trains"], "paints_per_s": rate, "lag_ms": lag})
        if kind == "rate":  # a learning-rate slider retrains: a step back may land on a neighbouring float, another run
            continue
        with page.step(f"step the {kind} slider '{label}' one notch away and back"):
            swept = page.canvas_png(index)
            page.press(index)
            page.press(index, "ArrowLeft" if page.key_directions[index] == "ArrowRight" else "ArrowRight")
            page.settle(index)
            back = page.canvas_png(index)
        if not harness.same_picture(swept, back):
            fail(page, f"after a fast sweep of '{label}' the figure does not show the slider's final value "
                       "(stepping away and back changed it)")
    missing = [kind for kind, info in found.items() if info is None]
    if missing:
        pytest.skip(f"{lesson}: no {' or '.join(missing)} slider (tested: {[k for k in found if found[k]]})")


def test_play_trains_the_playground_to_the_last_epoch(open_lesson):
    """Lesson 05's Play button moves the epochs slider in the page (a jslink, no kernel round trip); the kernel trains
    along, repaints, and ends trained to the last epoch."""
    if "05_backprop" not in LESSONS:
        pytest.skip("lesson 05 is not in lessons/")
    page = open_lesson("05_backprop", completed=True, tag="play")
    page.run_all()
    sliders = page.sliders()
    index = next((s["index"] for s in sliders if s["label"] == "epochs" and s["has_figure"]), None)
    if index is None:
        fail(page, "the playground's epochs slider is missing")
    graph = next((s for s in sliders if s["label"] == "weight w" and s["has_figure"]), None)  # the computation graph's
    if not sliders[index]["trains"] or graph is None or graph["trains"]:
        fail(page, "the page should mark the playground's sliders paced (it retrains) and the graph's not: "
                   f"{sliders[index]}, {graph}")
    slider, _, canvas = page.slider_parts(index)
    box = slider.locator("xpath=ancestor::div[contains(@class,'widget-vbox')][1]")
    with page.step("press Play and wait for the last epoch"):
        page.settle_canvas(index)
        before, high = page.draws(canvas), int(slider.locator("input").get_attribute("max"))
        box.locator(".widget-play button").first.click()
        page.page.wait_for_function("([s, high]) => Number(s.querySelector('output').textContent) === high",
                                    arg=[slider.element_handle(), high])
        page.settle(index)
        trained = box.locator(".widget-hprogress .progress-bar").first.evaluate("b => b.style.width")
    page.screenshot("played")
    if page.draws(canvas) - before < 2:
        fail(page, "the figure did not repaint while Play advanced the epochs")
    if trained != "100%":
        fail(page, f"after Play reached epoch {high} the 'trained' bar shows {trained}, not 100%")


@pytest.mark.parametrize("lesson", LESSONS)
def test_exercise_feedback(open_lesson, lesson):
    """Type a correct answer (its test passes), then a typical wrong one (the specific hint appears)."""
    plan = harness.exercise_plan(lesson)
    if plan is None:
        pytest.skip(f"{lesson}: no function exercise with a registered wrong variant that fails with feedback")
    grade_id, correct, wrong, expected = plan
    page = open_lesson(lesson, tag="exercise")
    page.run_all()
    target, tests = page.exercise_cells(grade_id)
    with page.step(f"type solutions up to '{grade_id}'"):
        solutions = harness.solution_sources(lesson)
        for index, cell in enumerate(page.nb.cells[:target + 1]):
            cell_id = harness.nbgrader_meta(cell).get("grade_id")
            if cell.cell_type == "code" and harness.nbgrader_meta(cell).get("solution") and cell_id in solutions:
                page.type_into(index, correct if index == target else solutions[cell_id])
    page.screenshot("typed-correct")
    with page.step(f"run '{grade_id}' and its visible test"):
        page.run_range(0, tests[-1])
        errors = [e for e in page.shown_errors() if e[0] <= tests[-1]]
    page.screenshot("correct-passes")
    if errors:
        fail(page, f"the correct answer to '{grade_id}' did not pass: " + "; ".join(f"cell {i}: {t[:300]}" for i, _, t in errors))
    with page.step(f"type a wrong '{grade_id}' and run its test"):
        page.type_into(target, wrong)
        page.run_range(target, tests[-1])
        page.wait_for_text(tests, expected)
    page.screenshot("wrong-shows-feedback")


@pytest.mark.parametrize("lesson", LESSONS)
def test_validate_completed(open_lesson, lesson):
    """nbgrader's Validate toolbar button reports success on a completed copy of the lesson."""
    page = open_lesson(lesson, completed=True, tag="validate")
    with page.step("click Validate and wait for the result"):
        page.page.locator(".validate-button").click()
        dialog = page.page.locator(".nbgrader-SuccessDialog, .nbgrader-ErrorDialog").first
        dialog.wait_for(timeout=180_000)
        text = dialog.inner_text()
    page.screenshot("validate-result")
    if "Success! Your notebook passes all the tests." not in text:
        fail(page, f"Validate did not report success:\n{text[:1500]}")
