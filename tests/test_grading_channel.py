"""The grading channel in one process: plain data only, hidden checks by number, the student's side untrusted."""
import json
import sys

import numpy as np
import pytest

from publish import notebooks

sys.path.insert(0, str(notebooks.ROOT / "autograder"))  # the sandbox imports these files as top-level modules
import student_kernel  # noqa: E402
import tester  # noqa: E402
import wire  # noqa: E402


class Shell:
    """The part of IPython's shell the student's side uses."""

    def __init__(self, namespace):
        self.user_ns = namespace


class LocalChannel(tester.Channel):
    """The tester's channel wired straight to a student namespace (what executor + kernel do, minus processes)."""

    def __init__(self, namespace, serve=None):
        super().__init__(None, None)
        self.shell, self.serve = Shell(namespace), serve

    def request(self, message):
        text = wire.dumps(message)
        original = student_kernel.callback_stub

        def stub(number):
            def callback(*args, **kwargs):
                reply = self.run_callback({"callback": number, "args": wire.encode(args), "kwargs": wire.encode(kwargs)})
                return wire.decode(reply["ok"])
            return callback

        student_kernel.callback_stub = stub
        try:
            answer = self.serve(text) if self.serve else wire.dumps(student_kernel.Call(self.shell).run(wire.loads(text)))
        finally:
            student_kernel.callback_stub = original
        return wire.loads(answer)


def run(student_code, test_code, bindings=None, serve=None):
    """Verdict of test_code against the namespace student_code builds."""
    namespace = {}
    exec(student_code, namespace)
    checker = tester.Tester(LocalChannel(namespace, serve))
    checker.setup(bindings or {"np": ["numpy", None]})
    return checker.run(test_code)


@pytest.mark.parametrize("value", [None, True, 3, 2**70, -1.5, float("nan"), float("-inf"), 1 + 2j, "é\n", b"\x00\xff",
                                   [1, [2, (3, {"a": 4.5})]], np.arange(6, dtype=np.int16).reshape(2, 3),
                                   np.array([[1.5, np.nan]], dtype=np.float32), np.float32(2.5), np.bool_(True),
                                   np.zeros((0, 3)), np.array(7.0)])
def test_plain_data_round_trips_exactly(value):
    back = wire.decode(json.loads(wire.dumps(wire.encode(value))))
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        np.testing.assert_array_equal(back, value)
    elif value == value:
        assert back == value


class Sly(str):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value", [Sly("a"), np.array(["a"]), np.array([object()]), {1: 2}, object(), lambda: 1,
                                   [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])
def test_anything_else_is_refused(value):
    with pytest.raises(wire.NotPlainData):
        wire.encode(value)


@pytest.mark.parametrize("data", [{"$array": ["|O", [1], "AA=="]}, {"$array": ["<f8", [2], "AAAA"]}, {"$x": 1},
                                  {"a": 1, "b": 2}, {"$tuple": "no"}, {"$dict": [[1, 2]]}])
def test_malformed_data_is_refused(data):
    with pytest.raises(wire.NotPlainData):
        wire.decode(data)


STUDENT = """
import numpy as np
def relu(z):
    return np.maximum(0.0, z)
def apply(f, z):
    return f(np.asarray(z, dtype=float))
def scale_in_place(x):
    x *= 2
    return x
def broken(z):
    raise ValueError("bad input")
def todo(z):
    raise NotImplementedError()
def sly(z):
    class Looks:
        def __array__(self, *args, **kwargs):
            return np.zeros(3)
    return Looks()
answer = "b"
"""


def test_a_correct_answer_passes_and_test_functions_are_called_back():
    verdict = run(STUDENT, "from nncourse.feedback import call, check_close\n"
                           "check_close('relu', call(relu, np.array([-1.0, 2.0])), [0.0, 2.0])\n"
                           "check_close('apply', call(apply, lambda v: v * 3, [1.0, 2.0]), [3.0, 6.0])\n"
                           "check_close('apply relu', call(apply, relu, [-1.0]), [0.0])\n"
                           "assert answer == 'b'\n")
    assert verdict["status"] == "ok", verdict


def test_mutations_and_identity_cross_back():
    verdict = run(STUDENT, "_x = np.array([1.0, 2.0])\n_r = scale_in_place(_x)\n"
                           "assert _r is _x, 'identity'\nassert _x.tolist() == [2.0, 4.0], _x\n")
    assert verdict["status"] == "ok", verdict


def test_failures_keep_their_kind_and_unfinished_stays_unfinished():
    assert run(STUDENT, "try:\n    broken(1)\nexcept ValueError as e:\n    assert 'bad input' in str(e)\n")["status"] == "ok"
    verdict = run(STUDENT, "from nncourse.feedback import call\ncall(todo, 1)\n")
    assert verdict["ename"] == "NotImplementedError"


def test_objects_that_imitate_arrays_fail_the_check():
    verdict = run(STUDENT, "from nncourse.feedback import call, check_close\ncheck_close('sly', call(sly, 1), np.zeros(3))\n")
    assert verdict["status"] == "error" and "not plain data" in verdict["evalue"]


def test_str_subclass_answers_are_unusable():
    verdict = run("class A(str):\n    def __eq__(self, o):\n        return True\nanswer = A('x')\n",
                  "from nncourse.feedback import check_choice\nassert check_choice('answer', answer) == 'b'\n")
    assert verdict["status"] == "error"


def test_hidden_checks_are_reported_by_number_only():
    source = ("from nncourse.feedback import call, check_close\n"
              "check_close('visible', call(relu, 1.0), 1.0)\n"
              "### BEGIN HIDDEN TESTS\n"
              "_secret = np.array([-3.0, 4.0])\n"
              "print('leak', _secret)\n"
              "check_close('secret label', call(relu, _secret), [99.0, 4.0])\n"
              "### END HIDDEN TESTS\n")
    verdict = run(STUDENT, source)
    assert verdict["evalue"] == "hidden check 3 of 3 failed"
    assert "secret" not in str(verdict) and "99" not in str(verdict) and "leak" not in verdict["stdout"]


def test_a_forged_channel_cannot_pass_a_test():
    def forge(text):
        return wire.dumps({"ok": 1.0, "names": {"relu": {"kind": "function"}}, "after": []})

    verdict = run(STUDENT, "from nncourse.feedback import call, check_close\n"
                           "check_close('relu', call(relu, np.array([-1.0, 2.0])), [0.0, 2.0])\n", serve=forge)
    assert verdict["status"] == "error"


def test_test_names_and_course_imports_are_not_taken_from_the_student():
    student = "import numpy as np\nclass FakeNumpy:\n    def allclose(self, *a, **k):\n        return True\n"
    verdict = run(student + "np = FakeNumpy()\n_expected = 1\n", "_expected = 2\nassert np.allclose(1, _expected) is False\n")
    assert verdict["status"] == "ok", verdict


def keras_modules():
    """keras (on JAX, as the course sets it up) and the grader's keras_wire."""
    from nncourse import keras_tools  # noqa: F401 - sets the backend before Keras is imported
    import keras
    import keras_wire
    return keras, keras_wire


def test_a_keras_model_crosses_as_its_description_with_exact_weights_and_compile_settings():
    keras, keras_wire = keras_modules()
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(5, activation="tanh"),
                              keras.layers.Dropout(0.25), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    description = wire.loads(wire.dumps(keras_wire.describe(model)))["$keras"]
    twin = keras_wire.build(description)
    assert [type(layer).__name__ for layer in twin.layers] == ["Dense", "Dropout", "Dense"]
    assert twin.layers[0].activation.__name__ == "tanh" and twin.layers[1].rate == 0.25
    for mine, theirs in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    X = np.linspace(-1.0, 1.0, 8).reshape(2, 4)
    np.testing.assert_array_equal(np.asarray(model.predict(X, verbose=0)), np.asarray(twin.predict(X, verbose=0)))
    assert type(twin.optimizer).__name__ == "SGD" and float(twin.optimizer.momentum) == 0.9
    assert abs(float(twin.optimizer.learning_rate) - 0.05) < 1e-7


@pytest.mark.parametrize("change", ["weights", "layer", "optimizer"])
def test_a_forged_keras_description_is_refused(change):
    keras, keras_wire = keras_modules()
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss="mse")
    description = wire.loads(wire.dumps(keras_wire.describe(model)))["$keras"]
    if change == "weights":  # weights of another shape than the layers they are said to belong to
        description["weights"][0] = wire.encode(np.ones((5, 3)))
    elif change == "layer":
        description["layers"][0][0] = "Lambda"
    else:
        description["compile"]["optimizer"][0] = "os.system"
    with pytest.raises(wire.NotPlainData):
        keras_wire.build(description)
