"""Lesson 07 parity: the NumPy reference network against Keras on JAX, number by number.

Forward outputs, gradients (backprop against jax.grad) and optimizer steps (SGD, momentum, Adam) are compared
in float64 with a tolerance of 1e-12, and in float32 with 1e-5. Keras's Adam places epsilon differently from
the textbook rule in nncourse.reference; the tests pin down both the agreement of the Keras form and the size
of the textbook difference. The lesson's solution functions are also run through `keras_tools.parity_checks`.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nncourse import keras_tools, reference  # noqa: E402
from tests.validity import ROOT, is_solution, plain_python  # noqa: E402
import nbformat  # noqa: E402

TOL64, TOL32 = 1e-12, 1e-5
# XLA evaluates tanh (and the logistic function) on the CPU with a fast approximation accurate to about
# 1e-8 even in float64, so those activations get a looser float64 tolerance; relu and softmax do not need one.
TOL64_ACTIVATION = {"relu": TOL64, "tanh": 1e-7, "sigmoid": 1e-7}
SIZES = [6, 5, 4, 3]


def keras_twin(sizes, params, activation="relu", dtype="float64"):
    """A Keras Sequential copy of a reference network (built here, independently of the lesson)."""
    with keras_tools.floatx(dtype, 1e-15 if dtype == "float64" else None):
        layers = [keras.Input(shape=(sizes[0],))]
        layers += [keras.layers.Dense(n, activation=activation) for n in sizes[1:-1]]
        model = keras.Sequential(layers + [keras.layers.Dense(sizes[-1], activation="softmax")])
    model.set_weights(keras_tools.flat(params))
    return model


def batch(seed=0, m=9, n=SIZES[0], k=SIZES[-1]):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n)), rng.integers(0, k, size=m)


def settings():
    return keras.config.floatx(), keras.config.dtype_policy().name, keras.config.epsilon()


def test_float64_weights_really_are_float64_and_the_settings_come_back():
    before = settings()
    model = keras_twin(SIZES, reference.init_params(SIZES, seed=1))
    assert all(str(v.dtype) == "float64" for v in model.trainable_variables)
    assert settings() == before


def test_the_suite_leaves_keras_at_its_float32_defaults():
    """Every test that changes Keras's float type restores it (this fails if one leaked into this worker)."""
    assert settings() == ("float32", "float32", pytest.approx(1e-7))


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_forward_outputs_agree(activation):
    params = reference.init_params(SIZES, seed=2)
    X, _ = batch(1)
    probs = reference.mlp_forward(X, params, activation)[0]
    got = np.asarray(keras_twin(SIZES, params, activation)(X))
    assert np.max(np.abs(got - probs)) < TOL64_ACTIVATION[activation]
    got32 = np.asarray(keras_twin(SIZES, params, activation, "float32")(X.astype("float32")))
    assert np.max(np.abs(got32 - probs)) < TOL32


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_backprop_agrees_with_keras_autodiff(activation):
    params = reference.init_params(SIZES, seed=3)
    X, y = batch(2)
    _, loss, grads = keras_tools.numpy_gradients(params, X, y, activation)
    with keras_tools.floatx("float64", 1e-15):
        k_loss, k_grads = keras_tools.keras_gradients(keras_twin(SIZES, params, activation), X, y)
    tol = TOL64_ACTIVATION[activation]
    assert abs(k_loss - loss) < tol
    for (dW, db), (kW, kb) in zip(grads, k_grads):
        assert dW.shape == kW.shape and db.shape == kb.shape
        assert np.max(np.abs(dW - kW)) < tol and np.max(np.abs(db - kb)) < tol


def test_backprop_agrees_with_plain_jax_grad():
    """The same gradients from jax.grad of a jax.numpy network written here, no Keras involved."""
    params = reference.init_params(SIZES, seed=4)
    X, y = batch(3)

    def loss(flat_params):
        A = jnp.asarray(X)
        pairs = keras_tools.pairs(flat_params)
        for index, (W, b) in enumerate(pairs):
            Z = A @ W + b
            A = jax.nn.relu(Z) if index < len(pairs) - 1 else jax.nn.log_softmax(Z)
        return -jnp.mean(A[jnp.arange(len(y)), y])

    jax_grads = jax.jit(jax.grad(loss))([jnp.asarray(a) for a in keras_tools.flat(params)])
    _, value, grads = keras_tools.numpy_gradients(params, X, y)
    assert abs(float(loss([jnp.asarray(a) for a in keras_tools.flat(params)])) - value) < TOL64
    for mine, theirs in zip(keras_tools.flat(grads), jax_grads):
        assert np.max(np.abs(mine - np.asarray(theirs))) < TOL64


def test_gradient_function_is_shared_by_twins_but_uses_their_own_weights():
    X, y = batch(4)
    p1, p2 = reference.init_params(SIZES, seed=5), reference.init_params(SIZES, seed=6)
    with keras_tools.floatx("float64", 1e-15):
        g1 = keras_tools.keras_gradients(keras_twin(SIZES, p1), X, y)[1]
        count = len(keras_tools._GRADIENT_FUNCTIONS)
        g2 = keras_tools.keras_gradients(keras_twin(SIZES, p2), X, y)[1]
        assert len(keras_tools._GRADIENT_FUNCTIONS) == count
    expected = keras_tools.numpy_gradients(p2, X, y)[2]
    assert np.max(np.abs(g2[0][0] - expected[0][0])) < TOL64
    assert np.max(np.abs(g1[0][0] - g2[0][0])) > 1e-6


SETUPS = {
    "sgd": ({"optimizer": "sgd", "lr": 0.1}, lambda s: keras.optimizers.SGD(s["lr"])),
    "momentum": ({"optimizer": "momentum", "lr": 0.05, "beta": 0.8},
                 lambda s: keras.optimizers.SGD(s["lr"], momentum=s["beta"])),
    "adam": ({"optimizer": "adam", "lr": 0.01, "beta1": 0.85, "beta2": 0.99, "eps": 1e-7},
             lambda s: keras.optimizers.Adam(s["lr"], beta_1=s["beta1"], beta_2=s["beta2"], epsilon=s["eps"])),
}


def run_steps(kind, steps, dtype="float64", adam_epsilon="keras", seed=7):
    """(NumPy parameters, Keras parameters) after `steps` optimizer steps on the same batch."""
    setup, make = SETUPS[kind]
    params = reference.init_params(SIZES, seed=seed)
    X, y = batch(5)
    with keras_tools.floatx(dtype, 1e-15 if dtype == "float64" else None):
        model = keras_twin(SIZES, params, dtype=dtype)
        optimizer = make(setup)
        arrays, numpy_opt = keras_tools.flat(params), keras_tools.NumpyOptimizer(setup, adam_epsilon)
        for _ in range(steps):
            arrays = numpy_opt.step(arrays, keras_tools.flat(keras_tools.numpy_gradients(keras_tools.pairs(arrays), X, y)[2]))
            grads = keras_tools.flat(keras_tools.keras_gradients(model, X, y)[1])
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return arrays, keras_tools.keras_weights(model)


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("steps", [1, 4])
def test_optimizer_steps_agree_in_float64(kind, steps):
    mine, theirs = run_steps(kind, steps)
    assert max(np.max(np.abs(a - b)) for a, b in zip(mine, theirs)) < TOL64


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_optimizer_steps_agree_in_float32(kind):
    mine, theirs = run_steps(kind, 3, dtype="float32")
    assert max(np.max(np.abs(a - b)) for a, b in zip(mine, theirs)) < TOL32


def test_textbook_adam_differs_from_keras_only_through_epsilon():
    """Large gradients: the forms agree to ~lr * eps / (sqrt(1 - beta2^t) |g|); tiny gradients: they differ visibly."""
    w, m, v = np.zeros(4), np.zeros(4), np.zeros(4)
    big = np.array([0.5, -1.0, 2.0, 0.1])
    tiny = np.array([1e-9, -3e-9, 2e-8, 0.0])
    for t in (1, 2, 3):
        textbook = reference.adam_update(w, big, m, v, t, 0.01)[0]
        keras_form = keras_tools.keras_style_adam_update(w, big, m, v, t, 0.01)[0]
        assert np.max(np.abs(textbook - keras_form)) < 0.01 * 1e-4
    textbook = reference.adam_update(w, tiny, m, v, 1, 0.01)[0]
    keras_form = keras_tools.keras_style_adam_update(w, tiny, m, v, 1, 0.01)[0]
    assert np.max(np.abs(textbook - keras_form)) > 1e-4
    assert textbook[3] == keras_form[3] == 0.0


def test_textbook_adam_against_keras_adam_on_digits_is_off_by_design():
    mine, theirs = run_steps("adam", 3, adam_epsilon="textbook")
    difference = max(np.max(np.abs(a - b)) for a, b in zip(mine, theirs))
    assert 1e-12 < difference < 0.05


# --- the lesson's own functions through the parity table -------------------------------------------
def solution_namespace():
    """Setup cell plus every solution cell of the lesson (the instructor's answers)."""
    nb = nbformat.read(ROOT / "solutions" / "07_keras" / "07_keras.ipynb", as_version=4)
    namespace = {"__name__": "__lesson__"}
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code[:1] + [c for c in code if is_solution(c)]:
        exec(compile(plain_python(cell.source), "<07_keras>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def lesson():
    return solution_namespace()


def test_parity_table_with_the_solution_functions(lesson, capsys):
    X, y = batch(6, m=16)
    results = keras_tools.parity_table(lesson["build_model"], lesson["transfer_weights"], lesson["compile_model"],
                                       lesson["max_abs_diff"], X, y, SIZES)
    printed = capsys.readouterr().out
    assert "tolerance" in printed and "float64" in printed
    for label, by_dtype in results.items():
        agree = all(diff <= keras_tools.TOLERANCE[d] for d, diff in by_dtype.items())
        assert agree == (label != "Adam, textbook epsilon placement"), (label, by_dtype)
    assert "neither float type" in keras_tools.parity_verdicts(results)


def test_parity_table_catches_a_transposed_transfer(lesson):
    def transposed(model, params):
        for layer, (W, b) in zip([l for l in model.layers if l.weights], params):
            layer.set_weights([np.asarray(W).T, b])
        return model
    X, y = batch(7, m=8, n=4, k=4)
    square = [4, 4, 4]
    results = keras_tools.parity_checks(lesson["build_model"], transposed, lesson["compile_model"],
                                        lesson["max_abs_diff"], X, y, square, dtypes=("float64",))
    assert results["forward: probabilities"]["float64"] > 1e-3
    assert results["gradients: backprop vs autodiff"]["float64"] > 1e-3


def test_parity_table_reports_unfinished_exercises(lesson, capsys):
    def stub(*args):
        raise NotImplementedError()
    assert keras_tools.parity_table(stub, lesson["transfer_weights"], lesson["compile_model"], lesson["max_abs_diff"],
                                    *batch(8), SIZES) is None
    assert "Implement" in capsys.readouterr().out
    assert keras_tools.parity_verdicts(None) == "The parity table is still empty."


def test_train_both_and_reports(lesson, capsys):
    X_train, y_train, X_test, y_test = keras_tools.digits_split()
    assert X_train.shape == (1440, 64) and X_test.shape == (357, 64)
    results = keras_tools.train_both(lesson["build_model"], lesson["transfer_weights"], lesson["compile_model"],
                                     X_train[:320], y_train[:320], [64, 16, 10],
                                     {"optimizer": "momentum", "lr": 0.05, "beta": 0.9}, num_epochs=3)
    for name in ("numpy", "keras"):
        history = results[name]
        assert len(history["loss"]) == len(history["accuracy"]) == len(history["seconds"]) == 3
        assert history["loss"][-1] < history["loss"][0]
    assert abs(results["numpy"]["loss"][-1] - results["keras"]["loss"][-1]) < 0.3
    assert "Keras / NumPy" in keras_tools.timing_report(results)
    keras_tools.test_report(lesson["evaluate_model"], results, X_test, y_test)
    out = capsys.readouterr().out
    assert "test accuracy   NumPy" in out and "test accuracy   Keras" in out
    keras_tools.test_report(lambda *a: (_ for _ in ()).throw(NotImplementedError()), results, X_test, y_test)
    assert "Implement evaluate_model" in capsys.readouterr().out
    fig = keras_tools.plot_curves(results)
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 2


def test_numpy_training_matches_keras_exactly_when_batches_match():
    """With identical batches (no shuffling) and float64, fit and the NumPy loop give the same epoch losses."""
    params = reference.init_params([8, 6, 3], seed=9)
    rng = np.random.default_rng(10)
    X, y = rng.normal(size=(32, 8)), rng.integers(0, 3, size=32)
    setup = {"optimizer": "momentum", "lr": 0.1, "beta": 0.9}
    history = keras_tools.train_numpy(params, X, y, setup, num_epochs=2, batch_size=32)
    with keras_tools.floatx("float64", 1e-15):
        model = keras_twin([8, 6, 3], params)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        fitted = model.fit(X, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
    assert np.max(np.abs(np.array(fitted.history["loss"]) - history["loss"])) < 1e-12
    assert max(np.max(np.abs(a - b)) for a, b in zip(keras_tools.flat(history["params"]),
                                                      keras_tools.keras_weights(model))) < 1e-12


# --- numbers the lesson's text states ---------------------------------------------------------------------
def solution_cells():
    return nbformat.read(ROOT / "solutions" / "07_keras" / "07_keras.ipynb", as_version=4).cells


def test_regularised_model_counts_follow_the_rule_in_the_text():
    """Section 8 prints the counts of its model; they follow the text's rule (2n per BatchNormalization, none
    for Dropout), and the 4 extra numbers in non_trainable_variables are the Dropout layers' generator state."""
    cells = solution_cells()
    index = next(i for i, c in enumerate(cells) if c.cell_type == "code" and "regularised = keras.Sequential(" in c.source)
    namespace = {"keras": keras, "np": np}
    exec(plain_python(cells[index].source).replace("print(", "str("), namespace)
    model = namespace["regularised"]
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    norms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    dropouts = [l for l in model.layers if isinstance(l, keras.layers.Dropout)]
    rule_frozen = sum(2 * l.gamma.shape[0] for l in norms)
    rule_trainable = sum(l.kernel.shape[0] * l.kernel.shape[1] + l.kernel.shape[1] for l in dense) + rule_frozen
    assert (namespace["trainable"], namespace["frozen"]) == (rule_trainable, rule_frozen) == (6762, 192)
    printed = "".join(o.get("text", "") for o in cells[index].outputs)
    assert printed == f"trainable parameters {rule_trainable}, non-trainable (running averages) {rule_frozen}\n"
    extra = sum(int(np.prod(v.shape)) for v in model.non_trainable_variables) - rule_frozen
    assert extra == 2 * len(dropouts) == 4
    assert all(not l.weights and l.non_trainable_variables for l in dropouts)
    text = cells[index + 1].source
    assert "= 192$" in text and "$4160 + 2080 + 330$" in text and "$6762$" in text and "would count 4 more" in text
    assert [reference.count_params([a, b]) for a, b in ((64, 64), (64, 32), (32, 10))] == [4160, 2080, 330]


def test_knowledge_check_numbers():
    text = "\n".join(c.source for c in solution_cells() if c.cell_type == "markdown")
    assert round(reference.count_params([64, 600, 10]), -3) == 45_000 and "about 45,000 parameters" in text
    assert round(reference.count_params([64, 64, 64, 64, 64, 10]), -3) == 17_000 and "(about 17,000)" in text
    z = np.array([-1.5, 0.0, 2.3])
    assert np.round(reference.sigmoid(z), 2).tolist() == [0.18, 0.5, 0.91] and "$(0.18, 0.5, 0.91)$" in text
    assert reference.relu(z).tolist() == [0.0, 0.0, 2.3] and "(c) $(0, 0, 2.3)$" in text
