"""Lesson 02 formulas checked numerically: every activation's derivative against central finite differences
and JAX autodiff, softmax's Jacobian, the stated facts (sigmoid' <= 0.25, linear layers collapse), and the
chain and training computations behind the lesson's widgets. Both nncourse.reference and the solution
notebook's own functions are checked."""
from functools import partial

import numpy as np
import pytest

from nncourse import activation_widgets, reference
from tests.validity import Exercises

ex = Exercises("02_activations")
H = 1e-6
KINKED = {"relu", "leaky_relu"}  # not differentiable at 0: sample away from it


@pytest.fixture(scope="module")
def solution():
    """The solution notebook's namespace after every exercise and the given GELU cell have run."""
    return ex.context("q1")


@pytest.fixture(scope="module")
def jax_modules():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    return jax, jax.numpy


def pairs(namespace):
    """name -> (function, derivative) for every element-wise activation of the lesson."""
    return {
        "relu": (namespace["relu"], namespace["relu_grad"]),
        "leaky_relu": (partial(namespace["leaky_relu"], alpha=0.1),
                       partial(namespace.get("leaky_relu_grad", reference_leaky_grad), alpha=0.1)),
        "sigmoid": (namespace["sigmoid"], namespace["sigmoid_grad"]),
        "tanh": (namespace["tanh"], namespace["tanh_grad"]),
        **({"gelu": (namespace["gelu"], namespace["gelu_grad"])} if "gelu" in namespace else {}),
    }


def reference_leaky_grad(z, alpha=0.01):
    return np.where(np.asarray(z) > 0, 1.0, alpha)


def sample(name, size=200, seed=0):
    z = np.random.default_rng(seed).uniform(-6, 6, size)
    return z[np.abs(z) > 1e-3] if name in KINKED else z


def central_difference(f, z):
    return (np.asarray(f(z + H)) - np.asarray(f(z - H))) / (2 * H)


def sources():
    return ["reference", "solution"]


def namespace_for(source, solution):
    return vars(reference) if source == "reference" else solution


@pytest.mark.parametrize("source", sources())
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "gelu"])
def test_derivative_matches_central_differences(source, name, solution):
    functions = pairs(namespace_for(source, solution))
    if name not in functions:
        pytest.skip(f"{source} has no {name}")
    f, df = functions[name]
    z = sample(name)
    np.testing.assert_allclose(df(z), central_difference(f, z), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("source", sources())
def test_functions_and_derivatives_match_jax(source, solution, jax_modules):
    jax, jnp = jax_modules
    trusted = {"relu": jax.nn.relu, "leaky_relu": partial(jax.nn.leaky_relu, negative_slope=0.1),
               "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "gelu": partial(jax.nn.gelu, approximate=False)}
    for name, (f, df) in pairs(namespace_for(source, solution)).items():
        z = sample(name, seed=1)
        np.testing.assert_allclose(f(z), trusted[name](z), rtol=1e-10, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(df(z), jax.vmap(jax.grad(trusted[name]))(z), rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("source", sources())
def test_relu_derivative_at_zero_is_zero_like_jax(source, solution, jax_modules):
    jax, _ = jax_modules
    relu_grad = namespace_for(source, solution)["relu_grad"]
    assert float(relu_grad(0.0)) == float(jax.grad(jax.nn.relu)(0.0)) == 0.0


@pytest.mark.parametrize("source", sources())
def test_softmax_matches_jax_and_sums_to_one(source, solution, jax_modules):
    jax, _ = jax_modules
    softmax = namespace_for(source, solution)["softmax"]
    z = np.random.default_rng(2).normal(size=(6, 4)) * 5
    np.testing.assert_allclose(softmax(z), jax.nn.softmax(z, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(softmax(z).sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(softmax(z + 1000.0), softmax(z), rtol=1e-12)  # only differences matter


@pytest.mark.parametrize("source", sources())
def test_softmax_jacobian_formula(source, solution, jax_modules):
    """dp_i/dz_j = p_i (delta_ij - p_j), the formula the lesson states, against differences and jax.jacobian."""
    jax, _ = jax_modules
    softmax = namespace_for(source, solution)["softmax"]
    z = np.array([0.3, -1.2, 2.0, 0.7])
    p = softmax(z)
    formula = np.diag(p) - np.outer(p, p)
    numeric = np.column_stack([(softmax(z + H * e) - softmax(z - H * e)) / (2 * H) for e in np.eye(len(z))])
    np.testing.assert_allclose(formula, numeric, atol=1e-8)
    np.testing.assert_allclose(formula, jax.jacobian(jax.nn.softmax)(z), atol=1e-12)


@pytest.mark.parametrize("source", sources())
def test_sigmoid_slope_never_exceeds_a_quarter(source, solution):
    sigmoid_grad = namespace_for(source, solution)["sigmoid_grad"]
    z = np.linspace(-50, 50, 100001)
    slopes = sigmoid_grad(z)
    assert slopes.max() == pytest.approx(0.25, abs=1e-12) and z[np.argmax(slopes)] == pytest.approx(0.0)
    assert np.all(slopes > -1e-300)


@pytest.mark.parametrize("source", sources())
def test_everything_is_finite_and_silent_at_extremes(source, solution):
    namespace = namespace_for(source, solution)
    z = np.array([-1000.0, -745.0, 0.0, 745.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for name, (f, df) in pairs(namespace).items():
            assert np.all(np.isfinite(f(z))) and np.all(np.isfinite(df(z))), name
        assert np.all(np.isfinite(namespace["softmax"](np.array([[1000.0, -1000.0, 0.0]]))))


def test_tanh_is_a_rescaled_sigmoid():
    z = np.linspace(-8, 8, 101)
    np.testing.assert_allclose(reference.tanh(z), 2 * reference.sigmoid(2 * z) - 1, atol=1e-14)


def test_gelu_minimum_is_about_minus_0_17(solution):
    z = np.linspace(-3, 0, 300001)
    assert solution["gelu"](z).min() == pytest.approx(-0.17, abs=0.005)


def test_stacked_linear_layers_collapse_to_one():
    rng = np.random.default_rng(3)
    X, (W1, b1), (W2, b2), (W3, b3) = rng.normal(size=(9, 3)), *[(rng.normal(size=(n, k)), rng.normal(size=k))
                                                                 for n, k in ((3, 5), (5, 4), (4, 2))]
    stacked = ((X @ W1 + b1) @ W2 + b2) @ W3 + b3
    W, b = W1 @ W2 @ W3, (b1 @ W2 + b2) @ W3 + b3
    np.testing.assert_allclose(stacked, X @ W + b, rtol=1e-12, atol=1e-12)
    bent = reference.relu(X @ W1 + b1) @ W2 + b2
    X1 = np.column_stack([X, np.ones(len(X))])
    best = np.linalg.lstsq(X1, bent, rcond=None)[0]
    assert np.abs(X1 @ best - bent).max() > 0.1  # with a ReLU in between no linear layer fits


@pytest.mark.parametrize("name", ["sigmoid", "relu", "tanh"])
@pytest.mark.parametrize("w, x", [(1.0, 1.0), (2.5, 0.4), (0.6, 2.0)])
def test_chain_gradients_match_jax(name, w, x, jax_modules):
    """The depth widget's per-layer gradient |d a_L / d z_k| equals autodiff through the same chain."""
    jax, jnp = jax_modules
    g = {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "tanh": jnp.tanh}[name]
    depth = 8
    grads = activation_widgets.chain_gradients(reference.FORWARD[name], reference.DERIVATIVE[name], depth, w, x)
    zs, a = [], x
    for _ in range(depth):
        zs.append(w * a)
        a = float(reference.FORWARD[name](zs[-1]))

    def rest_of_chain(z_k, k):
        a = g(z_k)
        for _ in range(k + 1, depth):
            a = g(w * a)
        return a

    expected = [abs(float(jax.grad(rest_of_chain)(zs[k], k))) for k in range(depth)]
    np.testing.assert_allclose(grads, expected, rtol=1e-10, atol=1e-300)


def test_chain_gradient_of_sigmoid_shrinks_at_least_like_a_quarter_power():
    grads = activation_widgets.chain_gradients(reference.sigmoid, reference.sigmoid_grad, 20, 1.0, 1.0)
    assert grads[0] <= 0.25 ** 20
    relu_grads = activation_widgets.chain_gradients(reference.relu, reference.relu_grad, 20, 1.0, 1.0)
    np.testing.assert_allclose(relu_grads, 1.0)


@pytest.mark.parametrize("name", ["sigmoid", "relu", "tanh"])
def test_train_neuron_takes_true_gradient_steps(name, jax_modules):
    """The saturation widget's loss after one step equals the loss after one exact gradient step (JAX)."""
    jax, jnp = jax_modules
    g = {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "tanh": jnp.tanh}[name]
    x, y, w0, b0, lr = 1.0, 0.2, 0.7, 0.3, 0.4

    def loss(params):
        return 0.5 * (g(params[0] * x + params[1]) - y) ** 2

    params = jnp.array([w0, b0])
    stepped = params - lr * jax.grad(loss)(params)
    losses = activation_widgets.train_neuron(reference.FORWARD[name], reference.DERIVATIVE[name], x, y, w0, b0, lr, 2)
    np.testing.assert_allclose(losses, [float(loss(params)), float(loss(stepped))], rtol=1e-10)


def test_saturated_sigmoid_learns_slower_than_relu():
    slow = activation_widgets.train_neuron(reference.sigmoid, reference.sigmoid_grad, 1.0, 0.2, 2.0, 2.0, 0.5, 150)
    fast = activation_widgets.train_neuron(reference.relu, reference.relu_grad, 1.0, 0.2, 2.0, 2.0, 0.5, 150)
    assert fast[10] < 1e-6 < slow[10]
    dead = activation_widgets.train_neuron(reference.relu, reference.relu_grad, 1.0, 0.2, -2.0, -2.0, 0.5, 50)
    np.testing.assert_allclose(dead, dead[0])  # a dead ReLU never moves


def test_softmax_backward_matches_jax_vjp_and_finite_differences(solution, jax_modules):
    """dZ = A * (dA - sum(dA * A) per row) is the vector-Jacobian product of softmax: jax.vjp and differences agree."""
    jax, jnp = jax_modules
    softmax, softmax_backward = solution["softmax"], solution["softmax_backward"]
    rng = np.random.default_rng(21)
    for m, k, scale in ((1, 2, 1.0), (5, 3, 2.0), (7, 10, 6.0)):
        z, dA = rng.normal(size=(m, k)) * scale, rng.normal(size=(m, k))
        got = softmax_backward(dA, softmax(z))
        _, vjp = jax.vjp(lambda v: jax.nn.softmax(v, axis=-1), jnp.asarray(z))
        np.testing.assert_allclose(got, vjp(jnp.asarray(dA))[0], rtol=1e-10, atol=1e-13)
        numeric = np.zeros_like(z)  # gradient of L(z) = sum(dA * softmax(z)) by central differences
        for index in np.ndindex(z.shape):
            step = np.zeros_like(z)
            step[index] = H
            numeric[index] = (np.sum(dA * softmax(z + step)) - np.sum(dA * softmax(z - step))) / (2 * H)
        np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(got.sum(axis=1), 0.0, atol=1e-12)  # the property the lesson states


def test_softmax_backward_is_finite_for_extreme_logits(solution, jax_modules):
    jax, jnp = jax_modules
    softmax, softmax_backward = solution["softmax"], solution["softmax_backward"]
    z = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -999.0, -1001.0], [0.0, 0.0, 0.0]])
    dA = np.array([[2.0, -1.0, 5.0], [1.0, 3.0, -2.0], [4.0, 4.0, 4.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is expected and harmless
        got = softmax_backward(dA, softmax(z))
    _, vjp = jax.vjp(lambda v: jax.nn.softmax(v, axis=-1), jnp.asarray(z))
    np.testing.assert_allclose(got, vjp(jnp.asarray(dA))[0], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(got[2], 0.0)  # equal upstream gradients give dZ = 0, as the lesson says


def test_softmax_backward_of_the_cross_entropy_gradient_is_p_minus_y(solution):
    """The lesson's bridge to lesson 05: dA = -y / p gives dZ = p - y."""
    softmax, softmax_backward = solution["softmax"], solution["softmax_backward"]
    rng = np.random.default_rng(22)
    p = softmax(rng.normal(size=(6, 4)) * 2)
    y = np.eye(4)[rng.integers(0, 4, size=6)]
    np.testing.assert_allclose(softmax_backward(-y / p, p), p - y, atol=1e-12)
