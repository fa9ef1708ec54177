"""The course's slider: a move from the page reaches the kernel as a message, is kept in range, and is not echoed."""
import pytest

from nncourse.controls import Slider, math_html
from nncourse.live import slider


def sent_by(widget):
    """Record the methods of the messages the widget sends to the page."""
    sent = []
    widget._send = lambda msg, buffers=None: sent.append((msg["method"], msg.get("state")))
    return sent


def move(widget, value):
    """What the page sends when the range control moves: a custom message with the new value."""
    widget._handle_msg({"content": {"data": {"method": "custom", "content": {"value": value}}}, "buffers": []})


def test_a_move_from_the_page_sets_the_value_notifies_and_is_not_echoed():
    control = slider("weight $w$", 1.0, -3, 3)
    seen, sent = [], sent_by(control)
    control.observe(lambda change: seen.append(change["new"]), names="value")
    move(control, 0.5)
    move(control, -2.5)
    assert control.value == -2.5 and seen == [0.5, -2.5] and sent == []


def test_a_move_outside_the_range_is_clamped_and_the_page_is_told():
    control = slider("b", 0.0, -4, 4)
    sent = sent_by(control)
    move(control, 9.0)
    assert control.value == 4.0 and sent == [("update", {"value": 4.0})]


def test_a_value_set_in_the_kernel_reaches_the_page():
    control = slider("b", 0.0, -4, 4)
    sent = sent_by(control)
    control.value = 1.5
    assert sent == [("update", {"value": 1.5})]


def test_a_log_slider_has_its_range_in_powers_of_ten_and_sends_the_value_itself():
    control = slider("learning rate", 0.1, -3, 0, step=0.05, log=True)
    assert (control.min, control.max, control.scale) == (-3, 0, "log")
    move(control, 0.02)
    assert control.value == pytest.approx(0.02)
    move(control, 50.0)
    assert control.value == pytest.approx(1.0)


def test_a_whole_number_slider_keeps_whole_numbers():
    control = slider("epochs", 5, 0, 30, integer=True)
    move(control, 7.4)
    assert control.value == 7 and isinstance(control.value, int) and control.step == 1


@pytest.mark.parametrize("junk", ["3", True, None, [1.0]])
def test_a_malformed_move_changes_nothing(junk):
    control = slider("w", 1.0, -3, 3)
    sent = sent_by(control)
    move(control, junk)
    assert control.value == 1.0 and sent == []


def test_released_only_sliders_say_so_to_the_page():
    assert slider("hidden units", 8, 1, 32, integer=True, continuous=False).continuous_update is False
    assert slider("w", 0.0, -1, 1).continuous_update is True


def test_the_readout_format_is_set_when_the_slider_is_built():
    assert slider("β2", 0.999, 0.5, 0.9999, step=0.0001, readout=".4f").readout_format == ".4f"
    assert slider("w", 0.0, -1, 1).readout_format == ".3g"


@pytest.mark.parametrize("text, shown", [
    ("$w_1$", "<i>w</i><sub>1</sub>"),
    ("weight $w$", "weight <i>w</i>"),
    (r"$\delta$", "δ"),
    ("$z_{3}$", "<i>z</i><sub>3</sub>"),
    ("start $w = b$", "start <i>w</i> = <i>b</i>"),
    ("β1 (Adam) & <b>", "β1 (Adam) &amp; &lt;b&gt;"),
])
def test_descriptions_show_symbols_as_html_and_escape_the_rest(text, shown):
    assert math_html(text) == shown
    assert Slider(description=text).label == shown


def test_a_widget_that_trains_paces_its_sliders_and_a_drawing_widget_does_not():
    from nncourse.architecture_widgets import gan_lab
    from nncourse.backprop_widgets import computation_graph
    trainer, drawing = gan_lab(num_steps=100), computation_graph()
    assert [c.paced for c in trainer.controls.values() if isinstance(c, Slider)] == [True, True]
    assert [c.paced for c in drawing.controls.values() if isinstance(c, Slider)] == [False] * 3
