"""Lesson 04 math: every loss and its gradient, in nncourse.reference and in the solution notebook, checked
against central finite differences and against JAX (log_softmax, autodiff) as an independent oracle."""
import re

import nbformat
import numpy as np
import pytest

from nncourse import data, loss_widgets, reference
from tests.validity import ROOT, grade_id, is_solution

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")
jnp = jax.numpy

LOSSES = ("mse", "binary_cross_entropy", "categorical_cross_entropy", "cross_entropy_from_logits", "accuracy")


def solution_functions():
    """The lesson's graded functions as the solution notebook defines them (solution cells only)."""
    nb = nbformat.read(ROOT / "solutions" / "04_losses" / "04_losses.ipynb", as_version=4)
    namespace = {"np": np}
    for cell in nb.cells:
        if is_solution(cell) and grade_id(cell) in LOSSES:
            exec(compile(cell.source, f"<solution {grade_id(cell)}>", "exec"), namespace)
    return {name: namespace[name] for name in LOSSES}


SOLUTION = solution_functions()
IMPLEMENTATIONS = {"reference": {name: getattr(reference, name) for name in LOSSES}, "solution": SOLUTION}


def numeric_gradient(f, x, h=1e-6):
    """Central finite differences of the scalar function f at the array x."""
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        grad[index] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


# --- JAX oracles, written independently of the NumPy code ----------------------------------------
def jax_mse(y, y_hat):
    return jnp.mean((y_hat - y) ** 2)


def jax_bce(y, p):
    return -jnp.mean(jnp.where(y == 1, jnp.log(p), jnp.log1p(-p)))


def jax_ce_logits(one_hot, logits):
    return -jnp.mean(jnp.sum(one_hot * jax.nn.log_softmax(logits, axis=1), axis=1))


def jax_cce(one_hot, probs):
    return -jnp.mean(jnp.sum(one_hot * jnp.log(probs), axis=1))


rng = np.random.default_rng(4040)
Y_REG, Y_HAT_REG = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
Y_BIN, P_BIN = rng.integers(0, 2, size=9).astype(float), rng.uniform(0.05, 0.95, size=9)
LABELS, LOGITS = rng.integers(0, 4, size=5), rng.normal(size=(5, 4)) * 2
ONE_HOT = np.eye(4)[LABELS]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_loss_values_match_jax(impl):
    f = IMPLEMENTATIONS[impl]
    assert f["mse"](Y_REG, Y_HAT_REG) == pytest.approx(float(jax_mse(Y_REG, Y_HAT_REG)), rel=1e-12)
    assert f["binary_cross_entropy"](Y_BIN, P_BIN) == pytest.approx(float(jax_bce(Y_BIN, P_BIN)), rel=1e-10)
    probs = np.asarray(jax.nn.softmax(LOGITS, axis=1))
    for labels in (LABELS, ONE_HOT):
        assert f["categorical_cross_entropy"](labels, probs) == pytest.approx(float(jax_cce(ONE_HOT, probs)), rel=1e-10)
        assert f["cross_entropy_from_logits"](labels, LOGITS) == pytest.approx(float(jax_ce_logits(ONE_HOT, LOGITS)), rel=1e-12)
    expected = float(np.mean(LOGITS.argmax(1) == LABELS))
    assert f["accuracy"](LABELS, LOGITS.argmax(1)) == pytest.approx(expected)
    if impl == "solution":  # the lesson's accuracy also takes scores and one-hot labels (reference: labels only)
        assert f["accuracy"](ONE_HOT, LOGITS) == pytest.approx(expected)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_cross_entropy_from_logits_is_exact_for_extreme_logits(impl):
    f = IMPLEMENTATIONS[impl]["cross_entropy_from_logits"]
    logits = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0]])
    with np.errstate(all="raise", under="ignore"):
        got = f(np.array([2, 2]), logits)
    assert got == pytest.approx(float(jax_ce_logits(np.eye(3)[[2, 2]], logits)), rel=1e-12)
    assert got == pytest.approx((2000.0 + 1000.0) / 2)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_losses_are_finite_and_silent_at_the_edges(impl):
    f = IMPLEMENTATIONS[impl]
    with np.errstate(all="raise", under="ignore"):
        assert f["binary_cross_entropy"]([1.0, 0.0], [1.0, 0.0]) == pytest.approx(0.0, abs=1e-9)
        assert 25 < f["binary_cross_entropy"]([1.0], [0.0]) < 40
        assert f["categorical_cross_entropy"]([0], [[1.0, 0.0, 0.0]]) == pytest.approx(0.0, abs=1e-9)
        assert 25 < f["categorical_cross_entropy"]([1], [[1.0, 0.0]]) < 40
        assert f["mse"]([3.0], [3.0]) == 0.0


def test_from_logits_matches_probability_version_of_the_solution():
    probs = reference.softmax(LOGITS)
    assert SOLUTION["cross_entropy_from_logits"](LABELS, LOGITS) == pytest.approx(
        SOLUTION["categorical_cross_entropy"](LABELS, probs), rel=1e-10)


# --- gradients: analytic formulas vs finite differences of the implementations vs jax.grad ----------
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mse_gradient(impl):
    mse = IMPLEMENTATIONS[impl]["mse"]
    analytic = 2 * (Y_HAT_REG - Y_REG) / Y_REG.size
    np.testing.assert_allclose(numeric_gradient(lambda v: mse(Y_REG, v), Y_HAT_REG), analytic, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(jax.grad(jax_mse, argnums=1)(Y_REG, Y_HAT_REG), analytic, rtol=1e-12)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bce_gradient_wrt_probability(impl):
    bce = IMPLEMENTATIONS[impl]["binary_cross_entropy"]
    analytic = (P_BIN - Y_BIN) / (P_BIN * (1 - P_BIN)) / len(Y_BIN)
    np.testing.assert_allclose(numeric_gradient(lambda v: bce(Y_BIN, v), P_BIN), analytic, rtol=1e-5)
    np.testing.assert_allclose(jax.grad(jax_bce, argnums=1)(Y_BIN, P_BIN), analytic, rtol=1e-10)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bce_gradient_wrt_logit_is_p_minus_y(impl):
    bce = IMPLEMENTATIONS[impl]["binary_cross_entropy"]
    z = rng.normal(size=9) * 3
    analytic = (reference.sigmoid(z) - Y_BIN) / len(Y_BIN)
    np.testing.assert_allclose(numeric_gradient(lambda v: bce(Y_BIN, reference.sigmoid(v)), z), analytic, rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(jax.grad(lambda v: jax_bce(Y_BIN, jax.nn.sigmoid(v)))(z), analytic, rtol=1e-9)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_cce_gradient_wrt_probabilities(impl):
    cce = IMPLEMENTATIONS[impl]["categorical_cross_entropy"]
    probs = reference.softmax(LOGITS)
    analytic = -ONE_HOT / probs / len(probs)
    np.testing.assert_allclose(numeric_gradient(lambda v: cce(LABELS, v), probs), analytic, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(jax.grad(jax_cce, argnums=1)(ONE_HOT, probs), analytic, rtol=1e-10)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_cross_entropy_gradient_wrt_logits_is_softmax_minus_one_hot(impl):
    ce = IMPLEMENTATIONS[impl]["cross_entropy_from_logits"]
    analytic = (reference.softmax(LOGITS) - ONE_HOT) / len(LOGITS)
    np.testing.assert_allclose(numeric_gradient(lambda v: ce(LABELS, v), LOGITS), analytic, rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(jax.grad(jax_ce_logits, argnums=1)(ONE_HOT, LOGITS), analytic, rtol=1e-10)


def test_cross_entropy_gradient_stays_informative_for_extreme_logits():
    logits = np.array([[1000.0, 0.0, -1000.0]])
    grad = jax.grad(jax_ce_logits, argnums=1)(np.eye(3)[[2]], logits)
    np.testing.assert_allclose(grad, [[1.0, 0.0, -1.0]], atol=1e-12)
    fd = numeric_gradient(lambda v: SOLUTION["cross_entropy_from_logits"]([2], v), logits, h=1e-3)
    np.testing.assert_allclose(fd, [[1.0, 0.0, -1.0]], atol=1e-6)


# --- the formulas the widgets and the lesson text rely on --------------------------------------------
X_LINE, Y_LINE = data.noisy_line(n=30, w=1.5, b=0.5, noise=0.5, seed=0)


@pytest.mark.parametrize("w, b", [(0.5, -1.0), (1.5, 0.5), (-0.7, 2.4)])
def test_line_mse_gradient(w, b):
    dw, db = loss_widgets.line_mse_gradient(X_LINE, Y_LINE, w, b)
    fd = numeric_gradient(lambda v: SOLUTION["mse"](Y_LINE, v[0] * X_LINE + v[1]), np.array([w, b]))
    np.testing.assert_allclose([dw, db], fd, rtol=1e-6, atol=1e-9)
    auto = jax.grad(lambda v: jax_mse(Y_LINE, v[0] * X_LINE + v[1]))(jnp.array([w, b]))
    np.testing.assert_allclose([dw, db], auto, rtol=1e-12)


@pytest.mark.parametrize("y", [0.0, 1.0])
@pytest.mark.parametrize("z", [-8.0, -2.0, 0.0, 3.0])
def test_logit_gradients(y, z):
    grad_bce, grad_mse = loss_widgets.logit_gradients(y, z)
    fd_bce = numeric_gradient(lambda v: SOLUTION["binary_cross_entropy"]([y], reference.sigmoid(v)), np.array([z]))
    fd_mse = numeric_gradient(lambda v: SOLUTION["mse"]([y], reference.sigmoid(v)), np.array([z]))
    np.testing.assert_allclose([grad_bce, grad_mse], [fd_bce[0], fd_mse[0]], rtol=1e-5, atol=1e-10)
    auto_bce = jax.grad(lambda v: -(y * jnp.log(jax.nn.sigmoid(v)) + (1 - y) * jnp.log(jax.nn.sigmoid(-v))))(z)
    auto_mse = jax.grad(lambda v: (jax.nn.sigmoid(v) - y) ** 2)(z)
    np.testing.assert_allclose([grad_bce, grad_mse], [auto_bce, auto_mse], rtol=1e-10)


# --- numbers the lesson's text states, recomputed from the lesson's own data and functions ----------
NOTEBOOK = nbformat.read(ROOT / "solutions" / "04_losses" / "04_losses.ipynb", as_version=4)
MARKDOWN = "\n".join(cell.source for cell in NOTEBOOK.cells if cell.cell_type == "markdown")


def stated(pattern):
    """The number the lesson's markdown states where `pattern` (one regex group) matches, exactly once."""
    found = re.findall(pattern, MARKDOWN)
    assert len(found) == 1, f"the lesson should state this number once: {pattern!r} matched {found}"
    return float(found[0])


def lesson_line_data():
    """x_line, y_line exactly as the lesson's code cell makes them."""
    line = next(line for cell in NOTEBOOK.cells if cell.cell_type == "code"
                for line in cell.source.splitlines() if line.startswith("x_line, y_line = data.noisy_line("))
    namespace = {"data": data}
    exec(line, namespace)
    return namespace["x_line"], namespace["y_line"]


def test_confidently_wrong_ratio_quoted_in_the_lesson():
    grad_bce, grad_mse = loss_widgets.logit_gradients(1.0, -8.0)
    ratio = stated(r"pushes about (\d+) times more weakly")
    assert grad_bce / grad_mse == pytest.approx(ratio, rel=0.05), f"at z = -8 the ratio is {grad_bce / grad_mse:.0f}"


def test_divergence_threshold_quoted_in_the_lesson():
    """lr < 2 / (largest eigenvalue of the MSE Hessian): the numbers in the text, from the lesson's own data."""
    x, y = lesson_line_data()
    hessian = 2 * np.array([[np.mean(x ** 2), np.mean(x)], [np.mean(x), 1.0]])
    largest = np.linalg.eigvalsh(hessian).max()
    critical = 2 / largest
    assert largest == pytest.approx(stated(r"\$\\lambda_\{\\max\} \\approx (\d+\.\d+)\$"), abs=0.005)
    assert critical == pytest.approx(stated(r"one above about\s+(\d\.\d+)"), abs=0.005)
    assert critical == pytest.approx(stated(r"2 / \\lambda_\{\\max\} \\approx (\d\.\d+)"), abs=0.005)
    # the Hessian above is the MSE's true one, and the widget's descent obeys the threshold
    auto = jax.hessian(lambda v: jax_mse(jnp.asarray(y), v[0] * jnp.asarray(x) + v[1]))(jnp.array([0.3, -0.2]))
    np.testing.assert_allclose(hessian, auto, rtol=1e-12)
    _, converged = loss_widgets.descend_line(SOLUTION["mse"], x, y, critical * 0.95, 400)
    w, b = np.polyfit(x, y, 1)
    assert converged[-1] == pytest.approx(SOLUTION["mse"](y, w * x + b), rel=1e-6)
    path, _ = loss_widgets.descend_line(SOLUTION["mse"], x, y, critical * 1.02, 400)
    assert len(path) < 401, "a learning rate above the threshold must diverge"
    assert 0.001 < critical < 1.0, "the widget's learning-rate slider (1e-3 to 1) must reach the threshold"


def test_sigmoid_float_limits_quoted_in_the_lesson():
    """p = sigmoid(z) is exactly 1 from z of about 37 on, but exactly 0 only below about -745 (float64)."""
    z = np.linspace(30.0, 40.0, 100_001)
    first_one = z[np.argmax(reference.sigmoid(z) == 1.0)]
    z = np.linspace(-760.0, -700.0, 600_001)
    last_zero = z[reference.sigmoid(z) == 0.0].max()
    assert first_one == pytest.approx(stated(r"as soon as \$z \\gtrsim (\d+)\$"), abs=0.5)
    assert last_zero == pytest.approx(-stated(r"until \$z \\approx -(\d+)\$"), abs=0.5)
    assert reference.sigmoid(first_one - 0.01) < 1.0 and reference.sigmoid(last_zero + 0.01) > 0.0
