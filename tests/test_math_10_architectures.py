"""Lesson 10 math: conv2d and max_pool against Keras's Conv2D and MaxPooling2D and direct loops; the RNN against
Keras's SimpleRNN and a JAX scan, and the widget's gradient through time against JAX autodiff; the worked LSTM step
against keras.layers.LSTM with the same weights (gate order i, f, c, o); attention against a JAX reference and
Keras's MultiHeadAttention with one head and identity projections, and the causal mask's defining property; the
linear autoencoder against PCA; the demos' gradients against central finite differences.

The functions checked are the ones defined in the lesson's solution notebook, in float64.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nncourse import architecture_widgets as aw  # noqa: E402
from nncourse import data  # noqa: E402
from tests.test_math_05_backprop import central, jax, jnp  # noqa: E402  (JAX in float64 on the CPU, set up there)
from tests.validity import ROOT, Exercises, plain_python  # noqa: E402

ex = Exercises("10_architectures", solutions_only=True)
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def lesson():
    """The solution notebook's namespace after every exercise cell has run."""
    return ex.context("q1")


@pytest.fixture(scope="module")
def lstm_step():
    """The worked LSTM step, taken from the notebook's cell that defines it."""
    nb = nbformat.read(ROOT / "solutions" / "10_architectures" / "10_architectures.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.cell_type == "code" and "def lstm_step" in c.source)
    namespace = {"np": np}
    exec(compile(plain_python(source.split("\nn_h = ")[0]), "<lstm cell>", "exec"), namespace)
    return namespace["lstm_step"]


@pytest.fixture(scope="module")
def keras():
    """Keras with float64 as the default float type (recurrent cells build their state in it), restored after."""
    keras = pytest.importorskip("keras")
    from nncourse.keras_tools import floatx

    with floatx("float64"):
        yield keras


# --- convolution and pooling ----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_conv2d_matches_keras_conv2d_and_a_direct_loop(lesson, keras, seed):
    rng = np.random.default_rng(seed)
    H, W, kh, kw = rng.integers(4, 10), rng.integers(4, 10), rng.integers(1, 4), rng.integers(1, 4)
    image, kernel = rng.normal(size=(H, W)), rng.normal(size=(kh, kw))
    layer = keras.layers.Conv2D(1, (kh, kw), use_bias=False, dtype="float64")
    layer.build((1, H, W, 1))
    layer.set_weights([kernel[:, :, None, None]])
    want = np.asarray(layer(image[None, :, :, None]))[0, :, :, 0]
    got = lesson["conv2d"](image, kernel)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    loop = np.zeros((H - kh + 1, W - kw + 1))
    for i in range(loop.shape[0]):
        for j in range(loop.shape[1]):
            for u in range(kh):
                for v in range(kw):
                    loop[i, j] += image[i + u, j + v] * kernel[u, v]
    np.testing.assert_allclose(got, loop, rtol=1e-12, atol=1e-12)


def test_conv2d_is_cross_correlation_not_convolution(lesson):
    scipy_signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(7)
    image, kernel = rng.normal(size=(8, 8)), rng.normal(size=(3, 2))
    np.testing.assert_allclose(lesson["conv2d"](image, kernel), scipy_signal.correlate2d(image, kernel, mode="valid"))
    assert not np.allclose(lesson["conv2d"](image, kernel), scipy_signal.convolve2d(image, kernel, mode="valid"))


@pytest.mark.parametrize("shape, size", [((6, 6), 2), ((7, 5), 2), ((9, 10), 3), ((8, 8), 1)])
def test_max_pool_matches_keras_max_pooling_including_leftovers(lesson, keras, shape, size):
    image = np.random.default_rng(size).normal(size=shape)
    layer = keras.layers.MaxPooling2D(size, dtype="float64")
    want = np.asarray(layer(image[None, :, :, None]))[0, :, :, 0]
    np.testing.assert_array_equal(lesson["max_pool"](image, size), want)


def test_parameter_counts_of_the_keras_cnn_and_mlp(keras):
    cnn = keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Conv2D(8, 3), keras.layers.MaxPooling2D(2),
                            keras.layers.Flatten(), keras.layers.Dense(10)])
    assert cnn.layers[0].count_params() == 3 * 3 * 1 * 8 + 8 == 80 and cnn.count_params() == 810
    conv = keras.Sequential([keras.Input(shape=(28, 28, 3)), keras.layers.Conv2D(16, 3)])
    assert conv.count_params() == 448  # knowledge-check q6


# --- recurrence -----------------------------------------------------------------------------------------
def rnn_arrays(seed, m=3, T=6, n_in=4, n_h=5):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(m, T, n_in)), rng.normal(size=(m, n_h)), rng.normal(size=(n_in, n_h)),
            rng.normal(size=(n_h, n_h)) * 0.6, rng.normal(size=n_h))


@pytest.mark.parametrize("seed", SEEDS)
def test_rnn_forward_matches_keras_simple_rnn(lesson, keras, seed):
    X, h0, Wx, Wh, b = rnn_arrays(seed)
    X, h0, Wx, Wh, b = (a.astype(np.float32).astype(float) for a in (X, h0, Wx, Wh, b))  # Keras's recurrent
    layer = keras.layers.SimpleRNN(Wh.shape[0], return_sequences=True, dtype="float32")  # layers run in float32 here
    layer.build(X.shape)
    layer.set_weights([Wx, Wh, b])
    want = np.asarray(layer(X.astype(np.float32), initial_state=[h0.astype(np.float32)]))
    np.testing.assert_allclose(lesson["rnn_forward"](X, h0, Wx, Wh, b), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_rnn_forward_matches_a_jax_scan(lesson, seed):
    X, h0, Wx, Wh, b = rnn_arrays(seed)

    def step(h, x):
        h = jnp.tanh(x @ Wx + h @ Wh + b)
        return h, h

    _, states = jax.lax.scan(step, jnp.asarray(h0), jnp.swapaxes(jnp.asarray(X), 0, 1))
    np.testing.assert_allclose(lesson["rnn_forward"](X, h0, Wx, Wh, b), np.swapaxes(np.asarray(states), 0, 1),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.5])
def test_gradient_through_time_matches_jax_autodiff(lesson, scale):
    """The widget's backward recursion: ||d sum(h_T) / d h_t|| for every t, against JAX's gradient."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2, 12, 3))
    Wx, Wh, b = aw.random_rnn(3, 6, scale, seed=1)
    H = lesson["rnn_forward"](X, np.zeros((2, 6)), Wx, Wh, b)
    norms = aw.gradient_through_time(H, Wh)

    def last_from(h, t):  # sum of h_T as a function of h_t (one sequence), steps t+1..T
        for s in range(t + 1, X.shape[1]):
            h = jnp.tanh(X[k, s] @ Wx + h @ Wh + b)
        return jnp.sum(h)

    for t in range(X.shape[1]):
        per_sequence = []
        for k in range(2):
            per_sequence.append(np.linalg.norm(np.asarray(jax.grad(last_from)(jnp.asarray(H[k, t]), t))))
        assert norms[t] == pytest.approx(np.mean(per_sequence), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("seed", SEEDS)
def test_lstm_step_matches_keras_lstm_with_the_same_weights(lstm_step, keras, seed):
    rng = np.random.default_rng(seed)
    m, T, n_in, n_h = 3, 5, 4, 3
    X = rng.normal(size=(m, T, n_in))
    kernel, recurrent, bias = rng.normal(size=(n_in, 4 * n_h)), rng.normal(size=(n_h, 4 * n_h)), rng.normal(size=4 * n_h)
    h0, c0 = rng.normal(size=(m, n_h)), rng.normal(size=(m, n_h))
    X, kernel, recurrent, bias, h0, c0 = (a.astype(np.float32).astype(float) for a in (X, kernel, recurrent, bias, h0, c0))
    layer = keras.layers.LSTM(n_h, return_sequences=True, return_state=True, dtype="float32")
    layer.build(X.shape)
    layer.set_weights([kernel, recurrent, bias])
    want, want_h, want_c = (np.asarray(a) for a in layer(X.astype(np.float32),
                                                          initial_state=[h0.astype(np.float32), c0.astype(np.float32)]))
    h, c, states = h0, c0, []
    for t in range(T):
        h, c = lstm_step(X[:, t], h, c, kernel, recurrent, bias)
        states.append(h)
    np.testing.assert_allclose(np.stack(states, axis=1), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, want_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, want_c, rtol=1e-5, atol=1e-6)


def test_lstm_gate_order_matters(lstm_step):
    """Swapping the input and forget blocks changes the result, so the order i, f, c, o is really tested."""
    rng = np.random.default_rng(4)
    x, h, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    kernel, recurrent, bias = rng.normal(size=(3, 8)), rng.normal(size=(2, 8)), rng.normal(size=8)
    swap = np.r_[2:4, 0:2, 4:8]
    assert not np.allclose(lstm_step(x, h, c, kernel, recurrent, bias)[1],
                           lstm_step(x, h, c, kernel[:, swap], recurrent[:, swap], bias[swap])[1])


# --- attention ------------------------------------------------------------------------------------------
def jax_attention(Q, K, V, causal):
    S = jnp.asarray(Q) @ jnp.asarray(K).T / jnp.sqrt(Q.shape[1])
    if causal:
        i, j = jnp.indices(S.shape)
        S = jnp.where(j <= i, S, -jnp.inf)
    A = jax.nn.softmax(S, axis=-1)
    return np.asarray(A @ jnp.asarray(V)), np.asarray(A)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_jax(lesson, seed, causal):
    rng = np.random.default_rng(seed)
    n_q, n_k, d, d_v = 4, 4 if causal else 6, 5, 3
    Q, K, V = rng.normal(size=(n_q, d)) * 3, rng.normal(size=(n_k, d)) * 3, rng.normal(size=(n_k, d_v))
    out, weights = lesson["attention"](Q, K, V, causal=causal)
    want_out, want_weights = jax_attention(Q, K, V, causal)
    np.testing.assert_allclose(weights, want_weights, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(out, want_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)


def test_attention_matches_keras_multi_head_attention_with_one_head(lesson, keras):
    rng = np.random.default_rng(5)
    d = 4
    Q, K, V = rng.normal(size=(5, d)), rng.normal(size=(6, d)), rng.normal(size=(6, d))
    layer = keras.layers.MultiHeadAttention(num_heads=1, key_dim=d, dtype="float64")
    layer(Q[None], V[None], key=K[None])
    eye = np.eye(d)[:, None, :]
    layer.set_weights([eye, np.zeros((1, d)), eye, np.zeros((1, d)), eye, np.zeros((1, d)),
                       np.eye(d)[None, :, :], np.zeros(d)])
    for causal in (False, True):
        got_out, got_weights = lesson["attention"](Q[:5], K[:5] if causal else K, V[:5] if causal else V, causal=causal)
        out, scores = layer(Q[None], (V[:5] if causal else V)[None], key=(K[:5] if causal else K)[None],
                            return_attention_scores=True, use_causal_mask=causal)
        np.testing.assert_allclose(got_weights, np.asarray(scores)[0, 0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got_out, np.asarray(out)[0], rtol=1e-9, atol=1e-12)


def test_causal_attention_ignores_the_future(lesson):
    """Changing keys and values after position i leaves the outputs of queries 0..i unchanged."""
    rng = np.random.default_rng(6)
    Q, K, V = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    out, weights = lesson["attention"](Q, K, V, causal=True)
    assert np.all(weights[np.triu_indices(6, 1)] == 0.0)
    for i in range(5):
        K2, V2 = K.copy(), V.copy()
        K2[i + 1:], V2[i + 1:] = rng.normal(size=K2[i + 1:].shape) * 10, rng.normal(size=V2[i + 1:].shape) * 10
        out2, _ = lesson["attention"](Q, K2, V2, causal=True)
        np.testing.assert_allclose(out2[:i + 1], out[:i + 1], rtol=1e-12)
        assert not np.allclose(out2[i + 1:], out[i + 1:])


def test_attention_is_stable_for_huge_scores(lesson):
    Q, K, V = np.array([[1e4, 0.0], [0.0, 1e4]]), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.eye(3)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        _, weights = lesson["attention"](Q, K, V)
    np.testing.assert_allclose(weights, jax_attention(Q, K, V, False)[1], atol=1e-12)


def test_attention_explorer_tokens_have_query_key_and_value_vectors():
    Q, K, V = aw.token_vectors()
    assert Q.shape == K.shape == V.shape == (len(aw.TOKENS), 8)


# --- autoencoders ---------------------------------------------------------------------------------------
def test_pca_autoencoder_matches_scikit_learn_pca():
    decomposition = pytest.importorskip("sklearn.decomposition")
    X, _ = data.digits()
    for k in (1, 5, 20):
        mean, W_enc, W_dec = aw.pca_autoencoder(X, k)
        pca = decomposition.PCA(n_components=k, svd_solver="full").fit(X)
        np.testing.assert_allclose((X - mean) @ W_enc @ W_dec + mean, pca.inverse_transform(pca.transform(X)), atol=1e-9)


@pytest.mark.parametrize("k", [2, 8])
def test_linear_autoencoder_learns_the_pca_subspace(k):
    X = data.digits()[0][:500]
    mean, W_enc, W_dec, losses = aw.train_linear_autoencoder(X, k, num_steps=400, lr=0.01, seed=0)
    pca_mean, P_enc, P_dec = aw.pca_autoencoder(X, k)
    pca_error = aw.reconstruction_error(X, (X - pca_mean) @ P_enc @ P_dec + pca_mean)
    ae_error = aw.reconstruction_error(X, (X - mean) @ W_enc @ W_dec + mean)
    assert pca_error <= ae_error <= pca_error * 1.01  # PCA is the optimum; the trained one gets within 1 %
    assert losses[-1] < 0.8 * losses[0]
    basis, _ = np.linalg.qr(W_dec.T)  # the decoder's rows span the same subspace as the top k principal directions
    overlap = np.linalg.svd(P_dec @ basis, compute_uv=False)
    assert overlap.min() > 0.95


def test_autoencoder_gradients_match_finite_differences_and_jax():
    rng = np.random.default_rng(8)
    Xc, W_enc, W_dec = rng.normal(size=(7, 5)), rng.normal(size=(5, 2)), rng.normal(size=(2, 5))
    _, (d_enc, d_dec) = aw.autoencoder_gradients(Xc, W_enc, W_dec)
    np.testing.assert_allclose(d_enc, central(lambda W: aw.autoencoder_gradients(Xc, W, W_dec)[0], W_enc), rtol=1e-6)
    np.testing.assert_allclose(d_dec, central(lambda W: aw.autoencoder_gradients(Xc, W_enc, W)[0], W_dec), rtol=1e-6)
    loss = lambda We, Wd: jnp.mean((Xc @ We @ Wd - Xc) ** 2)
    j_enc, j_dec = jax.grad(loss, argnums=(0, 1))(W_enc, W_dec)
    np.testing.assert_allclose(d_enc, j_enc, rtol=1e-12)
    np.testing.assert_allclose(d_dec, j_dec, rtol=1e-12)


# --- the GAN demo ---------------------------------------------------------------------------------------
def test_gan_gradients_match_jax_and_finite_differences():
    rng = np.random.default_rng(9)
    real, fake, z = rng.normal(4, 1.25, size=16), rng.normal(size=16), rng.normal(size=16)
    w, a, c = np.array([0.3, -0.7, 0.4]), 1.3, 0.5

    def d_loss(w):
        logit = lambda x: w[0] + w[1] * x / 4 + w[2] * (x / 4) ** 2
        return -jnp.mean(jax.nn.log_sigmoid(logit(real))) - jnp.mean(jax.nn.log_sigmoid(-logit(fake)))

    def g_loss(ac):
        x = ac[0] * z + ac[1]
        return -jnp.mean(jax.nn.log_sigmoid(w[0] + w[1] * x / 4 + w[2] * (x / 4) ** 2))

    loss, grad_w = aw.discriminator_gradient(real, fake, w)
    assert loss == pytest.approx(float(d_loss(w)), rel=1e-9)
    np.testing.assert_allclose(grad_w, jax.grad(d_loss)(w), rtol=1e-9)
    np.testing.assert_allclose(grad_w, central(lambda v: aw.discriminator_gradient(real, fake, v)[0], w), rtol=1e-6)
    loss, grads = aw.generator_gradient(z, a, c, w)
    assert loss == pytest.approx(float(g_loss(np.array([a, c]))), rel=1e-9)
    np.testing.assert_allclose(grads, jax.grad(g_loss)(np.array([a, c])), rtol=1e-9)


def test_gan_is_seeded_and_moves_the_generator_towards_the_data():
    first, second = aw.train_gan(lr=0.05, num_steps=300), aw.train_gan(lr=0.05, num_steps=300)
    assert first["c"] == second["c"] and first["a"] == second["a"]
    run = aw.train_gan(lr=0.05, num_steps=1000)
    assert abs(run["c"][-1] - aw.REAL_MEAN) < 0.5 and len(run["c"]) == 1001 and len(run["d_loss"]) == 1000
