"""Lesson 09 math: batch norm against Keras's BatchNormalization (training and inference), and every backward formula
of the lesson (batch norm, residual block) against central finite differences and JAX autodiff; clipping and
per-layer norms against independent formulas.

The functions checked are the ones defined in the lesson's solution notebook, in float64.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nncourse import deep_widgets as dw  # noqa: E402
from nncourse import reference as ref  # noqa: E402
from tests.test_math_05_backprop import central, jax, jnp  # noqa: E402  (JAX in float64 on the CPU, set up there)
from tests.validity import Exercises  # noqa: E402

ex = Exercises("09_deep_networks")
SEEDS = (0, 1, 2)
JAX_ACTIVATION = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}


@pytest.fixture(scope="module")
def lesson():
    """The solution notebook's namespace after every exercise cell has run."""
    return ex.context("q1")


# --- batch norm against Keras ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def keras_batchnorm(keras, n, gamma, beta, mean, var, momentum, eps):
    layer = keras.layers.BatchNormalization(momentum=momentum, epsilon=eps, dtype="float64")
    layer.build((None, n))
    layer.set_weights([gamma, beta, mean, var])
    return layer


# Keras's BatchNormalization computes in result_type(input dtype, "float32"), which this Keras resolves to float32
# even for float64 inputs and weights (checked below), so it is an oracle at float32 precision. The lesson's typical
# mistakes (unbiased variance, eps outside the root, swapped momentum) differ from it by 1e-4 or far more.
KERAS_TOL = dict(rtol=2e-6, atol=2e-6)


def test_keras_batchnorm_computes_in_float32(keras):
    from keras.src import backend
    assert backend.result_type("float64", "float32") == "float32"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("momentum, eps", [(0.99, 1e-3), (0.9, 1e-5), (0.5, 0.1)])
def test_batchnorm_forward_matches_keras_in_training_and_inference(lesson, keras, seed, momentum, eps):
    r = np.random.default_rng(seed)
    m, n = 7, 4
    X = r.normal(size=(m, n)) * 3 + 1
    gamma, beta = r.uniform(0.5, 2, n), r.normal(size=n)
    mean, var = r.normal(size=n), r.uniform(0.5, 2, n)
    layer = keras_batchnorm(keras, n, gamma, beta, mean, var, momentum, eps)
    Y, new_mean, new_var, _ = lesson["batchnorm_forward"](X, gamma, beta, mean, var, True, momentum, eps)
    k_Y = np.asarray(layer(X, training=True))
    k_mean, k_var = (np.asarray(w) for w in layer.get_weights()[2:])
    np.testing.assert_allclose(Y, k_Y, **KERAS_TOL)
    np.testing.assert_allclose(new_mean, k_mean, **KERAS_TOL)
    np.testing.assert_allclose(new_var, k_var, **KERAS_TOL,
                               err_msg="Keras updates the moving variance with the biased batch variance")
    unbiased = momentum * var + (1 - momentum) * X.var(axis=0, ddof=1)
    assert not np.allclose(unbiased, k_var, **KERAS_TOL), "the oracle must tell biased from unbiased variance"
    Y_inf, same_mean, same_var, _ = lesson["batchnorm_forward"](X, gamma, beta, k_mean, k_var, False, momentum, eps)
    np.testing.assert_allclose(Y_inf, np.asarray(layer(X, training=False)), **KERAS_TOL)
    np.testing.assert_array_equal(same_mean, k_mean)
    np.testing.assert_array_equal(same_var, k_var)


def test_keras_defaults_are_the_lesson_defaults(keras):
    layer = keras.layers.BatchNormalization()
    assert layer.momentum == pytest.approx(0.99) and layer.epsilon == pytest.approx(1e-3)


# --- batch norm backward --------------------------------------------------------------------------
def jax_batchnorm(X, gamma, beta, eps):
    mean = jnp.mean(X, axis=0)
    var = jnp.mean((X - mean) ** 2, axis=0)
    return gamma * (X - mean) / jnp.sqrt(var + eps) + beta


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("m, n, eps", [(5, 3, 1e-3), (2, 2, 1e-5), (16, 4, 0.3)])
def test_batchnorm_backward_against_jax_and_finite_differences(lesson, seed, m, n, eps):
    r = np.random.default_rng(seed)
    X, dY = r.normal(size=(m, n)) * 2, r.normal(size=(m, n))
    gamma, beta = r.uniform(-2, 2, n), r.normal(size=n)
    _, _, _, cache = lesson["batchnorm_forward"](X, gamma, beta, np.zeros(n), np.ones(n), True, 0.99, eps)
    dX, dgamma, dbeta = lesson["batchnorm_backward"](dY, cache)
    f = lambda X_, g_, b_: jnp.sum(dY * jax_batchnorm(X_, g_, b_, eps))
    jX, jg, jb = jax.grad(f, argnums=(0, 1, 2))(X, gamma, beta)
    np.testing.assert_allclose(dX, jX, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dgamma, jg, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dbeta, jb, rtol=1e-10, atol=1e-12)
    g = lambda X_: float(np.sum(dY * lesson["batchnorm_forward"](X_, gamma, beta, np.zeros(n), np.ones(n), True, 0.99, eps)[0]))
    np.testing.assert_allclose(dX, central(g, X), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dX.sum(axis=0), 0.0, atol=1e-10)


# --- residual block -------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_residual_block_against_jax_and_finite_differences(lesson, seed, activation):
    r = np.random.default_rng(seed)
    m, n = 6, 5
    X, W, b, dY = r.normal(size=(m, n)), r.normal(size=(n, n)), r.normal(size=n), r.normal(size=(m, n))
    Y, cache = lesson["residual_forward"](X, W, b, activation)
    g = JAX_ACTIVATION[activation]
    np.testing.assert_allclose(Y, X + g(X @ W + b), rtol=1e-7 if activation != "relu" else 1e-12)
    dX, dW, db = lesson["residual_backward"](dY, cache, activation)
    f = lambda X_, W_, b_: jnp.sum(dY * (X_ + g(X_ @ W_ + b_)))
    jX, jW, jb = jax.grad(f, argnums=(0, 1, 2))(X, W, b)
    for got, want in ((dX, jX), (dW, jW), (db, jb)):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    numeric = central(lambda W_: float(np.sum(dY * lesson["residual_forward"](X, W_, b, activation)[0])), W)
    np.testing.assert_allclose(dW, numeric, rtol=1e-5, atol=1e-7)


def test_residual_network_gradients_match_jax(lesson):
    """The depth lab's residual network (reference dense layers + the lesson's blocks) against JAX end to end."""
    X, y = dw.xor_data(32, seed=3)
    params = dw.deep_init(6, width=5, scale=0.7, seed=4)
    functions = {"residual_forward": lesson["residual_forward"], "residual_backward": lesson["residual_backward"]}
    loss, grads = dw.residual_gradients(X, y, params, "tanh", functions)
    Y = np.eye(2)[y]

    def jax_loss(flat):
        A = jnp.tanh(X @ flat[0][0] + flat[0][1])
        for W, b in flat[1:-1]:
            A = A + jnp.tanh(A @ W + b)
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(A @ flat[-1][0] + flat[-1][1], axis=1), axis=1))

    assert loss == pytest.approx(float(jax_loss(params)), rel=1e-10)
    for (dW, db), (jW, jb) in zip(grads, jax.grad(jax_loss)(params)):
        np.testing.assert_allclose(dW, jW, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(db, jb, rtol=1e-7, atol=1e-10)


def test_batchnorm_network_gradients_match_finite_differences(lesson):
    X, y = dw.xor_data(16, seed=5)
    params = dw.deep_init(3, width=4, scale=1.0, seed=6)
    functions = {"batchnorm_forward": lesson["batchnorm_forward"], "batchnorm_backward": lesson["batchnorm_backward"]}
    bn_params = [(np.full(4, 1.3), np.full(4, 0.1))] * 3
    running = [(np.zeros(4), np.ones(4))] * 3
    _, grads, bn_grads, _ = dw.batchnorm_gradients(X, y, params, "sigmoid", bn_params, running, functions)

    def loss_with(W, layer):
        changed = list(params)
        changed[layer] = (W, params[layer][1])
        return dw.batchnorm_gradients(X, y, changed, "sigmoid", bn_params, running, functions)[0]

    for layer in (0, 2, 3):
        np.testing.assert_allclose(grads[layer][0], central(lambda W: loss_with(W, layer), params[layer][0]),
                                   rtol=1e-5, atol=1e-8)


def test_the_batchnorm_run_of_the_lesson_is_chaotic_on_the_way_but_always_ends_low(lesson):
    """What the lesson says under its batch-norm cell: step 40 moves between ~0.1 and ~0.4, step 80 stays near 0.02."""
    X, y = dw.xor_data(128, seed=0)
    params = dw.deep_init(10, width=16, scale=1.0, seed=0)
    functions = {"batchnorm_forward": lesson["batchnorm_forward"], "batchnorm_backward": lesson["batchnorm_backward"]}
    rng = np.random.default_rng(1)
    at_40, at_80 = [], []
    for _ in range(6):
        nudged = [(W * (1 + 1e-12 * rng.normal(size=W.shape)), b) for W, b in params]
        losses = dw.train_deep(X, y, nudged, "sigmoid", 0.5, 80, "batchnorm", functions=functions)[1]
        at_40.append(losses[40])
        at_80.append(losses[80])
    assert max(at_40) - min(at_40) > 0.1 and 0.05 < min(at_40) and max(at_40) < 0.5, at_40
    assert max(at_80) < 0.05 and min(at_80) > 0.01, at_80


# --- clipping and norms ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_clip_by_global_norm_matches_the_definition(lesson, seed):
    r = np.random.default_rng(seed)
    grads = [(r.normal(size=(3, 4)) * 5, r.normal(size=4)), (r.normal(size=(4, 2)), r.normal(size=2) * 3)]
    flat = jnp.concatenate([jnp.ravel(a) for pair in grads for a in pair])
    norm = float(jnp.sqrt(jnp.sum(flat ** 2)))
    for max_norm in (0.1, norm / 2, norm, 2 * norm):
        clipped, got = lesson["clip_by_global_norm"](grads, max_norm)
        assert got == pytest.approx(norm, rel=1e-12)
        factor = min(1.0, max_norm / norm)  # TensorFlow's clip_by_global_norm: max_norm / max(norm, max_norm)
        for (cW, cb), (W, b) in zip(clipped, grads):
            np.testing.assert_allclose(cW, W * factor, rtol=1e-12)
            np.testing.assert_allclose(cb, b * factor, rtol=1e-12)


def test_layer_gradient_norms_are_frobenius_norms(lesson):
    X, y = dw.xor_data(40, seed=7)
    params = ref.init_params([2, 8, 8, 2], seed=1)
    probs, cache = ref.mlp_forward(X, params)
    grads = ref.mlp_backward(probs, y, cache, params)
    np.testing.assert_allclose(lesson["layer_gradient_norms"](grads),
                               [np.linalg.norm(dW, "fro") for dW, _ in grads], rtol=1e-12)
