"""Lesson 08 maths: L2 penalty and gradient, dropout forward and backward, the lab's regularised backward pass and
standardisation, against central finite differences, JAX autodiff, scikit-learn and Keras layers as oracles."""
import os

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from nncourse import generalization_widgets as gw
from nncourse import reference as ref
from tests.validity import Exercises

pytest.importorskip("jax")
from tests.test_math_05_backprop import central, jax, jnp  # noqa: E402  (JAX in float64 on the CPU, set up there)

ex = Exercises("08_generalization", solutions_only=True)
NAMES = ("split", "fit_standardizer", "standardize", "l2_penalty", "l2_gradients", "dropout_forward",
         "dropout_backward", "early_stopping", "shift_images")


def solution_namespace():
    """The solution notebook's functions (setup cell and every answer cell up to the knowledge check)."""
    namespace = ex.context("q1")
    return {name: namespace[name] for name in NAMES}


SOLUTION = solution_namespace()


def random_network(sizes, seed, m=6):
    rng = np.random.default_rng(seed)
    params = [(rng.normal(size=(a, c)), rng.normal(size=c) * 0.5) for a, c in zip(sizes[:-1], sizes[1:])]
    return params, rng.normal(size=(m, sizes[0])), rng.integers(0, sizes[-1], size=m)


def jax_total_loss(params, X, Y, lam, masks, keep_prob):
    """Mean cross-entropy of a ReLU MLP with inverted dropout (fixed masks) plus lam * sum(W**2), written in JAX."""
    A = X
    for index, (W, b) in enumerate(params):
        Z = A @ W + b
        if index == len(params) - 1:
            A = jax.nn.log_softmax(Z, axis=1)
        else:
            A = jax.nn.relu(Z)
            if masks is not None:
                A = A * masks[index] / keep_prob
    data_loss = -jnp.mean(jnp.sum(Y * A, axis=1))
    return data_loss + lam * sum(jnp.sum(W ** 2) for W, _ in params)


jax_total_grad = jax.grad(jax_total_loss)


# --- L2 --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", (0, 1, 2))
def test_l2_penalty_and_gradient_match_finite_differences_and_jax(seed):
    sizes = [[3, 4, 2], [2, 5, 3, 3], [4, 6, 2]][seed]
    lam = [0.01, 0.3, 2.0][seed]
    params, X, y = random_network(sizes, seed)
    penalty, l2_gradients = SOLUTION["l2_penalty"], SOLUTION["l2_gradients"]

    def total(flat_index, value):
        changed = [(W.copy(), b.copy()) for W, b in params]
        layer, which = divmod(flat_index, 2)
        changed[layer] = (value, changed[layer][1]) if which == 0 else (changed[layer][0], value)
        probs = ref.mlp_forward(X, changed)[0]
        return ref.categorical_cross_entropy(y, probs) + penalty(changed, lam)

    probs, cache = ref.mlp_forward(X, params)
    got = l2_gradients(params, ref.mlp_backward(probs, y, cache, params), lam)
    autodiff = jax_total_grad([(jnp.asarray(W), jnp.asarray(b)) for W, b in params], jnp.asarray(X),
                              jnp.asarray(ref.one_hot(y, sizes[-1])), lam, None, 1.0)
    for layer, ((dW, db), (jW, jb)) in enumerate(zip(got, autodiff)):
        W, b = params[layer]
        np.testing.assert_allclose(dW, central(lambda w: total(2 * layer, w), W), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(db, central(lambda v: total(2 * layer + 1, v), b), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dW, np.asarray(jW), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(db, np.asarray(jb), rtol=1e-10, atol=1e-12)


def test_l2_convention_is_lam_sum_of_squares_without_half_or_batch_size():
    """The penalty does not depend on the batch: the same weights give the same penalty for any m."""
    params, _, _ = random_network([3, 4, 2], 5)
    value = SOLUTION["l2_penalty"](params, 0.1)
    assert value == pytest.approx(0.1 * sum(np.sum(W ** 2) for W, _ in params), rel=1e-12)
    biased = [(W, b + 100.0) for W, b in params]
    assert SOLUTION["l2_penalty"](biased, 0.1) == pytest.approx(value, rel=1e-12), "biases must not be penalised"


@pytest.fixture(scope="module")
def keras():
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip(f"keras already imported with the {keras.backend.backend()} backend")
    return keras


def test_l2_penalty_equals_keras_l2_regularizer(keras):
    params, _, _ = random_network([5, 4, 3], 9)
    for lam in (1e-3, 0.5):
        regularizer = keras.regularizers.L2(lam)
        theirs = sum(float(regularizer(keras.ops.convert_to_tensor(W, dtype="float32"))) for W, _ in params)
        assert SOLUTION["l2_penalty"](params, lam) == pytest.approx(theirs, rel=1e-5)


def test_keras_model_with_l2_adds_the_same_loss(keras):
    """A Dense layer with kernel_regularizer=L2(lam) adds exactly lam * sum(W**2) to the model's losses."""
    lam = 0.05
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4, kernel_regularizer=keras.regularizers.L2(lam))])
    W, b = (np.asarray(w, dtype=float) for w in model.get_weights())
    model(np.zeros((1, 3), dtype="float32"))
    added = float(sum(float(loss) for loss in model.losses))
    assert added == pytest.approx(SOLUTION["l2_penalty"]([(W, b)], lam), rel=1e-5)


# --- dropout ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", (0, 1, 2))
def test_dropout_backward_is_the_derivative_of_the_forward_pass(seed):
    rng = np.random.default_rng(100 + seed)
    A, G = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    keep = [0.5, 0.8, 0.3][seed]
    _, mask = SOLUTION["dropout_forward"](A, keep, seed, True)
    got = SOLUTION["dropout_backward"](G, mask, keep)
    numeric = central(lambda a: float(np.sum(G * SOLUTION["dropout_forward"](a, keep, seed, True)[0])), A)
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)
    _, vjp = jax.vjp(lambda a: a * jnp.asarray(mask) / keep, jnp.asarray(A))
    np.testing.assert_allclose(got, np.asarray(vjp(jnp.asarray(G))[0]), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(SOLUTION["dropout_backward"](G, None, keep), G)


def test_dropout_keeps_the_expected_value_and_the_keep_rate():
    A = np.full((2000, 50), 3.0)
    out, mask = SOLUTION["dropout_forward"](A, 0.7, 4, True)
    assert abs(mask.mean() - 0.7) < 0.01 and abs(out.mean() - 3.0) < 0.05
    assert set(np.unique(out)) == {0.0, 3.0 / 0.7}


def test_dropout_matches_keras_dropout_semantics(keras):
    """Keras's Dropout(rate) zeroes units and scales the kept ones by 1 / (1 - rate), and is the identity at inference."""
    rate = 0.3
    layer = keras.layers.Dropout(rate, seed=1)
    A = np.full((400, 30), 2.0, dtype="float32")
    theirs = np.asarray(layer(A, training=True))
    kept = theirs[theirs != 0]
    np.testing.assert_allclose(kept, 2.0 / (1 - rate), rtol=1e-6)
    assert abs((theirs != 0).mean() - (1 - rate)) < 0.02
    np.testing.assert_array_equal(np.asarray(layer(A, training=False)), A)
    ours, mask = SOLUTION["dropout_forward"](A.astype(float), 1 - rate, 0, True)
    np.testing.assert_allclose(ours[mask], 2.0 / (1 - rate), rtol=1e-12)


@pytest.mark.parametrize("seed", (0, 1))
def test_the_labs_regularised_backward_pass_matches_jax(seed):
    """gw.forward/backward with the solution's dropout, plus l2_gradients, equal JAX's gradient of the same loss."""
    sizes, keep, lam = [2, 6, 5, 2], 0.6, 0.02
    params, X, y = random_network(sizes, 20 + seed, m=8)
    code = gw.StudentCode(**{name: SOLUTION[name] for name in gw.REGULARISERS})
    probs, cache = gw.forward(X, params, keep, code, seed=seed)
    grads = SOLUTION["l2_gradients"](params, gw.backward(probs, y, cache, params, keep, code), lam)
    masks = [entry[2].astype(float) for entry in cache[:-1]]
    autodiff = jax_total_grad([(jnp.asarray(W), jnp.asarray(b)) for W, b in params], jnp.asarray(X),
                              jnp.asarray(ref.one_hot(y, 2)), lam, [jnp.asarray(m) for m in masks], keep)
    for (dW, db), (jW, jb) in zip(grads, autodiff):
        np.testing.assert_allclose(dW, np.asarray(jW), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(db, np.asarray(jb), rtol=1e-10, atol=1e-12)
    plain_probs, plain_cache = gw.forward(X, params)
    np.testing.assert_allclose(plain_probs, ref.mlp_forward(X, params)[0], rtol=1e-12)
    for (dW, db), (rW, rb) in zip(gw.backward(plain_probs, y, plain_cache, params), ref.mlp_backward(plain_probs, y, [c[:2] for c in plain_cache], params)):
        np.testing.assert_allclose(dW, rW, rtol=1e-12)
        np.testing.assert_allclose(db, rb, rtol=1e-12)


# --- standardisation -------------------------------------------------------------------------------------
def test_standardisation_properties_and_scikit_learn():
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(7)
    X_train = rng.normal(size=(60, 4)) * [1.0, 50.0, 1e-3, 4.0] + [3.0, -200.0, 1.0, 0.0]
    X_test = rng.normal(size=(15, 4)) * [1.0, 50.0, 1e-3, 4.0] + [3.0, -200.0, 1.0, 0.0]
    stats = SOLUTION["fit_standardizer"](X_train)
    Z = SOLUTION["standardize"](X_train, stats)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-12)
    scaler = StandardScaler().fit(X_train)
    np.testing.assert_allclose(SOLUTION["standardize"](X_test, stats), scaler.transform(X_test), rtol=1e-10, atol=1e-12)
    # invariance: rescaling and shifting the raw features changes nothing after standardisation
    a, c = np.array([2.0, -0.5, 10.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])
    moved = SOLUTION["fit_standardizer"](X_train * a + c)
    np.testing.assert_allclose(np.abs(SOLUTION["standardize"](X_test * a + c, moved)),
                               np.abs(SOLUTION["standardize"](X_test, stats)), rtol=1e-9)
    # a constant feature maps to 0, as scikit-learn does
    constant = np.column_stack([X_train[:, 0], np.full(60, 5.0)])
    out = SOLUTION["standardize"](constant, SOLUTION["fit_standardizer"](constant))
    np.testing.assert_array_equal(out[:, 1], 0.0)
    np.testing.assert_allclose(out, StandardScaler().fit_transform(constant), atol=1e-12)


def test_split_sizes_always_add_up_and_never_overlap():
    split = SOLUTION["split"]
    for m in (1, 7, 10, 33, 100):
        for val, test in ((0.1, 0.2), (0.15, 0.15), (0.29, 0.1), (0.0, 0.5)):
            parts = split(np.arange(m)[:, None] * 1.0, np.arange(m), val, test, 3)
            labels = np.concatenate(parts[1::2])
            assert sorted(labels) == list(range(m))
            assert [len(parts[3]), len(parts[5])] == [round(val * m), round(test * m)]


def test_early_stopping_follows_keras_early_stopping(keras):
    """Keras's EarlyStopping(patience, restore_best_weights=True) stops at the same epoch and keeps the same best one."""
    rng = np.random.default_rng(3)
    for patience in (1, 2, 5):
        for _ in range(5):
            losses = list(np.round(rng.uniform(0.2, 1.0, size=25), 1))
            callback = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=False)
            model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])
            model.stop_training = False
            callback.set_model(model)
            callback.on_train_begin()
            stopped = len(losses)
            for epoch, loss in enumerate(losses):
                callback.on_epoch_end(epoch, {"val_loss": loss})
                if model.stop_training:
                    stopped = epoch + 1
                    break
            ours = SOLUTION["early_stopping"](lambda p: (p + 1, losses[int(p)]), 0, len(losses), patience)
            assert len(ours[2]) == stopped, (losses, patience)
            assert ours[1] == callback.best_epoch + 1 and ours[0] == ours[1], (losses, patience)


# --- shifts ----------------------------------------------------------------------------------------------
def test_shift_images_composes_and_keeps_the_ink_inside():
    X = np.random.default_rng(4).random((3, 64))
    shift = SOLUTION["shift_images"]
    np.testing.assert_allclose(shift(shift(X, 1, 0), 0, 2), shift(X, 1, 2))      # a shift is a column move then a row move
    np.testing.assert_allclose(shift(shift(X, -3, 0), 0, -1), shift(X, -3, -1))
    centred = np.zeros((1, 8, 8))
    centred[0, 3:5, 3:5] = 1.0
    for dx, dy in ((1, 0), (-2, 1), (3, -3)):
        moved = shift(centred.reshape(1, 64), dx, dy).reshape(8, 8)
        assert moved.sum() == 4.0 and moved[3 + dy, 3 + dx] == 1.0


def test_inference_probabilities_match_keras(keras):
    """The NumPy inference pass used by the lesson agrees with Keras's own (dropout off, batch norm running stats)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dropout(0.3),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    X = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
    model.fit(X, np.arange(64) % 3, epochs=2, batch_size=16, verbose=0)
    np.testing.assert_allclose(gw.inference_probabilities(model, X), np.asarray(model(X, training=False)), rtol=1e-4, atol=1e-6)
