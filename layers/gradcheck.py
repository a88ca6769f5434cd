"""Check every registered layer: forward and gradients against its reference, and finite differences.

For each case:
  fwd   max |ours - reference| / max(1, max |reference|), float32, same weights
  dx    the same for dL/dx through GradientTape (our custom gradient vs TF's autodiff)
  dW    the same for every weight gradient
  fd    float64 finite differences: directional derivatives along random directions over
        the input and every weight, analytic vs central difference, relative error
Inputs are a shuffled set of distinct, well-separated values so that max pooling has no ties
and finite differences never cross a kink. A layer whose `call` takes `training` is checked in
both modes, the worst error kept: training may run another path (XLA-fused average pooling).
"""
import inspect
import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from layers import registry

TOLERANCE = {"fwd": 1e-5, "dx": 1e-5, "dW": 1e-5, "fd": 1e-6}
FD_DELTA = 1e-4
FD_DIRECTIONS = 8


@dataclass
class Result:
    layer: str
    case: str
    errors: dict  # column -> float or None (no reference)

    @property
    def failures(self):
        return [k for k, v in self.errors.items() if v is not None and not v <= TOLERANCE[k]]

    @property
    def ok(self):
        return not self.failures


def distinct_inputs(shape, seed=0, dtype="float32"):
    """Distinct values, spaced 4/n apart in [-2, 2), in random order."""
    n = math.prod(shape)
    values = (np.arange(n) - n / 2 + 0.5) * (4.0 / n)  # never exactly 0 (a kink for ReLU-likes)
    return np.random.default_rng(seed).permutation(values).reshape(shape).astype(dtype)


def _relative(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b))))) if b.size else 0.0


def _build(entry, case, dtype):
    layer = entry.layer_class(**case.config, dtype=dtype)
    layer.build(case.input_shape)
    return layer


def _seeded_weights(layer, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=w.shape).astype(w.dtype) for w in layer.get_weights()]


def _modes(layer):
    """The call arguments to check: training=True and False where `call` takes `training`."""
    if "training" in inspect.signature(layer.call).parameters:
        return ({"training": True}, {"training": False})
    return ({},)


def _worst(*errors):
    known = [e for e in errors if e is not None]
    return max(known) if known else None


def _tape(layer, x, probe, with_weights=True, compiled=True, mode=None):
    """Output, dL/dx and dL/dW (empty without `with_weights`) for L = sum(output * probe)
    (a fixed random cotangent). `compiled` traces it as training does; eagerly the same ops run
    without the trace, which dominates the time of a small case."""

    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            z = layer(x, **(mode or {}))
            loss = tf.reduce_sum(z * probe)
        grads = tape.gradient(loss, [x] + (layer.trainable_weights if with_weights else []))
        return z, grads[0], grads[1:]

    return tf.function(run, autograph=False)(x) if compiled else run(x)


def _reference_tape(layer, x, probe, compiled=True):
    """`_tape` of the TensorFlow reference, or None where it cannot run. TensorFlow's CPU
    kernels without oneDNN (AVX2 machines) have no dilated Conv*DBackpropFilter (then the
    reference gives output and dL/dx only) nor dilated Conv*DBackpropInput, which is a dilated
    transposed convolution's forward (then no reference: the finite differences and the
    adjoint test in tests/layers/test_oracle.py remain)."""
    for with_weights in (True, False):
        try:
            return _tape(layer, x, probe, with_weights, compiled)
        except tf.errors.InvalidArgumentError as error:
            if "dilation rates larger than 1" not in str(error):
                raise
    return None


def _finite_difference_error(entry, case, weights, x, seed=0, mode=None):
    """Directional derivatives of L = sum(f(x, W) * v) along random directions u over (x, W):
    the hand-written backward's <grad L, u> against (L(+h u) - L(-h u)) / 2h, in float64.

    A random direction touches every input and weight at once, so any wrong entry of the
    gradient shows (the "fast mode" of torch.autograd.gradcheck); the direct-loop oracle tests
    check the gradients entry by entry.
    """
    layer = _build(entry, case, "float64")
    layer.set_weights([w.astype("float64") for w in weights])
    params = [tf.constant(x, tf.float64)] + [tf.convert_to_tensor(v) for v in layer.trainable_variables]
    rng = np.random.default_rng(seed + 2)
    probe = tf.constant(rng.normal(size=layer.compute_output_shape(case.input_shape)))

    @tf.function(autograph=False)
    def loss(*params):
        z, _ = layer.stateless_call(list(params[1:]), list(layer.non_trainable_variables), params[0], **(mode or {}))
        return tf.reduce_sum(z * probe)

    with tf.GradientTape() as tape:
        tape.watch(params)
        value = loss(*params)
    grads = [tf.zeros_like(p) if g is None else g for p, g in zip(params, tape.gradient(value, params))]
    analytic, numeric = [], []
    for _ in range(FD_DIRECTIONS):
        directions = [rng.normal(size=p.shape) for p in params]
        plus = loss(*[p + FD_DELTA * u for p, u in zip(params, directions)])
        minus = loss(*[p - FD_DELTA * u for p, u in zip(params, directions)])
        numeric.append(float(plus - minus) / (2 * FD_DELTA))
        analytic.append(sum(float(tf.reduce_sum(g * u)) for g, u in zip(grads, directions)))
    return _relative(analytic, numeric)


def check_case(entry, case, seed=0, finite_differences=True, compiled=True):
    ours = _build(entry, case, "float32")
    weights = _seeded_weights(ours, seed)
    ours.set_weights(weights)
    x = distinct_inputs(case.input_shape, seed)
    probe = _probe(ours, case, seed)
    reference = None
    if entry.reference is not None:
        ref = entry.reference(dict(case.config))
        ref.build(case.input_shape)
        ref.set_weights([np.reshape(w, r.shape) for w, r in zip(weights, ref.get_weights())])
        reference = _reference_tape(ref, tf.constant(x), probe, compiled)
    errors = {"fwd": None, "dx": None, "dW": None, "fd": None}
    for mode in _modes(ours):
        z, dx, dws = _tape(ours, tf.constant(x), probe, compiled=compiled, mode=mode)
        if reference is not None:
            rz, rdx, rdws = reference
            errors["fwd"] = _worst(errors["fwd"], _relative(z, rz))
            errors["dx"] = _worst(errors["dx"], _relative(dx, rdx))
            if dws and rdws:
                errors["dW"] = _worst(errors["dW"], *(_relative(a, np.reshape(b, a.shape)) for a, b in zip(dws, rdws)))
        if finite_differences:
            errors["fd"] = _worst(errors["fd"], _finite_difference_error(entry, case, weights, x, mode=mode))
    return Result(entry.name, case.label, errors)


def _probe(layer, case, seed):
    shape = layer.compute_output_shape(case.input_shape)
    return tf.constant(np.random.default_rng(seed + 1).normal(size=shape).astype("float32"))


def run(names=None, quick=False):
    """Yield a Result per (layer, case); `quick` checks the first two cases of each layer."""
    for name in names or registry.names():
        entry = registry.get(name)
        for case in entry.cases[:2] if quick else entry.cases:
            yield check_case(entry, case)


def format_row(result):
    cells = [f"{result.errors[k]:.1e}" if result.errors[k] is not None else "-" for k in TOLERANCE]
    status = "ok" if result.ok else "FAIL " + ",".join(result.failures)
    return f"{result.layer:<28} {' '.join(f'{c:>9}' for c in cells)}  {status:<10} {result.case}"


def header():
    tol = " ".join(f"{k + '<' + format(v, '.0e'):>9}" for k, v in TOLERANCE.items())
    return f"{'layer':<28} {tol}  {'status':<10} case"
