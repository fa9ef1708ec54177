"""Lesson 07 widget: the NumPy network and its Keras twin retrained side by side as the controls move.

Keras is imported only when a widget is built, so `import nncourse.widgets` stays fast without it.
"""
import time

import ipywidgets as ipw
import numpy as np

from nncourse import plots, reference
from nncourse.live import STEP_SECONDS, LiveFigure, slider


class KerasRace(LiveFigure):
    """Learning-rate slider and hidden-units menu: brief training of both twins, curves overlaid."""

    def __init__(self, build_model, transfer_weights, compile_model, X, y, setup, hidden=(16, 32, 64),
                 num_epochs=5, batch_size=32, lr=None, seed=0, activation="relu"):
        from nncourse import keras_tools  # imports Keras (JAX backend)

        self.tools = keras_tools
        self.X, self.y = np.asarray(X, dtype=float), np.asarray(y)
        self.setup, self.num_epochs, self.batch_size = dict(setup), num_epochs, batch_size
        self.seed, self.activation = seed, activation
        self.num_classes = int(self.y.max()) + 1
        self.models, self.timings = {}, {}
        fig, (self.loss_ax, self.acc_ax) = plots.figure(ncols=2, figsize=(8.0, 3.2))
        self.lines = {}
        for name, colour, style, label in (("numpy", plots.BLUE, "-", "NumPy"), ("keras", plots.ORANGE, "--", "Keras")):
            (loss_line,) = self.loss_ax.plot([], [], style, color=colour, marker="o", ms=3, label=label)
            (acc_line,) = self.acc_ax.plot([], [], style, color=colour, marker="o", ms=3, label=label)
            self.lines[name] = (loss_line, acc_line)
        for ax, ylabel in ((self.loss_ax, "training loss"), (self.acc_ax, "training accuracy")):
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            ax.set_xlim(0.5, num_epochs + 0.5)
        self.acc_ax.set_ylim(0, 1.02)
        self.loss_ax.legend(fontsize=8)
        controls = {"lr": slider("learning rate", lr or setup["lr"], -3, 0, step=0.1, log=True),
                    "hidden": ipw.Dropdown(options=list(hidden), value=hidden[len(hidden) // 2],
                                           description="hidden units", style={"description_width": "initial"},
                                           layout=ipw.Layout(width="190px"))}
        super().__init__({"build_model": build_model, "transfer_weights": transfer_weights,
                          "compile_model": compile_model}, controls, fig)

    def keras_model(self, sizes, params, lr):
        """The compiled Keras twin for these sizes (built once per size), reset to params and a fresh optimizer."""
        key = tuple(sizes)
        code = self.code
        if key not in self.models:
            model = code.transfer_weights(code.build_model(sizes, self.activation), params)
            self.models[key] = code.compile_model(model, {**self.setup, "lr": lr})
        model = self.models[key]
        code.transfer_weights(model, params)
        optimizer = model.optimizer
        for variable in optimizer.variables:  # forget the velocity/moments and the step count of the last run
            variable.assign(np.zeros(variable.shape, dtype=variable.dtype))
        optimizer.learning_rate = lr
        return model

    def redraw(self, lr, hidden):
        """Train both twins from the same weights, epoch by epoch, showing the curves every STEP_SECONDS."""
        deadline = time.perf_counter() + STEP_SECONDS  # building the twin counts in the first chunk
        sizes = [self.X.shape[1], int(hidden), self.num_classes]
        params = reference.init_params(sizes, seed=self.seed)
        model = self.keras_model(sizes, params, lr)
        race = {"numpy": self.tools.numpy_epochs(params, self.X, self.y, {**self.setup, "lr": lr}, self.num_epochs,
                                                 self.batch_size, self.seed, self.activation),
                "keras": self.keras_epochs(model)}
        histories = {name: {"loss": [], "accuracy": [], "seconds": []} for name in race}
        while not self.train_until(race, histories, deadline):
            self.show_race(lr, hidden, histories)
            yield
            deadline = time.perf_counter() + STEP_SECONDS
        self.show_race(lr, hidden, histories)

    def train_until(self, race, histories, deadline):
        """Train the twin behind, an epoch at a time, until the deadline passes; True once both are done."""
        while (name := self.behind(histories)) is not None:
            histories[name] = next(race[name])
            if time.perf_counter() >= deadline:
                break
        return self.behind(histories) is None

    def behind(self, histories):
        """The twin with fewer epochs (NumPy on a tie), or None once both have trained every epoch."""
        name = min(histories, key=lambda name: len(histories[name]["loss"]))
        return name if len(histories[name]["loss"]) < self.num_epochs else None

    def keras_epochs(self, model):
        """The Keras twin's history after every epoch: one fit per epoch is the same run as one fit of them all."""
        X = self.X.astype(model.trainable_variables[0].dtype)
        history = {"loss": [], "accuracy": [], "seconds": []}
        for _ in range(self.num_epochs):
            epoch = self.tools.train_keras(model, X, self.y, 1, self.batch_size)
            for key in history:
                history[key] += epoch[key]
            yield history

    def show_race(self, lr, hidden, histories):
        """Both twins' loss and accuracy curves up to the epoch each reached, and their training times."""
        top = 0.0
        for name, history in histories.items():
            epochs = np.arange(1, len(history["loss"]) + 1)
            loss = np.nan_to_num(np.asarray(history["loss"], dtype=float), nan=10.0, posinf=10.0)
            self.lines[name][0].set_data(epochs, loss)
            self.lines[name][1].set_data(epochs, history["accuracy"])
            top = max(top, float(np.max(loss, initial=0.0)))
        self.loss_ax.set_ylim(0, min(top, 10.0) * 1.05 + 1e-3)
        self.loss_ax.set_title(f"lr {lr:.3g}, {hidden} hidden units", fontsize=9)
        self.timings = {name: sum(history["seconds"]) for name, history in histories.items()}
        done = {name: len(history["loss"]) for name, history in histories.items()}
        if min(done.values()) < self.num_epochs:
            self.acc_ax.set_title(f"training: NumPy {done['numpy']}, Keras {done['keras']} of {self.num_epochs} "
                                  "epochs", fontsize=9)
        else:
            self.acc_ax.set_title(f"{self.num_epochs} epochs: NumPy {self.timings['numpy'] * 1000:.0f} ms, "
                                  f"Keras {self.timings['keras'] * 1000:.0f} ms", fontsize=9)


def keras_race(build_model, transfer_weights, compile_model, X, y, setup, num_epochs=5, batch_size=32):
    """Retrain the NumPy network and your Keras twin briefly whenever the learning rate or width changes."""
    return KerasRace(build_model, transfer_weights, compile_model, X, y, setup, num_epochs=num_epochs,
                     batch_size=batch_size).show()
