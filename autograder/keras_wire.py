"""Keras models as plain data: a Sequential chain of the course's layer kinds, its weights and compile settings.

Used on both sides of the grading channel (see wire.py). `build` accepts only the layer and optimizer classes
and the settings listed here, with plain values, so a description can never name arbitrary code.
"""
import keras

import wire

LAYERS = {"Dense": ("units", "activation", "use_bias"), "Dropout": ("rate",), "Activation": ("activation",),
          "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"), "Flatten": ()}
OPTIMIZERS = ("SGD", "Adam", "RMSprop", "Adagrad", "AdamW", "Nadam")
OPTIMIZER_SETTINGS = ("learning_rate", "momentum", "nesterov", "beta_1", "beta_2", "epsilon", "rho", "amsgrad",
                      "weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "centered", "initial_accumulator_value")
SCALARS = (int, float, bool, str, type(None))


def describe(model):
    """{"$keras": description} of a model, or NotPlainData for anything outside the course's layer kinds."""
    if not isinstance(model, keras.Model):
        raise wire.NotPlainData(f"a {wire.describe(model)} is not a Keras model the grader can read")
    layers = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if kind not in LAYERS or type(layer).__module__.split(".")[0] != "keras":
            raise wire.NotPlainData(f"a Keras layer of type {kind} cannot be graded")
        config = layer.get_config()
        settings = {key: config[key] for key in LAYERS[kind] if type(config.get(key)) in SCALARS}
        layers.append([kind, settings, layer.dtype_policy.name])
    inputs = model.inputs[0].shape[1:] if model.inputs else None
    return {"$keras": {"input": None if inputs is None else [int(n) for n in inputs], "layers": layers,
                       "weights": [wire.encode(w) for w in model.get_weights()], "compile": compile_settings(model)}}


def compile_settings(model):
    """The optimizer, loss and metrics a model was compiled with, as plain data (None when not compiled)."""
    if getattr(model, "optimizer", None) is None:
        return None
    config = model.get_compile_config() or {}
    optimizer = config.get("optimizer") or {}
    settings = {k: v for k, v in (optimizer.get("config") or {}).items() if k in OPTIMIZER_SETTINGS and type(v) in SCALARS}
    loss = config.get("loss")
    if isinstance(loss, dict):
        loss = [loss.get("class_name"), {k: v for k, v in (loss.get("config") or {}).items()
                                         if k != "name" and type(v) in SCALARS}]
    metrics = config.get("metrics")
    return {"optimizer": [optimizer.get("class_name"), settings], "loss": loss if type(loss) in (str, list) else None,
            "metrics": [m for m in metrics if type(m) is str] if type(metrics) is list else None}


def build(description):
    """A new Sequential model from a description made by `describe`."""
    description = wire.expect(description, dict)
    layers = [keras.Input(shape=tuple(wire.expect(n, int) for n in wire.expect(description["input"], list)))]
    for kind, settings, dtype in wire.expect(description["layers"], list):
        if kind not in LAYERS or type(dtype) is not str:
            raise wire.NotPlainData(f"unknown layer {kind!r}")
        settings = {k: v for k, v in wire.expect(settings, dict).items() if k in LAYERS[kind] and type(v) in SCALARS}
        if kind == "Dense":  # the described weights replace them at once: skip drawing random ones
            settings.update(kernel_initializer="zeros", bias_initializer="zeros")
        layers.append(getattr(keras.layers, kind)(**settings, dtype=dtype))
    model = keras.Sequential(layers)
    update(model, description, exact=True)
    return model


def update(model, description, exact=False):
    """Give model the weights and compile settings of a description (after a call changed them).

    Weights that do not fit the model are ignored, or refused when exact (a model built from this description)."""
    description = wire.expect(description, dict)
    weights = [wire.decode(w) for w in wire.expect(description["weights"], list)]
    if [w.shape for w in weights] == [tuple(v.shape) for v in model.get_weights()]:
        model.set_weights(weights)
    elif exact:
        raise wire.NotPlainData("the described weights do not fit the described layers")
    settings = description.get("compile")
    if settings is not None:
        recompile(model, wire.expect(settings, dict))


def recompile(model, settings):
    """Compile model with whitelisted optimizer, loss and metrics settings."""
    name, options = wire.expect(settings["optimizer"], list)
    if name not in OPTIMIZERS:
        raise wire.NotPlainData(f"unknown optimizer {name!r}")
    options = {k: v for k, v in wire.expect(options, dict).items() if k in OPTIMIZER_SETTINGS and type(v) in SCALARS}
    loss = settings.get("loss")
    if type(loss) is list:
        kind, options_loss = loss
        loss_class = getattr(keras.losses, str(kind), None)
        if not (isinstance(loss_class, type) and issubclass(loss_class, keras.losses.Loss)):
            raise wire.NotPlainData(f"unknown loss {kind!r}")
        loss = loss_class(**{k: v for k, v in wire.expect(options_loss, dict).items() if type(v) in SCALARS})
    elif loss is not None:
        loss = keras.losses.get(wire.expect(loss, str))
    metrics = [m for m in settings.get("metrics") or [] if type(m) is str]
    model.compile(optimizer=getattr(keras.optimizers, name)(**options), loss=loss, metrics=metrics or None)
