"""Lesson 10 widgets and demos: convolution, recurrence through time, attention, autoencoders and a 1-D GAN.

The convolution, recurrence and attention widgets take the student's own `conv2d`, `max_pool`, `rnn_forward` and
`attention` as arguments and say "Implement X above" while one is unfinished; nothing here computes what those
exercises ask for. The autoencoder and the GAN are worked demos in NumPy (seeded), with an LSTM step for the
worked LSTM section.
"""
import time

import ipywidgets as ipw
import numpy as np
from threadpoolctl import threadpool_limits

from nncourse import data, plots
from nncourse.live import STEP_SECONDS, LiveFigure, slider

KERNELS = {  # 3x3 kernels a student can start from (rows top to bottom)
    "vertical edges": [[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]],
    "horizontal edges": [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]],
    "blur": [[1 / 9] * 3] * 3,
    "identity": [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
}


def sigmoid(z):
    """The logistic function, without overflow warnings for large |z|."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


# --- convolution ------------------------------------------------------------------------------------
class ConvExplorer(LiveFigure):
    """A digit, the 3x3 kernel set by nine weight sliders, the student's conv2d feature map and its max-pooled map."""

    def __init__(self, conv2d, max_pool=None, index=0, kernel="vertical edges"):
        self.images = data.digits()[0].reshape(-1, 8, 8)
        panels = 4 if max_pool is not None else 3
        fig, axes = plots.figure(ncols=panels, figsize=(2.3 * panels, 2.6))
        titles = ["input digit (8x8)", "kernel (3x3)", "feature map conv2d (6x6)", "max_pool(feature map, 2) (3x3)"]
        self.artists = []
        for ax, title, shape in zip(axes, titles, [(8, 8), (3, 3), (6, 6), (3, 3)]):
            cmap, low = ("gray_r", 0.0) if title.startswith("input") else ("RdBu_r", -1.0)
            self.artists.append(ax.imshow(np.zeros(shape), cmap=cmap, vmin=low, vmax=1.0, interpolation="nearest"))
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        self.axes = axes
        weights = np.asarray(KERNELS[kernel], dtype=float)
        controls = {"index": slider("digit", index, 0, len(self.images) - 1, integer=True)}
        for r in range(3):
            for c in range(3):
                controls[f"w{r + 1}{c + 1}"] = slider(f"w{r + 1}{c + 1}", float(weights[r, c]), -2.0, 2.0, step=0.1)
        super().__init__({"conv2d": conv2d, "max_pool": max_pool}, controls, fig)

    def redraw(self, index, **weights):
        image = self.images[index]
        kernel = np.array([[weights[f"w{r + 1}{c + 1}"] for c in range(3)] for r in range(3)])
        feature = np.asarray(self.function(image, kernel), dtype=float)
        if feature.shape != (6, 6):
            raise ValueError(f"conv2d of an 8x8 image with a 3x3 kernel returned shape {feature.shape}, not (6, 6)")
        reach = max(np.abs(feature).max(), 1e-9)
        self.artists[0].set_data(image)
        self.artists[1].set_data(kernel)
        self.artists[1].set_clim(-2.0, 2.0)
        self.artists[2].set_data(feature)
        self.artists[2].set_clim(-reach, reach)
        self.axes[2].set_title(f"feature map conv2d (6x6)\nlargest |value| {reach:.2f}", fontsize=8)
        if "max_pool" in self.code:
            pooled = self.code.optional("max_pool", feature, 2)  # the convolution panels work without it
            if pooled is None:
                pooled, title = np.zeros((3, 3)), "implement max_pool to see\nthe pooled map here"
            else:
                pooled, title = np.asarray(pooled, dtype=float), "max_pool(feature map, 2) (3x3)"
            if pooled.shape != (3, 3):
                raise ValueError(f"max_pool of a 6x6 map with size 2 returned shape {pooled.shape}, not (3, 3)")
            self.artists[3].set_data(pooled)
            self.artists[3].set_clim(-reach, reach)
            self.axes[3].set_title(title, fontsize=8)


def conv_explorer(conv2d, max_pool=None, index=0, kernel="vertical edges"):
    """Nine kernel-weight sliders and a digit slider: the feature map of your conv2d (and your max_pool of it)."""
    return ConvExplorer(conv2d, max_pool, index=index, kernel=kernel).show()


# --- recurrence -------------------------------------------------------------------------------------
def random_rnn(n_in=3, n_h=16, scale=1.0, seed=0):
    """(Wx, Wh, b) of a tanh RNN: Wx ~ N(0, 1/n_in), Wh ~ N(0, scale^2/n_h), b = 0, drawn from default_rng(seed)."""
    rng = np.random.default_rng(seed)
    Wx = rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_in, n_h))
    Wh = rng.normal(0.0, scale / np.sqrt(n_h), size=(n_h, n_h))
    return Wx, Wh, np.zeros(n_h)


def gradient_through_time(H, Wh):
    """Norm of d h_T / d h_t (of the sum of the last hidden state) for every t = 1..T, from the hidden states H.

    H has shape (m, T, n_h) as rnn_forward returns it; going back one step multiplies by (1 - h_t^2) and Wh^T.
    The norms are averaged over the m sequences.
    """
    H = np.asarray(H, dtype=float)
    g = np.ones_like(H[:, -1])  # gradient of sum(h_T) with respect to h_T
    norms = [np.linalg.norm(g, axis=1).mean()]
    for t in range(H.shape[1] - 1, 0, -1):
        g = (g * (1.0 - H[:, t] ** 2)) @ Wh.T
        norms.append(np.linalg.norm(g, axis=1).mean())
    return np.array(norms[::-1])


class TimeGradient(LiveFigure):
    """How much of the last step's gradient reaches each earlier step of a tanh RNN (the student's rnn_forward)."""

    def __init__(self, rnn_forward, scale=1.0, length=40, n_h=16, m=8, seed=0):
        rng = np.random.default_rng(seed + 1)
        self.X = rng.normal(size=(m, 60, 3))
        self.n_h, self.seed = n_h, seed
        fig, ax = plots.figure(figsize=(6.4, 3.2))
        self.line, = ax.plot([], [], "-o", ms=3, color=plots.BLUE)
        ax.set_yscale("log")
        ax.set_ylim(1e-12, 1e4)
        ax.set_xlim(0.5, self.X.shape[1] + 0.5)  # fixed for every T: new limits would redraw the whole figure
        ax.set_xlabel("time step t (the last step is T)")
        ax.set_ylabel(r"$\|\partial h_T / \partial h_t\|$")
        ax.set_title(" ", fontsize=9)
        self.ax = ax
        controls = {"scale": slider("recurrent weight scale", scale, 0.1, 3.0, step=0.05),
                    "length": slider("time steps T", length, 5, self.X.shape[1], integer=True)}
        super().__init__(rnn_forward, controls, fig)

    def redraw(self, scale, length):
        Wx, Wh, b = random_rnn(3, self.n_h, scale, self.seed)
        H = np.asarray(self.function(self.X[:, :length], np.zeros((len(self.X), self.n_h)), Wx, Wh, b), dtype=float)
        if H.shape != (len(self.X), length, self.n_h):
            raise ValueError(f"rnn_forward returned shape {H.shape}, expected {(len(self.X), length, self.n_h)}")
        norms = gradient_through_time(H, Wh)
        self.line.set_data(np.arange(1, length + 1), np.clip(norms, 1e-12, 1e4))
        self.ax.set_title(f"gradient reaching step 1: {norms[0]:.1e} of what step T receives ({norms[-1]:.1f})",
                          fontsize=9)


def time_gradient(rnn_forward, scale=1.0, length=40):
    """A recurrent-weight-scale slider: how the gradient fades (or grows) going back in time through your rnn_forward."""
    return TimeGradient(rnn_forward, scale=scale, length=length).show()


def lstm_step(x, h, c, kernel, recurrent_kernel, bias):
    """One LSTM step with Keras's layout: the four gates side by side in the order i, f, c (candidate), o.

    x (m, n_in), h and c (m, n_h), kernel (n_in, 4 n_h), recurrent_kernel (n_h, 4 n_h), bias (4 n_h,).
    Returns the new (h, c).
    """
    z = x @ kernel + h @ recurrent_kernel + bias
    i, f, g, o = np.split(z, 4, axis=1)
    c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c_new), c_new


# --- attention --------------------------------------------------------------------------------------
TOKENS = ["the", "cat", "sat", "on", "the", "mat", "because", "it", "was", "warm"]


def token_vectors(d=8, seed=0):
    """Toy queries, keys and values for the sentence in TOKENS (seeded; related words get related vectors)."""
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(4, d))
    topic = [0, 1, 2, 3, 0, 1, 2, 1, 2, 3]  # "it" shares the topic of "cat" and "mat"
    E = topics[topic] + 0.5 * rng.normal(size=(len(TOKENS), d))
    return E, E + 0.3 * rng.normal(size=E.shape), E


class AttentionExplorer(LiveFigure):
    """The student's attention weights for a toy sentence as a heatmap, with the chosen query's row as bars."""

    def __init__(self, attention, query=7, temperature=1.0, causal=False):
        self.Q, self.K, self.V = token_vectors()
        n = len(TOKENS)
        fig, (ax, bars_ax) = plots.figure(ncols=2, figsize=(9.0, 3.8))
        self.image = ax.imshow(np.zeros((n, n)), cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
        labels = [f"{i}:{w}" for i, w in enumerate(TOKENS)]
        ax.set_xticks(range(n), labels, rotation=60, fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
        ax.set_xlabel("key (the word attended to)")
        ax.set_ylabel("query (the word asking)")
        self.box, = ax.plot([], [], color=plots.ORANGE, lw=2)
        self.bars = bars_ax.bar(range(n), np.zeros(n), color=plots.BLUE)
        bars_ax.set_xticks(range(n), labels, rotation=60, fontsize=7)
        bars_ax.set_ylim(0, 1.0)
        bars_ax.set_ylabel("attention weight")
        bars_ax.set_title(" ", fontsize=9)
        self.bars_ax = bars_ax
        controls = {"query": slider("query word", query, 0, n - 1, integer=True),
                    "temperature": slider("temperature", temperature, -1.0, 1.0, step=0.05, log=True),
                    "causal": ipw.Checkbox(value=causal, description="causal mask")}
        super().__init__(attention, controls, fig)

    def redraw(self, query, temperature, causal):
        result = self.function(self.Q / temperature, self.K, self.V, causal=causal)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise ValueError("attention should return a tuple (output, weights)")
        weights = np.asarray(result[1], dtype=float)
        if weights.shape != (len(TOKENS), len(TOKENS)):
            raise ValueError(f"the attention weights have shape {weights.shape}, expected {(len(TOKENS),) * 2}")
        self.image.set_data(weights)
        self.box.set_data([-0.5, len(TOKENS) - 0.5, len(TOKENS) - 0.5, -0.5, -0.5],
                          [query - 0.5, query - 0.5, query + 0.5, query + 0.5, query - 0.5])
        for bar, height in zip(self.bars, weights[query]):
            bar.set_height(height)
        top = int(np.argmax(weights[query]))
        self.bars_ax.set_title(f"query '{TOKENS[query]}' attends most to '{TOKENS[top]}' ({weights[query, top]:.2f})",
                               fontsize=9)


def attention_explorer(attention, query=7, temperature=1.0, causal=False):
    """Query-word, temperature and causal-mask controls over the attention weights of your attention function."""
    return AttentionExplorer(attention, query=query, temperature=temperature, causal=causal).show()


# --- autoencoders -----------------------------------------------------------------------------------
def pca_autoencoder(X, k):
    """The best linear autoencoder with k units, from PCA: (mean, W_enc (n, k), W_dec (k, n)), W_dec = W_enc.T."""
    X = np.asarray(X, dtype=float)
    mean = X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X - mean, full_matrices=False)
    return mean, Vt[:k].T, Vt[:k]


def reconstruction_error(X, X_hat):
    """Mean squared error per pixel."""
    return float(np.mean((np.asarray(X, dtype=float) - X_hat) ** 2))


def autoencoder_gradients(Xc, W_enc, W_dec):
    """(loss, (dW_enc, dW_dec)) of the mean squared error of the linear autoencoder Xc W_enc W_dec on centred Xc."""
    code = Xc @ W_enc
    residual = code @ W_dec - Xc
    scale = 2.0 / residual.size
    return float(np.mean(residual ** 2)), (scale * Xc.T @ (residual @ W_dec.T), scale * code.T @ residual)


def train_linear_autoencoder(X, k, num_steps=400, lr=0.01, seed=0):
    """A linear autoencoder X_hat = (X - mean) W_enc W_dec + mean, trained with Adam on the mean squared error.

    W_enc (n, k) and W_dec (k, n) start N(0, 0.1^2) from default_rng(seed); full batch. Returns
    (mean, W_enc, W_dec, losses) with the loss before every step.
    """
    X = np.asarray(X, dtype=float)
    mean = X.mean(axis=0)
    Xc = X - mean
    rng = np.random.default_rng(seed)
    params = [rng.normal(0.0, 0.1, size=(X.shape[1], k)), rng.normal(0.0, 0.1, size=(k, X.shape[1]))]
    moments = [[np.zeros_like(p) for p in params] for _ in range(2)]
    losses = []
    with threadpool_limits(1):  # products this small only lose time to BLAS threads on a busy machine
        for t in range(1, num_steps + 1):
            loss, grads = autoencoder_gradients(Xc, *params)
            losses.append(loss)
            for i, grad in enumerate(grads):
                moments[0][i] = 0.9 * moments[0][i] + 0.1 * grad
                moments[1][i] = 0.999 * moments[1][i] + 0.001 * grad ** 2
                m_hat, v_hat = moments[0][i] / (1 - 0.9 ** t), moments[1][i] / (1 - 0.999 ** t)
                params[i] = params[i] - lr * m_hat / (np.sqrt(v_hat) + 1e-8)
    return mean, params[0], params[1], losses


class BottleneckExplorer(LiveFigure):
    """Digits and their reconstructions through a linear autoencoder (PCA) with `units` code units."""

    def __init__(self, units=8, count=6):
        X, _ = data.digits()
        self.X = X
        self.shown = X[:count]
        with threadpool_limits(1):
            self.mean, _, self.Vt = pca_autoencoder(X, X.shape[1])
            # The error with k units is what the other components hold (Vt is orthonormal): one sum per k, once.
            held = np.sum(((X - self.mean) @ self.Vt.T) ** 2, axis=0)
        self.errors = np.append(np.cumsum(held[::-1])[::-1], 0.0) / X.size
        fig, axes = plots.figure(nrows=2, ncols=count, figsize=(1.3 * count, 3.0))
        self.images = []
        for j in range(count):
            axes[0, j].imshow(self.shown[j].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            self.images.append(axes[1, j].imshow(np.zeros((8, 8)), cmap="gray_r", vmin=0, vmax=1,
                                                 interpolation="nearest"))
            for ax in axes[:, j]:
                ax.set_xticks([])
                ax.set_yticks([])
        axes[0, 0].set_ylabel("input", fontsize=8)
        axes[1, 0].set_ylabel("output", fontsize=8)
        self.title = fig.suptitle(" ", fontsize=9)
        controls = {"units": slider("bottleneck units", units, 1, 64, integer=True)}
        super().__init__(None, controls, fig)

    def redraw(self, units):
        W = self.Vt[:units]
        X_hat = (self.shown - self.mean) @ W.T @ W + self.mean
        for image, row in zip(self.images, X_hat):
            image.set_data(np.clip(row.reshape(8, 8), 0, 1))
        self.title.set_text(f"64 pixels -> {units} numbers -> 64 pixels: mean squared error per pixel "
                            f"{self.errors[units]:.4f} over all {len(self.X)} digits")


def bottleneck_explorer(units=8):
    """A bottleneck-size slider: digits squeezed through a linear autoencoder with that many code units."""
    return BottleneckExplorer(units=units).show()


# --- a 1-D GAN --------------------------------------------------------------------------------------
REAL_MEAN, REAL_STD, FEATURE_SCALE = 4.0, 1.25, 4.0


def discriminator(x, w):
    """D(x) = sigmoid(w0 + w1 u + w2 u^2) with u = x / 4: a quadratic logistic classifier, real vs generated."""
    u = np.asarray(x, dtype=float) / FEATURE_SCALE
    return sigmoid(w[0] + w[1] * u + w[2] * u ** 2)


def features(x):
    """The discriminator's inputs (1, u, u^2) with u = x / 4, one column per example: shape (3, len(x))."""
    u = np.asarray(x, dtype=float) / FEATURE_SCALE
    return np.stack([np.ones_like(u), u, u ** 2])


def discriminator_gradient(real, fake, w):
    """(loss, dw) of the discriminator's cross-entropy -mean(log D(real)) - mean(log(1 - D(fake)))."""
    d_real, d_fake = discriminator(real, w), discriminator(fake, w)
    loss = -np.mean(np.log(d_real + 1e-12)) - np.mean(np.log(1.0 - d_fake + 1e-12))
    return float(loss), features(real) @ (d_real - 1.0) / len(real) + features(fake) @ d_fake / len(fake)


def generator_gradient(z, a, c, w):
    """(loss, (da, dc)) of the generator's non-saturating loss -mean(log D(a z + c))."""
    fake = a * z + c
    d_fake = discriminator(fake, w)
    slope = (w[1] + 2.0 * w[2] * fake / FEATURE_SCALE) / FEATURE_SCALE  # d logit / d x
    d_x = (d_fake - 1.0) * slope / len(z)  # gradient of the loss with respect to each generated sample
    return float(-np.mean(np.log(d_fake + 1e-12))), (float(d_x @ z), float(np.sum(d_x)))


def train_gan(lr=0.05, num_steps=1000, batch_size=64, seed=0):
    """Alternating gradient steps of a 1-D GAN; returns a dict of histories.

    The real data are N(4, 1.25^2). The generator is G(z) = a z + c with z ~ N(0, 1), starting at a = 1, c = 0;
    the discriminator is `discriminator` with weights w starting at 0. Each step draws a real batch, then a noise
    batch (both from default_rng(seed)), takes one gradient-descent step of the discriminator's cross-entropy and
    one of the generator's non-saturating loss -log D(G(z)), both with learning rate lr.
    History keys: "a", "c", "w" (after every step, first entry the start), "d_loss" and "g_loss" (every step).
    """
    run = GanRun(lr, batch_size, seed)
    run.train_to(num_steps)
    return run.history


class GanRun:
    """The run of train_gan, kept so that it can be extended step by step (its first n steps are train_gan's)."""

    def __init__(self, lr=0.05, batch_size=64, seed=0):
        self.lr, self.batch_size, self.rng = lr, batch_size, np.random.default_rng(seed)
        self.history = {"a": [1.0], "c": [0.0], "w": [np.zeros(3)], "d_loss": [], "g_loss": []}

    @property
    def steps(self):
        """The steps taken so far."""
        return len(self.history["d_loss"])

    def train_to(self, num_steps, seconds=float("inf")):
        """Take steps until num_steps are done or (after at least one) `seconds` have passed; returns the steps done."""
        began = time.perf_counter()
        with np.errstate(all="ignore"):
            while self.steps < num_steps:
                self.step()
                if time.perf_counter() - began >= seconds:
                    break
        return self.steps

    def step(self):
        """One step of the discriminator, then one of the generator; every history gets its next entry."""
        history = self.history
        a, c, w = history["a"][-1], history["c"][-1], history["w"][-1]
        real = self.rng.normal(REAL_MEAN, REAL_STD, size=self.batch_size)
        z = self.rng.normal(size=self.batch_size)
        d_loss, grad_w = discriminator_gradient(real, a * z + c, w)
        w = w - self.lr * grad_w
        g_loss, (grad_a, grad_c) = generator_gradient(z, a, c, w)
        for key, value in (("a", a - self.lr * grad_a), ("c", c - self.lr * grad_c), ("w", w), ("d_loss", d_loss),
                           ("g_loss", g_loss)):
            history[key].append(value)


class GanLab(LiveFigure):
    """Left: the real density, the generator's density and the discriminator after `steps` steps. Right: the
    generator's mean and spread step by step, against the real ones."""

    def __init__(self, lr=0.05, num_steps=1000, max_steps=3000):
        self.runs = {}
        fig, (ax, path_ax) = plots.figure(ncols=2, figsize=(9.0, 3.4))
        self.grid = np.linspace(-4.0, 10.0, 300)
        density = lambda x, mu, s: np.exp(-0.5 * ((x - mu) / s) ** 2) / (s * np.sqrt(2 * np.pi))
        self.density = density
        ax.plot(self.grid, density(self.grid, REAL_MEAN, REAL_STD), color=plots.BLACK, lw=2, label="real data")
        self.fake_line, = ax.plot([], [], color=plots.ORANGE, lw=2, label="generator")
        self.d_line, = ax.plot([], [], color=plots.BLUE, lw=1.5, ls="--", label="D(x) (prob. real)")
        ax.set_xlim(self.grid[0], self.grid[-1])
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("x")
        ax.legend(loc="upper left", fontsize=7)
        ax.set_title(" ", fontsize=9)
        path_ax.axhline(REAL_MEAN, color=plots.ORANGE, lw=0.8, ls=":")
        path_ax.axhline(REAL_STD, color=plots.GREEN, lw=0.8, ls=":")
        self.mean_line, = path_ax.plot([], [], color=plots.ORANGE, label="generator mean c (real 4)")
        self.std_line, = path_ax.plot([], [], color=plots.GREEN, label="generator spread |a| (real 1.25)")
        path_ax.set_ylim(-1.0, 8.0)
        path_ax.set_xlabel("training step")
        path_ax.legend(loc="upper right", fontsize=7)
        self.ax, self.path_ax = ax, path_ax
        controls = {"lr": slider("learning rate", lr, -3, 0, step=0.05, log=True),
                    "num_steps": slider("steps", num_steps, 0, max_steps, step=100, integer=True, continuous=False)}
        super().__init__(None, controls, fig)

    def redraw(self, lr, num_steps):
        """Extend the run at this learning rate towards num_steps in chunks of about STEP_SECONDS, showing each."""
        key = round(lr, 8)
        if key not in self.runs:  # runs are kept: more steps at the same rate continue the same run
            self.runs[key] = GanRun(lr)
        self.path_ax.set_xlim(0, plots.nice_ceiling(max(num_steps, 1)))
        while True:
            reached = min(self.runs[key].train_to(num_steps, STEP_SECONDS), num_steps)
            self.show_run(self.runs[key].history, reached)
            if reached == num_steps:
                return
            yield

    def show_run(self, history, steps):
        """The generator's density and D(x) after `steps` steps, and its mean and spread up to then."""
        a, c, w = history["a"][steps], history["c"][steps], history["w"][steps]
        spread = max(abs(a), 1e-3)
        self.fake_line.set_data(self.grid, np.clip(self.density(self.grid, c, spread), 0, 1.05))
        self.d_line.set_data(self.grid, discriminator(self.grid, w))
        done = np.arange(steps + 1)
        self.mean_line.set_data(done, history["c"][:steps + 1])
        self.std_line.set_data(done, np.abs(history["a"][:steps + 1]))
        self.ax.set_title(f"after {steps} steps: generator N({c:.2f}, {abs(a):.2f}^2), real N(4, 1.25^2)",
                          fontsize=9)


def gan_lab(lr=0.05, num_steps=1000):
    """Learning-rate and step sliders over a 1-D GAN: a generator learning to imitate N(4, 1.25^2)."""
    return GanLab(lr=lr, num_steps=num_steps).show()
