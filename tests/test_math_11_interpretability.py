"""Lesson 11 math: the input gradient against central finite differences and JAX autodiff (every activation, several
depths, every class); integrated gradients against the same midpoint sum of JAX gradients, their completeness and its
convergence with the steps; occlusion against a brute-force loop; Shapley values against the average over all
orderings and their defining properties.

The functions checked are the ones defined in the lesson's solution notebook, in float64.
"""
import itertools
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nncourse import interpretability_widgets as iw  # noqa: E402
from tests.test_math_05_backprop import central, jax, jnp  # noqa: E402  (JAX in float64 on the CPU, set up there)
from tests.validity import Exercises  # noqa: E402

ex = Exercises("11_interpretability")
JAX_ACTIVATION = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}
CASES = [([5, 7, 4], "tanh"), ([4, 6, 5, 3], "sigmoid"), ([6, 8, 8, 4], "relu"), ([3, 2], "relu"), ([64, 32, 10], "relu")]


@pytest.fixture(scope="module")
def lesson():
    """The solution notebook's namespace after every exercise cell has run."""
    return ex.context("q1")


def network(sizes, seed):
    r = np.random.default_rng(seed)
    return [(r.normal(size=(a, c)) / np.sqrt(a), r.normal(size=c) * 0.3) for a, c in zip(sizes[:-1], sizes[1:])]


def jax_logit(params, activation, k):
    def f(x):
        a = x
        for index, (W, b) in enumerate(params):
            a = a @ jnp.asarray(W) + jnp.asarray(b)
            if index < len(params) - 1:
                a = JAX_ACTIVATION[activation](a)
        return a[k]
    return f


@pytest.mark.parametrize("sizes, activation", CASES)
def test_input_gradient_matches_jax_and_finite_differences(lesson, sizes, activation):
    params = network(sizes, seed=len(sizes) * 7 + sizes[0])
    X = np.random.default_rng(sizes[-1]).normal(size=(4, sizes[0]))
    for k in range(sizes[-1]):
        got = lesson["input_gradient"](X, params, k, activation)
        f = jax_logit(params, activation, k)
        np.testing.assert_allclose(got, np.stack([np.asarray(jax.grad(f)(jnp.asarray(x))) for x in X]),
                                   rtol=1e-10, atol=1e-12)
        numeric = np.stack([central(lambda v: float(f(jnp.asarray(v))), x) for x in X])
        np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-7)


def test_input_gradient_is_the_logit_gradient_of_the_lessons_network(lesson):
    X_train, y_train, X_test, _ = iw.digits_split()
    params = iw.train_digits(X_train, y_train, num_epochs=2)[0][-1]
    got = lesson["input_gradient"](X_test[:3], params, 4)
    numeric = np.stack([central(lambda v: float(iw.logits(v, params)[0, 4]), x) for x in X_test[:3]])
    np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("steps", [1, 2, 7, 32])
def test_integrated_gradients_is_the_midpoint_sum_of_jax_gradients(lesson, steps):
    params = network([6, 8, 3], seed=11)
    f = jax_logit(params, "tanh", 2)
    r = np.random.default_rng(steps)
    x, baseline = r.normal(size=6), r.normal(size=6)
    grad_fn = lambda P: lesson["input_gradient"](P, params, 2, "tanh")
    alphas = (np.arange(steps) + 0.5) / steps
    want = (x - baseline) * np.mean([np.asarray(jax.grad(f)(jnp.asarray(baseline + a * (x - baseline)))) for a in alphas],
                                    axis=0)
    np.testing.assert_allclose(lesson["integrated_gradients"](x, baseline, grad_fn, steps), want, rtol=1e-10, atol=1e-12)


def test_integrated_gradients_completeness_converges_like_the_midpoint_rule(lesson):
    params = network([6, 8, 3], seed=11)
    f = jax_logit(params, "tanh", 0)
    grad_fn = lambda P: lesson["input_gradient"](P, params, 0, "tanh")
    x, baseline = np.random.default_rng(0).normal(size=6) * 2, np.zeros(6)
    change = float(f(jnp.asarray(x)) - f(jnp.asarray(baseline)))
    gaps = [abs(lesson["integrated_gradients"](x, baseline, grad_fn, s).sum() - change) for s in (4, 8, 16, 32, 64)]
    assert gaps[-1] < 1e-3 * max(abs(change), 1.0)
    ratios = np.array(gaps[:-1]) / np.array(gaps[1:])
    assert np.all(ratios > 3.0), f"doubling the steps should cut the midpoint error about 4 times, got ratios {ratios}"


def test_integrated_gradients_is_exact_for_a_linear_model(lesson):
    w = np.array([0.5, -2.0, 3.0])
    got = lesson["integrated_gradients"](np.array([1.0, 2.0, -1.0]), np.array([0.5, 0.0, 1.0]),
                                         lambda P: np.tile(w, (len(P), 1)), 1)
    np.testing.assert_allclose(got, w * np.array([0.5, 2.0, -2.0]))


def test_saturation_demo_gradient_matches_sigmoid_derivative():
    w = 5.0
    f = lambda v: float(1 / (1 + np.exp(-w * v.sum())))
    s = f(iw.SATURATION_X)
    np.testing.assert_allclose(central(f, iw.SATURATION_X), [w * s * (1 - s)] * 2, rtol=1e-6)


def brute_occlusion(image, score, patch, fill):
    out = np.full(image.shape, np.nan)
    for top, left in itertools.product(range(0, image.shape[0], patch), range(0, image.shape[1], patch)):
        occluded = image.copy()
        occluded[top:top + patch, left:left + patch] = fill
        out[top:top + patch, left:left + patch] = score(image) - score(occluded)
    return out


@pytest.mark.parametrize("shape, patch, fill", [((8, 8), 2, 0.0), ((5, 7), 3, 0.5), ((4, 4), 1, -1.0), ((3, 5), 8, 0.0)])
def test_occlusion_map_matches_a_brute_force_loop(lesson, shape, patch, fill):
    r = np.random.default_rng(patch)
    image, V = r.uniform(size=shape), r.normal(size=shape)
    score = lambda im: float(np.tanh((im * V).sum()))
    got = lesson["occlusion_map"](image, score, patch, fill)
    np.testing.assert_allclose(got, brute_occlusion(image, score, patch, fill), rtol=1e-12)


def test_occlusion_of_a_linear_score_is_the_patch_sum_of_weight_times_change(lesson):
    image, V = np.random.default_rng(0).uniform(size=(6, 6)), np.random.default_rng(1).normal(size=(6, 6))
    got = lesson["occlusion_map"](image, lambda im: float((im * V).sum()), 3, 0.25)
    contribution = V * (image - 0.25)
    want = np.kron(contribution.reshape(2, 3, 2, 3).sum(axis=(1, 3)), np.ones((3, 3)))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def shapley_by_orderings(f, x, baseline):
    n, phi = len(x), np.zeros(len(x))
    for order in itertools.permutations(range(n)):
        z = baseline.copy()
        for i in order:
            before = f(z)
            z[i] = x[i]
            phi[i] += f(z) - before
    return phi / math.factorial(n)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_shapley_values_match_orderings_and_properties(lesson, n):
    r = np.random.default_rng(n)
    W = r.normal(size=(n, 4))
    f = lambda z: float(np.sin(z @ W).sum() + np.prod(z))
    x, baseline = r.normal(size=n), r.normal(size=n)
    got = lesson["shapley_values"](f, x, baseline)
    np.testing.assert_allclose(got, shapley_by_orderings(f, x, baseline), rtol=1e-10, atol=1e-12)
    assert got.sum() == pytest.approx(f(x) - f(baseline), rel=1e-10, abs=1e-12)  # efficiency
    ignored = lesson["shapley_values"](lambda z: f(z[:n]), np.append(x, 3.0), np.append(baseline, -1.0))
    assert ignored[-1] == pytest.approx(0.0, abs=1e-12)  # a feature the model ignores gets nothing


def test_shapley_values_of_a_linear_model_are_weight_times_change(lesson):
    w, x, baseline = np.array([1.0, -2.0, 0.5, 4.0]), np.array([1.0, 2.0, 3.0, -1.0]), np.array([0.5, 0.5, 0.0, 1.0])
    np.testing.assert_allclose(lesson["shapley_values"](lambda z: float(z @ w), x, baseline), w * (x - baseline))


def test_shapley_values_equal_integrated_gradients_for_an_additive_model(lesson):
    """For f(z) = sum_j g_j(z_j), both methods give g_j(x_j) - g_j(x'_j); IG up to the midpoint error."""
    x, baseline = np.array([1.0, -0.5, 2.0]), np.array([0.0, 0.5, 0.5])
    f = lambda z: float(np.sum(np.sin(z) + z ** 2))
    grad_fn = lambda P: np.cos(P) + 2 * P
    want = np.sin(x) + x ** 2 - np.sin(baseline) - baseline ** 2
    np.testing.assert_allclose(lesson["shapley_values"](f, x, baseline), want, rtol=1e-12)
    np.testing.assert_allclose(lesson["integrated_gradients"](x, baseline, grad_fn, 200), want, rtol=1e-5)
