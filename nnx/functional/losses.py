"""Building blocks of the losses, from logits, each returning PER-SAMPLE losses (the batch shape).

All are computed from log-sum-exp with the row maximum subtracted first, so logits of +-1e4 give
finite, exact results; the gradients are the closed forms (softmax - target, sigmoid - target).
The softmax losses compute the softmax before their op runs and can hand it back
(`return_probabilities=True`): training's metrics read the probabilities from there instead of
computing a second softmax every step.
"""
import numpy as np

from nnx.autograd import Function
from nnx.functional.activations import _stable_sigmoid
from nnx.functional.math import _t
from nnx.labels import class_labels
from nnx.tensor import Tensor


def _log_softmax_rows(z):
    """(log_softmax, softmax) of the last axis of z, stably."""
    shifted = z - z.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=-1, keepdims=True)
    return shifted - np.log(s), e / s


class SparseSoftmaxCrossEntropy(Function):
    """log_p, p: the log-softmax and softmax of the logits' rows, shape (-1, K)."""

    @staticmethod
    def forward(ctx, logits, labels, log_p, p):
        picked = (np.arange(labels.size), labels.reshape(-1))   # (row, label) of each sample
        ctx.saved_tensors = (p,)
        ctx.picked, ctx.logits_shape = picked, logits.shape
        return -log_p[picked].reshape(labels.shape)

    @staticmethod
    def backward(ctx, g):
        p, = ctx.saved_tensors
        g = g.reshape(-1, 1)
        d = p * g
        d[ctx.picked] -= g[:, 0]
        return d.reshape(ctx.logits_shape), None, None, None


class SoftmaxCrossEntropy(Function):
    """log_p, p: the log-softmax and softmax of the logits (last axis)."""

    @staticmethod
    def forward(ctx, logits, targets, log_p, p):
        ctx.saved_tensors = (log_p, p, targets)
        return -(targets * log_p).sum(axis=-1)

    @staticmethod
    def backward(ctx, g):
        log_p, p, targets = ctx.saved_tensors
        need_logits, need_targets = ctx.needs_input_grad[:2]
        g = g[..., None]
        d_logits = (p * targets.sum(axis=-1, keepdims=True) - targets) * g if need_logits else None
        return d_logits, (-log_p * g if need_targets else None), None, None


class BinaryCrossEntropyWithLogits(Function):
    @staticmethod
    def forward(ctx, x, t):
        # max(x, 0) - x t + log(1 + e^-|x|): the stable form of -t log s(x) - (1-t) log(1-s(x))
        loss = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
        ctx.saved_tensors = (x, t)
        return loss.mean(axis=-1)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        need_x, need_t = ctx.needs_input_grad
        g = g[..., None] / x.shape[-1]
        dx = (_stable_sigmoid(x) - t) * g if need_x else None
        return dx, (-x * g if need_t else None)


def _logits(logits, op):
    logits = _t(logits, op)
    if logits.dtype.kind != "f":
        raise TypeError(f"{op}: logits must be floating point, got dtype {logits.dtype}")
    if logits.ndim < 1 or logits.shape[-1] == 0:
        raise ValueError(f"{op}: logits need a non-empty class axis, got shape {logits.shape}")
    return logits


def sparse_softmax_cross_entropy(logits, labels, return_probabilities=False, labels_checked=False):
    """-log softmax(logits)[label] per sample. logits (..., K); labels integer (...) or (..., 1).
    return_probabilities=True: (losses, softmax(logits) as a NumPy array of the logits' shape).
    labels_checked=True: the labels passed nnx.labels.class_labels for these logits before (as
    Model.fit's targets do, once for all batches) and are not checked again."""
    op = "sparse_softmax_cross_entropy"
    logits = _logits(logits, op)
    labels = class_labels(labels, logits.shape, op, "labels", "logits", checked=labels_checked)
    log_p, p = _log_softmax_rows(logits.data.reshape(-1, logits.shape[-1]))
    losses = SparseSoftmaxCrossEntropy.apply(logits, labels, log_p, p)
    return (losses, p.reshape(logits.shape)) if return_probabilities else losses


def _targets(targets, logits, op):
    targets = targets if isinstance(targets, Tensor) else Tensor(targets, dtype=logits.dtype)
    if targets.shape != logits.shape:
        raise ValueError(f"{op}: targets shape {targets.shape} does not match logits shape "
                         f"{logits.shape}")
    if targets.dtype != logits.dtype:
        targets = Tensor(targets.data.astype(logits.dtype)) if not targets.requires_grad else targets
    return targets


def softmax_cross_entropy(logits, targets, return_probabilities=False):
    """-sum(targets * log_softmax(logits)) over the last axis, per sample.
    return_probabilities=True: (losses, softmax(logits) as a NumPy array)."""
    op = "softmax_cross_entropy"
    logits = _logits(logits, op)
    targets = _targets(targets, logits, op)
    log_p, p = _log_softmax_rows(logits.data)
    losses = SoftmaxCrossEntropy.apply(logits, targets, log_p, p)
    return (losses, p) if return_probabilities else losses


def binary_cross_entropy_with_logits(logits, targets):
    """Sigmoid cross-entropy, averaged over the last axis (as Keras does), per sample."""
    op = "binary_cross_entropy_with_logits"
    logits = _logits(logits, op)
    return BinaryCrossEntropyWithLogits.apply(logits, _targets(targets, logits, op))
