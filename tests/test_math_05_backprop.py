"""Lesson 05 math: every backward formula against central finite differences and against JAX autodiff.

Both the reference implementations in nncourse/reference.py and the functions defined in the lesson's
solution notebook are checked, on random shapes and random networks, in float64.
"""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from nncourse import reference as ref
from tests.validity import Exercises

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")
import jax.numpy as jnp  # noqa: E402

ex = Exercises("05_backprop")
SEEDS = (0, 1, 2)
SHAPES = ([3, 4, 2], [2, 5, 3, 3], [4, 3, 6, 2, 3])


@pytest.fixture(scope="module")
def lesson():
    """The solution notebook's namespace after every exercise cell has run."""
    return ex.context("q1")


def implementations(lesson):
    """(name, functions) pairs: the reference module and the notebook's solutions."""
    return {"reference": {name: getattr(ref, name) for name in
                          ("dense_backward", "softmax_cross_entropy_backward", "mlp_backward", "train_step")},
            "notebook": lesson}


def central(f, x, eps=1e-6):
    """Central-difference gradient of scalar f at array x."""
    x = np.asarray(x, dtype=float)
    grad = np.zeros_like(x)
    for i in range(x.size):
        plus, minus = x.copy(), x.copy()
        plus.flat[i] += eps
        minus.flat[i] -= eps
        grad.flat[i] = (f(plus) - f(minus)) / (2 * eps)
    return grad


JAX_ACTIVATION = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}


def jax_loss(params, X, Y, activation):
    """Batch-mean cross-entropy of the course's MLP, written independently in JAX."""
    A = X
    for index, (W, b) in enumerate(params):
        Z = A @ W + b
        A = jax.nn.log_softmax(Z, axis=1) if index == len(params) - 1 else JAX_ACTIVATION[activation](Z)
    return -jnp.mean(jnp.sum(Y * A, axis=1))


jax_logits_grad = jax.jit(jax.grad(lambda Z, Y: -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(Z, axis=1), axis=1))))
jax_value_and_grad = jax.jit(jax.value_and_grad(jax_loss), static_argnums=3)


def random_network(sizes, seed, m=7):
    rng = np.random.default_rng(seed)
    params = [(rng.normal(size=(a, c)), rng.normal(size=c) * 0.5) for a, c in zip(sizes[:-1], sizes[1:])]
    X = rng.normal(size=(m, sizes[0]))
    y = rng.integers(0, sizes[-1], size=m)
    return params, X, y


def assert_grads_close(got, expected, rtol, atol, what):
    assert len(got) == len(expected), what
    for layer, ((dW, db), (eW, eb)) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(np.asarray(dW), np.asarray(eW), rtol=rtol, atol=atol, err_msg=f"{what}: dW{layer + 1}")
        np.testing.assert_allclose(np.asarray(db), np.asarray(eb), rtol=rtol, atol=atol, err_msg=f"{what}: db{layer + 1}")


# --- activations --------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_activation_backward_matches_finite_differences_and_jax(lesson, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 6, size=2))
    Z, dA = rng.normal(size=shape) * 2, rng.normal(size=shape)
    Z[np.abs(Z) < 1e-3] = 0.5  # keep finite differences away from relu's kink
    cases = {"relu_backward": (ref.relu, jax.nn.relu), "sigmoid_backward": (ref.sigmoid, jax.nn.sigmoid)}
    for name, (forward, jax_forward) in cases.items():
        got = lesson[name](dA, Z)
        numeric = central(lambda z: float(np.sum(dA * forward(z))), Z)
        _, vjp = jax.vjp(jax_forward, jnp.asarray(Z))
        np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8, err_msg=name)
        np.testing.assert_allclose(got, np.asarray(vjp(jnp.asarray(dA))[0]), rtol=1e-12, atol=1e-14, err_msg=name)
    for name in ("relu", "sigmoid", "tanh"):  # the reference derivatives the lesson builds on
        np.testing.assert_allclose(ref.DERIVATIVE[name](Z), central(lambda z: float(np.sum(ref.FORWARD[name](z))), Z),
                                   rtol=1e-6, atol=1e-8)


def test_notebook_tanh_slope_helper(lesson):
    Z, dA = np.linspace(-3, 3, 11), np.linspace(1, 2, 11)
    np.testing.assert_allclose(lesson["activation_backward"](dA, Z, "tanh"),
                               np.asarray(jax.vjp(jnp.tanh, jnp.asarray(Z))[1](jnp.asarray(dA))[0]), rtol=1e-12)


# --- softmax + cross-entropy --------------------------------------------------------------------
@pytest.mark.parametrize("which", ["reference", "notebook"])
@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_cross_entropy_backward(lesson, which, seed):
    backward = implementations(lesson)[which]["softmax_cross_entropy_backward"]
    rng = np.random.default_rng(10 + seed)
    m, k = int(rng.integers(1, 9)), int(rng.integers(2, 6))
    logits, y = rng.normal(size=(m, k)) * 3, rng.integers(0, k, size=m)
    got = backward(ref.softmax(logits), y)
    numeric = central(lambda z: ref.cross_entropy_from_logits(y, z), logits)
    autodiff = jax_logits_grad(jnp.asarray(logits), jnp.asarray(ref.one_hot(y, k)))
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got, np.asarray(autodiff), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(backward(ref.softmax(logits), ref.one_hot(y, k)), got, rtol=1e-14)


# --- dense layer --------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["reference", "notebook"])
@pytest.mark.parametrize("seed", SEEDS)
def test_dense_backward(lesson, which, seed):
    backward = implementations(lesson)[which]["dense_backward"]
    rng = np.random.default_rng(20 + seed)
    m, n_in, n_out = (int(v) for v in rng.integers(1, 7, size=3))
    A, W, b, dZ = rng.normal(size=(m, n_in)), rng.normal(size=(n_in, n_out)), rng.normal(size=n_out), rng.normal(size=(m, n_out))
    dA_prev, dW, db = backward(dZ, A, W)
    # scalar probe sum(dZ * Z): its gradient with respect to Z is dZ, so dense_backward must give its gradients
    probe = lambda A_, W_, b_: float(np.sum(dZ * ref.dense_forward(A_, W_, b_)))
    np.testing.assert_allclose(dW, central(lambda w: probe(A, w, b), W), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, central(lambda v: probe(A, W, v), b), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dA_prev, central(lambda a: probe(a, W, b), A), rtol=1e-6, atol=1e-8)
    _, vjp = jax.vjp(lambda a, w, c: a @ w + c, jnp.asarray(A), jnp.asarray(W), jnp.asarray(b))
    for got, expected in zip((dA_prev, dW, db), vjp(jnp.asarray(dZ))):
        np.testing.assert_allclose(got, np.asarray(expected), rtol=1e-12, atol=1e-13)


def test_batch_mean_convention_equals_textbook_form(lesson):
    """A_prev^T ((P - Y)/m) is the textbook (1/m) X^T (P - Y): the 1/m is applied exactly once."""
    rng = np.random.default_rng(3)
    X, W, y = rng.normal(size=(8, 3)), rng.normal(size=(3, 4)), rng.integers(0, 4, size=8)
    P = ref.softmax(X @ W)
    dZ = lesson["softmax_cross_entropy_backward"](P, y)
    _, dW, _ = lesson["dense_backward"](dZ, X, W)
    np.testing.assert_allclose(dW, X.T @ (P - ref.one_hot(y, 4)) / 8, rtol=1e-13)


# --- the whole network --------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["reference", "notebook"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("sizes", SHAPES, ids=lambda s: "-".join(map(str, s)))
def test_mlp_backward_against_jax_and_finite_differences(lesson, which, activation, sizes):
    backward = implementations(lesson)[which]["mlp_backward"]
    params, X, y = random_network(sizes, seed=len(sizes) * 7 + len(activation))
    probs, cache = ref.mlp_forward(X, params, activation)
    got = backward(probs, y, cache, params, activation)
    _, autodiff = jax_value_and_grad([(jnp.asarray(W), jnp.asarray(b)) for W, b in params], jnp.asarray(X),
                                     jnp.asarray(ref.one_hot(y, sizes[-1])), activation)
    assert_grads_close(got, autodiff, 1e-9, 1e-12, f"{which} {activation} {sizes} vs JAX")
    if activation != "relu":  # finite differences are unreliable only at relu's kink
        numeric = []
        for layer, (W, b) in enumerate(params):
            def loss(new_W=W, new_b=b, layer=layer):
                changed = list(params)
                changed[layer] = (new_W, new_b)
                return ref.categorical_cross_entropy(y, ref.mlp_forward(X, changed, activation)[0])
            numeric.append((central(lambda w: loss(new_W=w), W), central(lambda v: loss(new_b=v), b)))
        assert_grads_close(got, numeric, 1e-5, 1e-8, f"{which} {activation} {sizes} vs finite differences")


@pytest.mark.parametrize("which", ["reference", "notebook"])
def test_train_step_is_gradient_descent_on_the_jax_loss(lesson, which):
    step = implementations(lesson)[which]["train_step"]
    params, X, y = random_network([3, 5, 4, 3], seed=11, m=10)
    before = [(W.copy(), b.copy()) for W, b in params]
    new, loss = step(X, y, params, 0.3, "tanh")
    jparams = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
    value, grads = jax_value_and_grad(jparams, jnp.asarray(X), jnp.asarray(ref.one_hot(y, 3)), "tanh")
    np.testing.assert_allclose(loss, float(value), rtol=1e-12)
    for (W, b), (gW, gb), (nW, nb) in zip(params, grads, new):
        np.testing.assert_allclose(nW, W - 0.3 * np.asarray(gW), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(nb, b - 0.3 * np.asarray(gb), rtol=1e-12, atol=1e-14)
    for (W, b), (oW, ob) in zip(params, before):
        assert np.array_equal(W, oW) and np.array_equal(b, ob), "train_step must not change its input"


# --- gradient checking --------------------------------------------------------------------------
def test_notebook_gradient_check_against_jax(lesson):
    """The notebook's gradient_check accepts JAX's gradient and rejects the classic bugs by the stated margins."""
    check = lesson["gradient_check"]
    params, X, y = random_network([2, 4, 3], seed=5, m=12)
    W1 = params[0][0]
    _, grads = jax_value_and_grad([(jnp.asarray(W), jnp.asarray(b)) for W, b in params], jnp.asarray(X),
                                  jnp.asarray(ref.one_hot(y, 3)), "tanh")
    grad = np.asarray(grads[0][0])
    loss = lambda w: ref.categorical_cross_entropy(y, ref.mlp_forward(X, [(w, params[0][1]), *params[1:]], "tanh")[0])
    assert check(loss, W1, grad) < 1e-7
    assert check(loss, W1, grad / 12) > 0.5            # 1/m applied twice
    assert abs(check(loss, W1, -grad) - 1.0) < 1e-6     # sign error
    assert check(loss, W1, grad * 1.001) > 1e-4         # a 0.1% error is visible


def test_lesson_worked_example_numbers(lesson):
    """The table of section 2 (sigmoid neuron, squared error) against JAX."""
    loss = lambda w, b: (jax.nn.sigmoid(w * 1.5 + b) - 1.0) ** 2
    dw, db = jax.grad(loss, argnums=(0, 1))(0.8, -0.2)
    assert round(float(dw), 4) == -0.1586 and round(float(db), 4) == -0.1058
    relu_loss = lambda w, b: (jax.nn.relu(w * 3.0 + b) - 2.0) ** 2
    dw, db = jax.grad(relu_loss, argnums=(0, 1))(0.5, -0.5)
    assert (lesson["dL_dw"], lesson["dL_db"]) == (float(dw), float(db)) == (-6.0, -2.0)
