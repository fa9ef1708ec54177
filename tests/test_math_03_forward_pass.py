"""Lesson 03 formulas checked numerically: the dense layer, the forward pass and its cache, parameter counts,
Xavier/He spreads and the variance argument behind them, and the depth/width demos.

Both the course reference (nncourse.reference) and the functions of the solution notebook are checked.
"""
import numpy as np
import pytest

from nncourse import forward_widgets as demos
from nncourse import reference
from tests.validity import Exercises

ex = Exercises("03_forward_pass")


@pytest.fixture(scope="module")
def solution():
    """The solution notebook's functions (namespace before the knowledge check)."""
    return ex.context("q1")


def implementations(solution):
    names = ("dense_forward", "init_params", "mlp_forward", "count_params", "predict")
    return {"reference": {n: getattr(reference, n) for n in names}, "solution": {n: solution[n] for n in names}}


@pytest.fixture(params=["reference", "solution"])
def impl(request, solution):
    return implementations(solution)[request.param]


def central_difference(f, x, h=1e-6):
    """Jacobian of f at x by central differences: shape f(x).shape + x.shape."""
    x = np.asarray(x, dtype=float)
    out = np.asarray(f(x))
    jac = np.zeros(out.shape + x.shape)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        jac[(...,) + index] = (np.asarray(f(x + step)) - np.asarray(f(x - step))) / (2 * h)
    return jac


def test_dense_forward_is_the_sum_formula(impl):
    rng = np.random.default_rng(1)
    X, W, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=5)
    Z = impl["dense_forward"](X, W, b)
    loops = np.array([[sum(X[i, k] * W[k, j] for k in range(3)) + b[j] for j in range(5)] for i in range(4)])
    assert np.allclose(Z, loops)
    assert Z.shape == (4, 5)


def test_dense_forward_derivatives_by_finite_differences(impl):
    """dZ_ij/dW_kl = X_ik [j == l], dZ_ij/db_l = [j == l], dZ_ij/dX_ik = W_kj."""
    rng = np.random.default_rng(2)
    X, W, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=2)
    dense = impl["dense_forward"]
    dW = central_difference(lambda w: dense(X, w, b), W)
    assert np.allclose(dW, np.einsum("ik,jl->ijkl", X, np.eye(2)), atol=1e-6)
    db = central_difference(lambda v: dense(X, W, v), b)
    assert np.allclose(db, np.broadcast_to(np.eye(2), (3, 2, 2)), atol=1e-6)
    dX = central_difference(lambda x: dense(x, W, b), X)
    assert np.allclose(dX, np.einsum("ia,kj->ijak", np.eye(3), W), atol=1e-6)


def test_forward_pass_matches_jax_and_its_jacobian(impl):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platform_name", "cpu")
    jnp = jax.numpy
    rng = np.random.default_rng(3)
    sizes = [4, 6, 5, 3]
    params = [(rng.normal(size=(a, c)), rng.normal(size=c)) for a, c in zip(sizes[:-1], sizes[1:])]
    X = rng.normal(size=(7, 4))

    def jax_forward(x):
        a = x
        for W, b in params[:-1]:
            a = jnp.tanh(a @ W + b)
        return jax.nn.softmax(a @ params[-1][0] + params[-1][1], axis=-1)

    probs, cache = impl["mlp_forward"](X, params, "tanh")
    assert np.allclose(probs, np.asarray(jax_forward(jnp.asarray(X))), atol=1e-12)
    x0 = X[:1]
    ours = central_difference(lambda x: impl["mlp_forward"](x, params, "tanh")[0], x0)
    theirs = np.asarray(jax.jacobian(jax_forward)(jnp.asarray(x0)))
    assert np.allclose(ours, theirs, atol=1e-7)


def test_cache_reproduces_every_layer(impl):
    rng = np.random.default_rng(4)
    params = impl["init_params"]([5, 8, 7, 4], "he", 4)
    X = rng.normal(size=(6, 5))
    probs, cache = impl["mlp_forward"](X, params)
    assert len(cache) == len(params)
    assert np.array_equal(cache[0][0], X)
    for layer, ((A_prev, Z), (W, b)) in enumerate(zip(cache, params)):
        assert np.allclose(Z, A_prev @ W + b)
        if layer + 1 < len(cache):
            assert np.allclose(cache[layer + 1][0], np.maximum(Z, 0))
    assert np.allclose(probs, reference.softmax(cache[-1][1]))
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert np.array_equal(impl["predict"](X, params), np.argmax(cache[-1][1], axis=1))


def test_count_params_matches_the_arrays(impl):
    assert impl["count_params"]([4, 8, 6, 3]) == 4 * 8 + 8 + 8 * 6 + 6 * 3 + 6 + 3 == 115
    for sizes in ([2, 2, 1], [64, 64, 10], [7, 1, 9, 3]):
        counted = sum(W.size + b.size for W, b in impl["init_params"](sizes, "xavier", 0))
        assert impl["count_params"](sizes) == counted


@pytest.mark.parametrize("scheme, std", [("he", lambda a, c: np.sqrt(2 / a)), ("xavier", lambda a, c: np.sqrt(2 / (a + c)))])
def test_init_spread_matches_the_formula(impl, scheme, std):
    for (W, b), (a, c) in zip(impl["init_params"]([800, 300, 600], scheme, 5), [(800, 300), (300, 600)]):
        assert W.shape == (a, c) and np.all(b == 0)
        assert abs(W.std() / std(a, c) - 1) < 0.02
        assert abs(W.mean()) < 0.01 * std(a, c) * 10


def test_variance_of_z_is_n_in_var_w_var_a():
    """Var(z) = n_in Var(w) Var(a) for independent zero-mean weights and inputs."""
    rng = np.random.default_rng(6)
    n_in, m = 200, 4000
    A = rng.normal(0, 0.7, size=(m, n_in))
    W = rng.normal(0, 0.05, size=(n_in, 300))
    assert abs((A @ W).var() / (n_in * 0.05 ** 2 * 0.7 ** 2) - 1) < 0.05


def test_he_keeps_relu_signals_and_xavier_keeps_tanh_signals(solution):
    """Through 20 layers of width 256: He + ReLU keeps the mean square, too-small weights make it vanish."""
    init_params, dense_forward = solution["init_params"], solution["dense_forward"]
    X = np.random.default_rng(7).normal(size=(256, 256))
    sizes = [256] * 21
    relu_he = demos.layer_activations(init_params, dense_forward, X, sizes, "he", 1.0, "relu")
    ratio = np.mean(relu_he[-1] ** 2) / np.mean(relu_he[0] ** 2)
    assert 0.3 < ratio < 3
    relu_xavier = demos.layer_activations(init_params, dense_forward, X, sizes, "xavier", 1.0, "relu")
    assert np.mean(relu_xavier[-1] ** 2) < 1e-4 * np.mean(relu_xavier[0] ** 2)  # halved at every layer: 2^-19
    small = demos.layer_activations(init_params, dense_forward, X, sizes, "xavier", 0.3, "tanh")
    assert small[-1].std() < 1e-6
    large = demos.layer_activations(init_params, dense_forward, X, sizes, "xavier", 3.0, "tanh")
    assert np.mean(np.abs(large[-1]) > 0.9) > 0.5  # most tanh units saturated


def test_relu_interpolant_is_exact_at_the_knots_and_error_falls_like_one_over_n_squared():
    x = np.linspace(0, np.pi, 4001)
    errors = []
    for units in (4, 8, 16, 32):
        knots = np.linspace(0, np.pi, units + 1)
        W1, b1, W2, b2 = demos.relu_interpolant(np.sin, knots)
        assert W1.shape == (1, units) and W2.shape == (units, 1)
        assert np.allclose(demos.one_hidden_layer(knots, W1, b1, W2, b2), np.sin(knots), atol=1e-12)
        errors.append(np.max(np.abs(demos.one_hidden_layer(x, W1, b1, W2, b2) - np.sin(x))))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 3.5) & (ratios < 4.5))
    assert errors[-1] < (np.pi / 32) ** 2 / 8 + 1e-9  # the textbook bound h^2 max|f''| / 8


def test_tent_compositions_double_the_pieces_and_one_layer_cannot():
    x = np.linspace(0, 1, 2**10 + 1)
    y = x
    for layers in range(1, 8):
        y = demos.tent(y)
        assert demos.linear_pieces(y, x) == 2 ** layers
    # one hidden layer of n relus on one input: every unit adds one bend, so at most n + 1 pieces
    rng = np.random.default_rng(8)
    xs = np.linspace(-3, 3, 6001)
    for n in (3, 10, 40):
        knots = rng.choice(xs[1:-1], size=n, replace=False)
        W1 = rng.choice([-1.0, 1.0], size=(1, n))
        W2 = rng.uniform(0.5, 2.0, size=(n, 1)) * rng.choice([-1.0, 1.0], size=(n, 1))
        values = demos.one_hidden_layer(xs, W1, -W1.ravel() * knots, W2, np.zeros(1))
        assert demos.linear_pieces(values, xs) == n + 1


def test_linear_pieces_counts_a_known_function():
    x = np.linspace(-2, 2, 401)
    assert demos.linear_pieces(np.abs(x), x) == 2
    assert demos.linear_pieces(3 * x + 1, x) == 1


def test_xor_solution_by_the_formula(solution):
    (W1, b1), (W2, b2) = solution["xor_params"]
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    z = (np.maximum(X @ W1 + b1, 0) @ W2 + b2).ravel()
    assert np.array_equal(z > 0, [False, True, True, False])


def test_fit_output_layer_solves_the_least_squares_problem():
    rng = np.random.default_rng(9)
    H, y = rng.normal(size=(50, 6)), rng.integers(0, 3, size=50)
    W, b = demos.fit_output_layer(H, y, 3, target=2.0, ridge=0.0)
    T = 2.0 * np.eye(3)[y]
    residual = H @ W + b - T
    assert np.allclose(np.column_stack([H, np.ones(50)]).T @ residual, 0, atol=1e-9)  # normal equations


def test_weight_spread_sentences_of_section_5():
    """std 0.01 shrinks the spread of 100-wide tanh layers tenfold per layer; std 1.0 leaves most units near +-1."""
    rng = np.random.default_rng(7)
    for std, check in ((0.01, "tenfold"), (1.0, "saturated")):
        A, spreads = rng.normal(size=(200, 100)), []
        for _ in range(10):
            A = np.tanh(A @ rng.normal(0.0, std, size=(100, 100)))
            spreads.append(A.std())
        if check == "tenfold":
            ratios = np.array(spreads[1:4]) / np.array(spreads[:3])
            np.testing.assert_allclose(ratios, 0.1, rtol=0.1)
            assert 100 * std ** 2 == pytest.approx(0.01)
        else:
            assert np.mean(np.abs(A) > 0.9) > 0.5
