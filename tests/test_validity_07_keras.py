"""Lesson 07 grading validity: stubs fail, solutions pass, typical Keras mistakes are caught, other correct answers pass.

The Keras exercises' tests build their own tiny models, so each exercise's context runs only the setup
cell and earlier answers (the parity table and the training runs are skipped): fast.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tests.validity import Exercises, is_solution  # noqa: E402


ex = Exercises("07_keras", solutions_only=True)  # skip the parity table and training runs
Dense, Input, Sequential = keras.layers.Dense, keras.Input, keras.Sequential


# --- build_model ------------------------------------------------------------------------------------
@ex.wrong("build_model", "softmax applied on every layer")
def build_model(sizes, activation="relu"):
    return Sequential([Input((sizes[0],))] + [Dense(n, activation="softmax") for n in sizes[1:]])


@ex.wrong("build_model", "no softmax on the output layer")
def build_model(sizes, activation="relu"):
    return Sequential([Input((sizes[0],))] + [Dense(n, activation=activation) for n in sizes[1:-1]] + [Dense(sizes[-1])])


@ex.wrong("build_model", "ignores the activation argument (always relu)")
def build_model(sizes, activation="relu"):
    return Sequential([Input((sizes[0],))] + [Dense(n, activation="relu") for n in sizes[1:-1]]
                      + [Dense(sizes[-1], activation="softmax")])


@ex.wrong("build_model", "a Dense layer for the input size too")
def build_model(sizes, activation="relu"):
    return Sequential([Input((sizes[0],))] + [Dense(n, activation=activation) for n in sizes[:-1]]
                      + [Dense(sizes[-1], activation="softmax")])


@ex.wrong("build_model", "activation also on the output, softmax applied after it")
def build_model(sizes, activation="relu"):
    return Sequential([Input((sizes[0],))] + [Dense(n, activation=activation) for n in sizes[1:]]
                      + [keras.layers.Softmax()])


@ex.right("build_model", "separate Activation layers")
def build_model(sizes, activation="relu"):
    layers = [Input((sizes[0],))]
    for n in sizes[1:-1]:
        layers += [Dense(n), keras.layers.Activation(activation)]
    return Sequential(layers + [Dense(sizes[-1]), keras.layers.Softmax()])


@ex.right("build_model", "functional API with activation functions")
def build_model(sizes, activation="relu"):
    inputs = Input((sizes[0],))
    x = inputs
    for n in sizes[1:-1]:
        x = Dense(n, activation=keras.activations.get(activation))(x)
    return keras.Model(inputs, Dense(sizes[-1], activation=keras.activations.softmax)(x))


# --- transfer_weights -------------------------------------------------------------------------------
def dense_layers(model):
    return [layer for layer in model.layers if layer.weights]


@ex.wrong("transfer_weights", "W transposed")
def transfer_weights(model, params):
    for layer, (W, b) in zip(dense_layers(model), params):
        layer.set_weights([np.asarray(W).T, b])
    return model


@ex.wrong("transfer_weights", "W and b swapped")
def transfer_weights(model, params):
    for layer, (W, b) in zip(dense_layers(model), params):
        layer.set_weights([b, W])
    return model


@ex.wrong("transfer_weights", "layers in reverse order")
def transfer_weights(model, params):
    for layer, (W, b) in zip(dense_layers(model), reversed(params)):
        layer.set_weights([W, b])
    return model


@ex.wrong("transfer_weights", "biases not copied")
def transfer_weights(model, params):
    for layer, (W, b) in zip(dense_layers(model), params):
        layer.set_weights([W, np.zeros_like(b)])
    return model


@ex.wrong("transfer_weights", "only the first layer")
def transfer_weights(model, params):
    dense_layers(model)[0].set_weights(list(params[0]))
    return model


@ex.wrong("transfer_weights", "builds a new model instead of filling the given one")
def transfer_weights(model, params):
    twin = keras.models.clone_model(model)
    twin.set_weights([a for pair in params for a in pair])
    return twin


@ex.wrong("transfer_weights", "model.set_weights with the flattened list (breaks on BatchNormalization)")
def transfer_weights(model, params):
    model.set_weights([np.asarray(a) for pair in params for a in pair])
    return model


@ex.wrong("transfer_weights", "every layer that has weights (BatchNormalization gets a Dense pair)")
def transfer_weights(model, params):
    for layer, (W, b) in zip(dense_layers(model), params):
        layer.set_weights([np.asarray(W), np.asarray(b)])
    return model


@ex.right("transfer_weights", "layers picked by class name, weights assigned one by one")
def transfer_weights(model, params):
    pairs = iter(params)
    for layer in model.layers:
        if type(layer).__name__ == "Dense":
            W, b = next(pairs)
            layer.kernel.assign(np.asarray(W))
            layer.bias.assign(np.asarray(b))
    return model


@ex.right("transfer_weights", "assign to kernel and bias variables")
def transfer_weights(model, params):
    for layer, (W, b) in zip([l for l in model.layers if isinstance(l, keras.layers.Dense)], params):
        layer.kernel.assign(W)
        layer.bias.assign(b)
    return model


# --- compile_model ----------------------------------------------------------------------------------
def optimizer_for(setup, momentum_default=None, adam_defaults=False, swap_betas=False, ignore=()):
    """The Keras optimizer for setup; `ignore` names settings left at Keras's defaults (a silently ignored key)."""
    setup = {key: value for key, value in setup.items() if key not in ignore}
    kind, lr = setup["optimizer"], setup.get("lr", 0.01 if setup["optimizer"] != "adam" else 0.001)
    if kind == "sgd":
        return keras.optimizers.SGD(learning_rate=lr)
    if kind == "momentum":
        return keras.optimizers.SGD(learning_rate=lr, momentum=setup.get("beta", 0.0) if momentum_default is None else momentum_default)
    if adam_defaults:
        return "adam"
    b1, b2 = (setup.get("beta1", 0.9), setup.get("beta2", 0.999))
    b1, b2 = (b2, b1) if swap_betas else (b1, b2)
    return keras.optimizers.Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=setup.get("eps", 1e-7))


def compiled_ignoring(*keys):
    """A compile_model that drops these keys of setup on the way to the optimizer."""
    def compile_model(model, setup):
        model.compile(optimizer=optimizer_for(setup, ignore=keys), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model
    return compile_model


for _key in ("lr", "beta1", "beta2", "eps"):
    ex.wrong("compile_model", f"setup['{_key}'] silently ignored (Keras's default used)")(compiled_ignoring(_key))


@ex.wrong("compile_model", "from_logits=True on softmax outputs (softmax twice)")
def compile_model(model, setup):
    model.compile(optimizer=optimizer_for(setup), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@ex.wrong("compile_model", "categorical_crossentropy with integer labels")
def compile_model(model, setup):
    model.compile(optimizer=optimizer_for(setup), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@ex.wrong("compile_model", "momentum forgotten (plain SGD)")
def compile_model(model, setup):
    model.compile(optimizer=optimizer_for(setup, momentum_default=0.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@ex.wrong("compile_model", "momentum fixed at 0.9")
def compile_model(model, setup):
    model.compile(optimizer=optimizer_for(setup, momentum_default=0.9), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@ex.wrong("compile_model", "optimizer string 'adam' (default learning rate)")
def compile_model(model, setup):
    model.compile(optimizer=optimizer_for(setup, adam_defaults=True), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@ex.wrong("compile_model", "beta1 and beta2 swapped")
def compile_model(model, setup):
    model.compile(optimizer=optimizer_for(setup, swap_betas=True), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@ex.wrong("compile_model", "no accuracy metric")
def compile_model(model, setup):
    model.compile(optimizer=optimizer_for(setup), loss="sparse_categorical_crossentropy")
    return model


@ex.wrong("compile_model", "mean squared error loss")
def compile_model(model, setup):
    model.compile(optimizer=optimizer_for(setup), loss="mse", metrics=["accuracy"])
    return model


@ex.right("compile_model", "loss and metric objects, optimizer from a table")
def compile_model(model, setup):
    table = {"sgd": lambda s: keras.optimizers.SGD(s["lr"], momentum=0.0),
             "momentum": lambda s: keras.optimizers.SGD(s["lr"], momentum=s["beta"], nesterov=False),
             "adam": lambda s: keras.optimizers.Adam(s["lr"], s["beta1"], s["beta2"], s["eps"])}
    model.compile(optimizer=table[setup["optimizer"]](setup),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return model


@ex.right("compile_model", "loss function and metric name spelled out")
def compile_model(model, setup):
    model.compile(optimizer=optimizer_for(setup), loss=keras.losses.sparse_categorical_crossentropy,
                  metrics=["sparse_categorical_accuracy"])
    return model


# --- max_abs_diff -----------------------------------------------------------------------------------
def leaves(x):
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in leaves(item)]
    return [np.asarray(x, dtype=float)]


@ex.wrong("max_abs_diff", "broadcasts mismatched shapes")
def max_abs_diff(a, b):
    if len(leaves(a)) != len(leaves(b)):
        raise ValueError("count")
    return max(float(np.max(np.abs(x - y))) for x, y in zip(leaves(a), leaves(b)))


@ex.wrong("max_abs_diff", "signed difference")
def max_abs_diff(a, b):
    pairs = list(zip(leaves(a), leaves(b)))
    if len(leaves(a)) != len(leaves(b)) or any(x.shape != y.shape for x, y in pairs):
        raise ValueError("mismatch")
    return max(float(np.max(x - y)) for x, y in pairs)


@ex.wrong("max_abs_diff", "mean instead of max")
def max_abs_diff(a, b):
    pairs = list(zip(leaves(a), leaves(b)))
    if len(leaves(a)) != len(leaves(b)) or any(x.shape != y.shape for x, y in pairs):
        raise ValueError("mismatch")
    return float(np.mean(np.concatenate([np.abs(x - y).ravel() for x, y in pairs])))


@ex.wrong("max_abs_diff", "zip silently drops extra arrays")
def max_abs_diff(a, b):
    pairs = list(zip(leaves(a), leaves(b)))
    if any(x.shape != y.shape for x, y in pairs):
        raise ValueError("mismatch")
    return max(float(np.max(np.abs(x - y))) for x, y in pairs)


@ex.wrong("max_abs_diff", "only the first array of a list")
def max_abs_diff(a, b):
    x, y = leaves(a)[0], leaves(b)[0]
    if x.shape != y.shape or len(leaves(a)) != len(leaves(b)):
        raise ValueError("mismatch")
    return float(np.max(np.abs(x - y)))


@ex.wrong("max_abs_diff", "two levels of nesting only")
def max_abs_diff(a, b):
    def two_levels(x):
        if not isinstance(x, (list, tuple)):
            return [np.asarray(x, dtype=float)]
        return [np.asarray(leaf, dtype=float) for item in x
                for leaf in (item if isinstance(item, (list, tuple)) else [item])]
    pairs = list(zip(two_levels(a), two_levels(b)))
    if len(two_levels(a)) != len(two_levels(b)) or any(x.shape != y.shape for x, y in pairs):
        raise ValueError("mismatch")
    return max(float(np.max(np.abs(x - y))) for x, y in pairs)


@ex.wrong("max_abs_diff", "flat lists only (np.asarray on nested pairs)")
def max_abs_diff(a, b):
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError("mismatch")
    return float(np.max(np.abs(x - y)))


@ex.right("max_abs_diff", "iterative flattening with a stack and np.ptp-free loop")
def max_abs_diff(a, b):
    def flatten(x):
        stack, out = [x], []
        while stack:
            item = stack.pop()
            if isinstance(item, (list, tuple)):
                stack.extend(reversed(item))
            else:
                out.append(np.asarray(item, dtype=np.float64))
        return out
    left, right = flatten(a), flatten(b)
    if len(left) != len(right) or [x.shape for x in left] != [y.shape for y in right]:
        raise ValueError("the two sides do not have the same structure")
    diffs = [np.abs(x - y).ravel() for x, y in zip(left, right)]
    return float(np.concatenate(diffs).max()) if diffs else 0.0


# --- evaluate_model ---------------------------------------------------------------------------------
@ex.wrong("evaluate_model", "argmax over axis 0")
def evaluate_model(model, X, y):
    y_hat = np.argmax(np.asarray(model(np.asarray(X))), axis=0)
    return y_hat, float(np.mean(y_hat == y)) if y_hat.shape == np.shape(y) else 0.0


@ex.wrong("evaluate_model", "number of correct predictions instead of the fraction")
def evaluate_model(model, X, y):
    y_hat = np.argmax(np.asarray(model(np.asarray(X))), axis=1)
    return y_hat, float(np.sum(y_hat == np.asarray(y)))


@ex.wrong("evaluate_model", "returns probabilities instead of classes")
def evaluate_model(model, X, y):
    probs = np.asarray(model(np.asarray(X)))
    return probs, float(np.mean(np.argmax(probs, axis=1) == np.asarray(y)))


@ex.wrong("evaluate_model", "error rate instead of accuracy")
def evaluate_model(model, X, y):
    y_hat = np.argmax(np.asarray(model(np.asarray(X))), axis=1)
    return y_hat, float(np.mean(y_hat != np.asarray(y)))


@ex.wrong("evaluate_model", "argmin instead of argmax")
def evaluate_model(model, X, y):
    y_hat = np.argmin(np.asarray(model(np.asarray(X))), axis=1)
    return y_hat, float(np.mean(y_hat == np.asarray(y)))


@ex.wrong("evaluate_model", "accuracy returned as a one-element array")
def evaluate_model(model, X, y):
    y_hat = np.argmax(np.asarray(model(np.asarray(X))), axis=1)
    return y_hat, np.array([np.mean(y_hat == np.asarray(y))])


@ex.wrong("evaluate_model", "classes returned as floats")
def evaluate_model(model, X, y):
    y_hat = np.argmax(np.asarray(model(np.asarray(X))), axis=1).astype(float)
    return y_hat, float(np.mean(y_hat == np.asarray(y)))


@ex.right("evaluate_model", "direct call, loop over rows, list labels")
def evaluate_model(model, X, y):
    probs = np.asarray(model(np.asarray(X, dtype="float32")))
    y_hat = np.array([int(np.argmax(row)) for row in probs])
    return y_hat, sum(int(p == t) for p, t in zip(y_hat, list(y))) / len(y_hat)


# --- knowledge check --------------------------------------------------------------------------------
ANSWERS = {"q1": "b", "q2": "c", "q3": "a", "q4": "d", "q5": "b", "q6": "a", "q7": "c", "q8": "d"}
ex.multiple_choice(ANSWERS)

test_grading, test_every_exercise_has_enough_variants = ex.pytest_functions()


def test_lesson_has_the_promised_exercises():
    assert len([e for e in ex.exercise_ids() if not e.startswith("q")]) >= 5
    assert len([e for e in ex.exercise_ids() if e.startswith("q")]) >= 8


def test_knowledge_check_answers_match_the_solution():
    for question, right in ANSWERS.items():
        namespace = ex.context(question)
        exec(next(c.source for c in ex.solution.cells if is_solution(c) and c.metadata["nbgrader"]["grade_id"] == question),
             namespace)
        assert namespace[question] == right
