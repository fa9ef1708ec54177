"""Lesson 09 widgets: gradients through depth, plain vs residual networks, clipping, and the architecture table.

The deep networks here are built from the course's reference forward and backward passes (lessons 03-05) and
from the student's own lesson-09 functions, passed in by name: `layer_gradient_norms`, `residual_forward`,
`residual_backward`, `batchnorm_forward`, `batchnorm_backward` and `clip_by_global_norm`. Nothing in this
module computes what those exercises ask for; a widget whose function is unfinished says "Implement X above".
"""
import time

import ipywidgets as ipw
import numpy as np

from nncourse import plots
from nncourse import reference as ref
from nncourse.live import STEP_SECONDS, LiveFigure, slider
from nncourse.student_code import StudentCode

SLOPES = {"relu": ref.relu_grad, "tanh": ref.tanh_grad, "sigmoid": ref.sigmoid_grad}
NORM_FLOOR, NORM_CEILING = 1e-14, 1e10  # the gradient-norm axis; smaller or larger values sit on its edges


def xor_data(n=128, noise=0.35, seed=0):
    """Points around the corners (+-1, +-1), class 1 where the signs of x1 and x2 differ (generated, seeded)."""
    rng = np.random.default_rng(seed)
    corners = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    which = np.arange(n) % 4
    return corners[which] + rng.normal(scale=noise, size=(n, 2)), np.array([0, 1, 1, 0])[which]


def deep_init(depth, width=16, n_in=2, n_out=2, scale=1.0, seed=0):
    """depth hidden layers of `width` units: W drawn N(0, scale^2 / n_in) from default_rng(seed), b = 0."""
    rng = np.random.default_rng(seed)
    sizes = [n_in] + [width] * depth + [n_out]
    return [(rng.normal(0.0, scale / np.sqrt(a), size=(a, c)), np.zeros(c)) for a, c in zip(sizes[:-1], sizes[1:])]


def as_calls(functions):
    """functions as a StudentCode (a dict of the student's functions passes their own exceptions through)."""
    return functions if isinstance(functions, StudentCode) else StudentCode(report=False, **(functions or {}))


def plain_gradients(X, y, params, activation):
    """(loss, [(dW, db), ...]) of the plain deep network, with the reference forward and backward passes."""
    probs, cache = ref.mlp_forward(X, params, activation)
    return ref.categorical_cross_entropy(y, probs), ref.mlp_backward(probs, y, cache, params, activation)


def residual_gradients(X, y, params, activation, functions):
    """(loss, grads) of the residual network: layer 1 is dense, hidden layers 2..L are the student's residual blocks."""
    calls = as_calls(functions)
    (W1, b1), blocks, (W_out, b_out) = params[0], params[1:-1], params[-1]
    Z1 = ref.dense_forward(X, W1, b1)
    A, caches = ref.FORWARD[activation](Z1), []
    for W, b in blocks:
        A, cache = calls("residual_forward", A, W, b, activation)
        caches.append(cache)
    probs = ref.softmax(ref.dense_forward(A, W_out, b_out))
    dA, dW_out, db_out = ref.dense_backward(ref.softmax_cross_entropy_backward(probs, y), A, W_out)
    grads = [(dW_out, db_out)]
    for cache in reversed(caches):
        dA, dW, db = calls("residual_backward", dA, cache, activation)
        grads.append((dW, db))
    _, dW1, db1 = ref.dense_backward(dA * SLOPES[activation](Z1), X, W1)
    grads.append((dW1, db1))
    return ref.categorical_cross_entropy(y, probs), grads[::-1]


def batchnorm_gradients(X, y, params, activation, bn_params, running, functions):
    """(loss, grads, bn_grads, running) of a network with the student's batch norm after every hidden dense layer.

    bn_params holds one (gamma, beta) pair per hidden layer, running one (mean, var) pair; training mode.
    """
    calls = as_calls(functions)
    A, caches, new_running = X, [], []
    for (W, b), (gamma, beta), (mean, var) in zip(params[:-1], bn_params, running):
        Z = ref.dense_forward(A, W, b)
        Y, mean, var, bn_cache = calls("batchnorm_forward", Z, gamma, beta, mean, var, True)
        caches.append((A, Y, bn_cache))
        new_running.append((mean, var))
        A = ref.FORWARD[activation](Y)
    probs = ref.softmax(ref.dense_forward(A, *params[-1]))
    dA, dW, db = ref.dense_backward(ref.softmax_cross_entropy_backward(probs, y), A, params[-1][0])
    grads, bn_grads = [(dW, db)], []
    for (W, _), (A_prev, Y, bn_cache) in zip(reversed(params[:-1]), reversed(caches)):
        dZ, dgamma, dbeta = calls("batchnorm_backward", dA * SLOPES[activation](Y), bn_cache)
        dA, dW, db = ref.dense_backward(dZ, A_prev, W)
        grads.append((dW, db))
        bn_grads.append((dgamma, dbeta))
    return ref.categorical_cross_entropy(y, probs), grads[::-1], bn_grads[::-1], new_running


class DeepRun:
    """Full-batch gradient descent on a plain, residual or batch-norm network, kept so that it can go on later.

    losses[k] is the loss after k steps; the gradients at the current parameters are kept for the next step.
    """

    def __init__(self, X, y, params, activation, lr, kind="plain", max_norm=None, functions=None):
        self.X, self.y, self.activation, self.lr, self.kind, self.max_norm = X, y, activation, lr, kind, max_norm
        self.calls = as_calls(functions)
        params = [(np.array(W, dtype=float), np.array(b, dtype=float)) for W, b in params]
        self.bn_params = [(np.ones(W.shape[1]), np.zeros(W.shape[1])) for W, _ in params[:-1]]
        self.running = [(np.zeros(W.shape[1]), np.ones(W.shape[1])) for W, _ in params[:-1]]
        self.losses = []
        self.move_to(params, self.bn_params)

    def move_to(self, params, bn_params):
        """Take these parameters with the loss and gradients at them (all or nothing if the student's code fails)."""
        running = self.running
        if self.kind == "plain":
            loss, grads = plain_gradients(self.X, self.y, params, self.activation)
        elif self.kind == "residual":
            loss, grads = residual_gradients(self.X, self.y, params, self.activation, self.calls)
        else:
            loss, grads, bn_grads, running = batchnorm_gradients(self.X, self.y, params, self.activation, bn_params,
                                                                 self.running, self.calls)
            grads = grads + bn_grads
        self.params, self.bn_params, self.running, self.grads = params, bn_params, running, grads
        self.losses.append(float(loss))

    def step(self):
        """One step down the kept gradients (clipped by the student's clip_by_global_norm when max_norm is set)."""
        grads = self.grads
        if self.max_norm is not None:
            grads, _ = self.calls("clip_by_global_norm", grads, self.max_norm)
        pairs = zip(self.params + self.bn_params, grads)
        updated = [(p - self.lr * dp, q - self.lr * dq) for (p, q), (dp, dq) in pairs]
        self.move_to(updated[:len(self.params)], updated[len(self.params):] or self.bn_params)

    def done(self, num_steps):
        """True once the run has taken num_steps steps or its loss is no longer finite."""
        return len(self.losses) > num_steps or not np.isfinite(self.losses[-1])

    def train_to(self, num_steps, seconds=float("inf")):
        """Step towards num_steps steps, stopping at the first step that ends after `seconds`; True when done."""
        began = time.perf_counter()
        while not self.done(num_steps):
            self.step()
            if time.perf_counter() - began >= seconds:
                break
        return self.done(num_steps)

    def losses_to(self, num_steps):
        """The losses of steps 0..num_steps, nan where the run has none (not trained yet, or it blew up)."""
        shown = np.full(num_steps + 1, np.nan)
        shown[:min(len(self.losses), num_steps + 1)] = self.losses[:num_steps + 1]
        return shown


def train_deep(X, y, params, activation, lr, num_steps, kind="plain", max_norm=None, functions=None):
    """Full-batch gradient descent on a plain, residual or batch-norm network; returns (params, losses).

    functions maps names to the student's functions the run needs: residual_forward and residual_backward
    (kind "residual"), batchnorm_forward and batchnorm_backward (kind "batchnorm"), clip_by_global_norm (max_norm).
    losses[k] is the loss before step k, plus the loss after the last step (num_steps + 1 values); a run that
    overflows is padded with nan. With max_norm, every step's gradients go through `clip_by_global_norm` first.
    """
    with np.errstate(all="ignore"):
        run = DeepRun(X, y, params, activation, lr, kind, max_norm, functions)
        run.train_to(num_steps)
    return run.params, run.losses + [np.nan] * (num_steps + 1 - len(run.losses))


def layer_norms(X, y, params, activation, kind, functions):
    """The student's layer_gradient_norms of a plain or residual network's gradients on (X, y)."""
    calls = as_calls(functions)
    if kind == "plain":
        _, grads = plain_gradients(X, y, params, activation)
    else:
        _, grads = residual_gradients(X, y, params, activation, calls)
    norms = np.asarray(calls("layer_gradient_norms", grads), dtype=float)
    if norms.shape != (len(params),):
        raise ValueError(f"layer_gradient_norms returned shape {norms.shape}; expected one norm per layer, "
                         f"({len(params)},)")
    return norms


CLIPS = {"no clipping": None, "clip at norm 1": 1.0, "clip at norm 5": 5.0}


class DepthLab(LiveFigure):
    """Left: the gradient norm of every layer's weights, from the student's `layer_gradient_norms`, for a plain
    (and, when the residual functions are given, a residual) network. Right: a short training run of the same
    networks at the chosen learning rate, kept, so moving only the step slider never retrains what is already
    done. A change trains about STEP_SECONDS between two repaints, each showing the losses reached so far."""

    def __init__(self, functions, depth=20, activation="tanh", scale=1.0, lr=0.1, num_steps=40, max_steps=200,
                 steps_increment=20, width=16, n=64, seed=0):
        code = StudentCode(**functions)
        self.kinds = ["plain"] + (["residual"] if "residual_forward" in code else [])
        self.X, self.y = xor_data(n, seed=seed)
        self.width, self.seed = width, seed
        self.runs = {}  # (kind, depth, activation, scale, lr, clip) -> DeepRun
        fig, (ax, loss_ax) = plots.figure(ncols=2, figsize=(9.0, 3.6))
        self.ax, self.loss_ax = ax, loss_ax
        colors = {"plain": plots.BLUE, "residual": plots.ORANGE}
        self.norm_lines = {k: ax.plot([], [], "-o", ms=3, color=colors[k], label=f"{k} network")[0] for k in self.kinds}
        self.loss_lines = {k: loss_ax.plot([], [], color=colors[k], lw=2, label=k)[0] for k in self.kinds}
        ax.set_yscale("log")
        ax.set_ylim(NORM_FLOOR, NORM_CEILING)
        ax.set_xlabel("layer (1 = first, next to the input)")
        ax.set_ylabel(r"$\|dW\|$ of the layer")
        ax.legend(loc="upper left", fontsize=8)
        loss_ax.axhline(np.log(2), color=plots.BLACK, lw=0.8, ls=":", label="chance (ln 2)")
        loss_ax.set_ylim(0, 2.0)
        loss_ax.set_xlabel("training step")
        loss_ax.set_ylabel("training loss")
        loss_ax.legend(loc="upper right", fontsize=8)
        ax.set_title(" ", fontsize=9)
        loss_ax.set_title(" ", fontsize=9)
        controls = {
            "depth": slider("hidden layers", depth, 2, 40, integer=True, continuous=False),
            "activation": ipw.Dropdown(options=list(ref.ACTIVATIONS), value=activation, description="activation",
                                       layout=ipw.Layout(width="190px")),
            "scale": slider("weight scale", scale, -0.7, 0.7, step=0.05, log=True),
            "lr": slider("learning rate", lr, -3, 0.5, step=0.05, log=True),
            "num_steps": slider("steps", num_steps, 0, max_steps, step=steps_increment, integer=True, continuous=False),
        }
        if "clip_by_global_norm" in code:
            controls["clip"] = ipw.Dropdown(options=list(CLIPS), description="gradients",
                                            layout=ipw.Layout(width="230px"))
        super().__init__(code, controls, fig)

    def run_for(self, kind, depth, activation, scale, lr, clip):
        """The kept training run of one network for these controls (made with the loss at its initial weights)."""
        key = (kind, depth, activation, round(scale, 6), round(lr, 8), clip)
        if key not in self.runs:
            params = deep_init(depth, self.width, scale=scale, seed=self.seed)
            self.runs[key] = DeepRun(self.X, self.y, params, activation, lr, kind, CLIPS[clip] if clip else None,
                                     self.code)
        return self.runs[key]

    def redraw(self, depth, activation, scale, lr, num_steps, clip=None):
        """Gradient norms at once, then the runs trained in order towards num_steps, about STEP_SECONDS a step."""
        began = time.perf_counter()
        self.show_norms(depth, activation, scale)
        while True:
            with np.errstate(all="ignore"):
                runs = [self.run_for(kind, depth, activation, scale, lr, clip) for kind in self.kinds]
                done = self.train(runs, num_steps, began + STEP_SECONDS)
            self.show_losses(runs, num_steps)
            if done:
                return
            yield
            began = time.perf_counter()

    def train(self, runs, num_steps, deadline):
        """Train the runs in order until the deadline has passed; True when every run is done."""
        for run in runs:
            if not run.train_to(num_steps, deadline - time.perf_counter()):
                return False
        return True

    def show_norms(self, depth, activation, scale):
        """Each network's gradient norm per layer at its initial weights, from the student's layer_gradient_norms."""
        firsts = []
        for kind in self.kinds:
            with np.errstate(all="ignore"):
                norms = layer_norms(self.X, self.y, deep_init(depth, self.width, scale=scale, seed=self.seed),
                                    activation, kind, self.code)
            self.norm_lines[kind].set_data(np.arange(1, depth + 2),
                                           np.clip(np.nan_to_num(norms, nan=NORM_CEILING), NORM_FLOOR, NORM_CEILING))
            firsts.append(f"{kind} {norms[0]:.1e}")
        self.ax.set_xlim(0.5, depth + 1.5)
        self.ax.set_title("gradient norm reaching layer 1: " + ", ".join(firsts), fontsize=9)

    def show_losses(self, runs, num_steps):
        """Each run's losses up to num_steps (as far as it got), and in the title the loss each reached."""
        reached = []
        for kind, run in zip(self.kinds, runs):
            losses = run.losses_to(num_steps)
            self.loss_lines[kind].set_data(np.arange(num_steps + 1), np.clip(losses, 0, 2.0))
            if not run.done(num_steps):
                reached.append(f"{kind} {run.losses[-1]:.3f} at step {len(run.losses) - 1}")
            else:
                reached.append(f"{kind} {losses[-1]:.3f}" if np.isfinite(losses[-1]) else f"{kind} blew up")
        self.loss_ax.set_xlim(0, plots.nice_ceiling(max(num_steps, 1)))
        training = not all(run.done(num_steps) for run in runs)
        heading = f"training to {num_steps} steps: " if training else f"loss after {num_steps} steps: "
        self.loss_ax.set_title(heading + ", ".join(reached), fontsize=9)


def depth_lab(layer_gradient_norms, residual_forward=None, residual_backward=None, clip_by_global_norm=None,
              depth=20, activation="tanh", scale=1.0, lr=0.1):
    """Depth, activation, weight scale and learning rate: per-layer gradient norms (from your
    layer_gradient_norms) and a short training run, for a plain network and, given your residual functions,
    a residual one; given clip_by_global_norm, a control clips every training step's gradients."""
    functions = {"layer_gradient_norms": layer_gradient_norms, "residual_forward": residual_forward,
                 "residual_backward": residual_backward, "clip_by_global_norm": clip_by_global_norm}
    return DepthLab(functions, depth=depth, activation=activation, scale=scale, lr=lr).show()


def architecture_plot(table):
    """Bars of the architecture table: final validation accuracy and epochs to the target, per network."""
    labels = [f"{row['depth']}x{row['width']}\n{row['params']} p" for row in table]
    fig, (ax, ex) = plots.figure(ncols=2, figsize=(9.0, 3.4))
    positions = np.arange(len(table))
    colors = [plots.BLUE if row["depth"] == 1 else plots.ORANGE for row in table]
    ax.bar(positions, [row["val_accuracy"] for row in table], color=colors)
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("final validation accuracy")
    reached = [row["epochs_to_target"] for row in table]
    longest = max([e for e in reached if e is not None], default=1)
    ex.bar(positions, [e if e is not None else longest * 1.15 for e in reached], color=colors)
    for position, e in zip(positions, reached):
        if e is None:
            ex.text(position, longest * 1.15, "never", ha="center", va="bottom", fontsize=8)
    ex.set_ylabel("epochs to the target")
    for axis in (ax, ex):
        axis.set_xticks(positions, labels, fontsize=7)
        axis.set_xlabel("hidden layers x width (parameters)")
    return fig
