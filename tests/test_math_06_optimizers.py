"""Lesson 06 maths: every optimizer (reference and solution notebook) against independent implementations,
against Keras 3's own optimizers (JAX backend, float64), and the race surfaces' gradients against
finite differences and JAX autodiff."""
import os

import numpy as np
import pytest

from nncourse import optimizer_widgets as ow
from nncourse import reference
from tests.validity import Exercises

ex = Exercises("06_optimizers")
NAMES = ("sgd_update", "momentum_update", "rmsprop_update", "adam_update", "minibatches")


def solution_namespace():
    """The solution notebook's functions, by running its cells up to the knowledge check."""
    namespace = ex.context("minibatches")
    cell = next(c for c in ex.solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "minibatches")
    exec(cell.source, namespace)
    return namespace


SOLUTION = solution_namespace()
IMPLEMENTATIONS = {"reference": {name: getattr(reference, name) for name in NAMES},
                   "solution": {name: SOLUTION[name] for name in NAMES}}


# --- independent implementations: scalar loops over every element ----------------------------------
def loop_momentum(w, gradients, lr, beta):
    w, v, path = [float(x) for x in w], [0.0] * len(w), []
    for g in gradients:
        for i in range(len(w)):
            v[i] = beta * v[i] - lr * g[i]
            w[i] += v[i]
        path.append(list(w))
    return np.array(path)


def loop_rmsprop(w, gradients, lr, rho, eps):
    w, s, path = [float(x) for x in w], [0.0] * len(w), []
    for g in gradients:
        for i in range(len(w)):
            s[i] = rho * s[i] + (1 - rho) * g[i] * g[i]
            w[i] -= lr * g[i] / (s[i] ** 0.5 + eps)
        path.append(list(w))
    return np.array(path)


def loop_adam(w, gradients, lr, b1, b2, eps):
    w, m, v, path = [float(x) for x in w], [0.0] * len(w), [0.0] * len(w), []
    for t, g in enumerate(gradients, start=1):
        for i in range(len(w)):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            w[i] -= lr * (m[i] / (1 - b1 ** t)) / ((v[i] / (1 - b2 ** t)) ** 0.5 + eps)
        path.append(list(w))
    return np.array(path)


def run(name, functions, w0, gradients, **hyper):
    """Trajectory (one row per step) of one of the lesson's update functions driven by given gradients."""
    update, w, path = functions[name], np.array(w0, dtype=float), []
    state = (np.zeros_like(w), np.zeros_like(w)) if name == "adam_update" else np.zeros_like(w)
    for t, g in enumerate(gradients, start=1):
        g = np.asarray(g, dtype=float)
        if name == "sgd_update":
            w = update(w, g, hyper["lr"])
        elif name == "momentum_update":
            w, state = update(w, g, state, hyper["lr"], hyper["beta"])
        elif name == "rmsprop_update":
            w, state = update(w, g, state, hyper["lr"], hyper["rho"], hyper["eps"](t) if callable(hyper["eps"]) else hyper["eps"])
        else:
            eps = hyper["eps"](t) if callable(hyper["eps"]) else hyper["eps"]
            w, m, v = update(w, g, state[0], state[1], t, hyper["lr"], hyper["beta1"], hyper["beta2"], eps)
            state = (m, v)
        path.append(w.copy())
    return np.array(path)


def gradients(seed, steps=40, size=5, scale=1.0):
    return np.random.default_rng(seed).normal(size=(steps, size)) * scale


def ordinary_gradients(seed, steps):
    """Gradients of size 0.5 to about 3 with random signs: the 'ordinary' case where eps hardly matters."""
    g = gradients(seed, steps)
    return np.sign(g) * (0.5 + np.abs(g))


W0 = np.array([0.5, -1.0, 2.0, 0.0, -0.3])


@pytest.mark.parametrize("source", IMPLEMENTATIONS)
def test_sgd_matches_a_closed_form(source):
    g = gradients(1)
    expected = W0 - 0.05 * np.cumsum(g, axis=0)
    np.testing.assert_allclose(run("sgd_update", IMPLEMENTATIONS[source], W0, g, lr=0.05), expected, rtol=1e-12)


@pytest.mark.parametrize("source", IMPLEMENTATIONS)
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.99])
def test_momentum_trajectory(source, beta):
    g = gradients(2)
    np.testing.assert_allclose(run("momentum_update", IMPLEMENTATIONS[source], W0, g, lr=0.03, beta=beta),
                               loop_momentum(W0, g, 0.03, beta), rtol=1e-12)


@pytest.mark.parametrize("source", IMPLEMENTATIONS)
@pytest.mark.parametrize("scale", [1.0, 1e-6])
def test_rmsprop_trajectory(source, scale):
    g = gradients(3, scale=scale)
    np.testing.assert_allclose(run("rmsprop_update", IMPLEMENTATIONS[source], W0, g, lr=0.01, rho=0.9, eps=1e-7),
                               loop_rmsprop(W0, g, 0.01, 0.9, 1e-7), rtol=1e-12)


@pytest.mark.parametrize("source", IMPLEMENTATIONS)
@pytest.mark.parametrize("b1, b2", [(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)])
def test_adam_trajectory(source, b1, b2):
    g = gradients(4)
    np.testing.assert_allclose(run("adam_update", IMPLEMENTATIONS[source], W0, g, lr=0.01, beta1=b1, beta2=b2, eps=1e-7),
                               loop_adam(W0, g, 0.01, b1, b2, 1e-7), rtol=1e-12)


def test_adam_first_step_moves_every_weight_by_lr():
    """The lesson's claim: with bias correction the first step is lr * sign(g) (up to eps)."""
    g = np.array([3.0, -0.02, 1e-3])
    w = SOLUTION["adam_update"](np.zeros(3), g, np.zeros(3), np.zeros(3), 1, 0.01)[0]
    np.testing.assert_allclose(w, -0.01 * np.sign(g), rtol=1e-3)


def test_solution_and_reference_minibatches_agree_and_partition():
    X, y = np.arange(2 * 37.0).reshape(37, 2), np.arange(37)
    for seed in range(3):
        a = list(SOLUTION["minibatches"](X, y, 8, seed))
        b = list(reference.minibatches(X, y, 8, seed))
        assert [len(yb) for _, yb in a] == [8, 8, 8, 8, 5]
        assert all(np.array_equal(xa, xb) and np.array_equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
        assert sorted(np.concatenate([yb for _, yb in a])) == list(range(37))


def test_learning_rate_demo_claims():
    """Section 1: on L = w^2 a step multiplies w by (1 - 2 lr); lr 1.1 diverges, 0.9 converges."""
    for lr, grows in ((0.01, False), (0.9, False), (1.1, True)):
        w = 1.0
        for _ in range(20):
            w = SOLUTION["sgd_update"](w, 2 * w, lr)
        assert (abs(w) > 1) == grows
        assert w == pytest.approx((1 - 2 * lr) ** 20)


# --- the race surfaces ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ow.SURFACES))
def test_surface_gradients_match_finite_differences_and_jax(name):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    surface = ow.SURFACES[name]
    autodiff = jax.grad(lambda p: surface.value(p[0], p[1]))
    h = 1e-6
    for p in np.random.default_rng(5).uniform(-2, 2, size=(10, 2)):
        numeric = [(surface.value(*(p + h * e)) - surface.value(*(p - h * e))) / (2 * h) for e in np.eye(2)]
        np.testing.assert_allclose(surface.gradient(p), numeric, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(surface.gradient(p), np.asarray(autodiff(jnp.array(p))), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(surface.gradient(surface.minimum), [0.0, 0.0], atol=1e-12)


def test_line_gradient_matches_finite_differences():
    X, y = ow.line_data(30)
    p, h = np.array([0.3, -0.7]), 1e-6
    loss = lambda q: 0.5 * np.mean((X[:, 0] * q[0] + q[1] - y) ** 2)
    numeric = [(loss(p + h * e) - loss(p - h * e)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(ow.line_gradient(X, y, p), numeric, rtol=1e-6)


# --- Keras 3 (JAX backend) ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras():
    os.environ["KERAS_BACKEND"] = "jax"
    import jax

    jax.config.update("jax_enable_x64", True)
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip(f"keras already imported with the {keras.backend.backend()} backend")
    from nncourse.keras_tools import floatx

    with floatx("float64"):
        yield keras


def keras_trajectory(keras, optimizer, w0, grads):
    var = keras.Variable(np.array(w0, dtype=float), dtype="float64")
    path = []
    for g in grads:
        optimizer.apply_gradients([(np.asarray(g, dtype=float), var)])
        path.append(np.asarray(var.value).copy())
    return np.array(path)


STEPS = 12


@pytest.mark.parametrize("source", IMPLEMENTATIONS)
def test_sgd_and_momentum_match_keras_exactly(keras, source):
    g = gradients(6, steps=STEPS)
    ours = run("sgd_update", IMPLEMENTATIONS[source], W0, g, lr=0.1)
    theirs = keras_trajectory(keras, keras.optimizers.SGD(learning_rate=0.1), W0, g)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    ours = run("momentum_update", IMPLEMENTATIONS[source], W0, g, lr=0.1, beta=0.9)
    theirs = keras_trajectory(keras, keras.optimizers.SGD(learning_rate=0.1, momentum=0.9), W0, g)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("source", IMPLEMENTATIONS)
def test_rmsprop_matches_keras_and_differs_only_by_eps_placement(keras, source):
    g = ordinary_gradients(7, STEPS)
    ours = run("rmsprop_update", IMPLEMENTATIONS[source], W0, g, lr=0.01, rho=0.9, eps=0.0)
    theirs = keras_trajectory(keras, keras.optimizers.RMSprop(learning_rate=0.01, rho=0.9, epsilon=0.0), W0, g)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    # ordinary gradients: eps placement is invisible at the 1e-6 level
    ours = run("rmsprop_update", IMPLEMENTATIONS[source], W0, g, lr=0.01, rho=0.9, eps=1e-7)
    theirs = keras_trajectory(keras, keras.optimizers.RMSprop(learning_rate=0.01, rho=0.9, epsilon=1e-7), W0, g)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * 0.01)  # below 1e-5 of a step
    # tiny gradients: Keras's eps inside the root shrinks the steps, as the lesson says
    tiny = g * 1e-5
    ours = run("rmsprop_update", IMPLEMENTATIONS[source], W0, tiny, lr=0.01, rho=0.9, eps=1e-7) - W0
    theirs = keras_trajectory(keras, keras.optimizers.RMSprop(learning_rate=0.01, rho=0.9, epsilon=1e-7), W0, tiny) - W0
    assert np.all(np.abs(theirs[0]) < 0.1 * np.abs(ours[0]))


@pytest.mark.parametrize("source", IMPLEMENTATIONS)
def test_adam_matches_keras_with_the_eps_rescaling_the_lesson_describes(keras, source):
    g = ordinary_gradients(8, STEPS)
    b1, b2, eps = 0.9, 0.999, 1e-7
    make = lambda: keras.optimizers.Adam(learning_rate=0.01, beta_1=b1, beta_2=b2, epsilon=eps)
    theirs = keras_trajectory(keras, make(), W0, g)
    ours = run("adam_update", IMPLEMENTATIONS[source], W0, g, lr=0.01, beta1=b1, beta2=b2, eps=eps)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * 0.01)  # ordinary gradients: below 1e-5 of a step
    rescaled = run("adam_update", IMPLEMENTATIONS[source], W0, g, lr=0.01, beta1=b1, beta2=b2,
                   eps=lambda t: eps / np.sqrt(1 - b2 ** t))
    np.testing.assert_allclose(rescaled, theirs, rtol=1e-12)      # exact once eps is rescaled per step
    tiny = g * 1e-5
    theirs = keras_trajectory(keras, make(), W0, tiny) - W0
    ours = run("adam_update", IMPLEMENTATIONS[source], W0, tiny, lr=0.01, beta1=b1, beta2=b2, eps=eps) - W0
    assert not np.allclose(ours, theirs, rtol=1e-2), "with tiny gradients the eps placement must show"


def test_keras_adam_epsilon_numbers_in_the_text():
    """Section 4's numbers on where Keras's Adam puts epsilon: 32x in the first step, 1.26x by step 1000,
    a relative step difference of about 3e-6 for a gradient of 1, and about 30% for a gradient of 1e-5."""
    text = next(c.source for c in ex.solution.cells if c.cell_type == "markdown" and "Where Keras differs.** Keras folds" in c.source)
    factor = lambda t: 1 / np.sqrt(1 - 0.999 ** t)   # Keras's eps acts like eps / sqrt(1 - beta2^t) in our formula
    assert round(factor(1)) == 32 and round(factor(1000), 2) == 1.26
    assert "about 32 times larger" in text and "only 1.26 times" in text
    assert f"{1e-7 * factor(1):.0e}" == "3e-06" and "some $3\\cdot 10^{-6}$" in text
    g, eps = 1e-5, 1e-7                  # first step: m_hat = g, v_hat = g^2
    ours, keras_form = g / (g + eps), g / (g + eps * factor(1))
    assert round(ours / keras_form - 1, 1) == 0.3 and "30% in the first step for a gradient of $10^{-5}$" in text
