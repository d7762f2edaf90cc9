"""Window geometry of convolution and pooling, in one place, for every level of nnx (the bindings, the
NumPy reference, the autograd ops and the layers); it imports nothing from nnx.

Along one axis of `size` pixels, a window of `window` taps spaced `dilation` apart spans
(window - 1) * dilation + 1 pixels; moved `stride` at a time over the input padded with `before` and
`after` zeros it has

    out = (size + before + after - span) // stride + 1          (out < 1: the window does not fit)

positions. 'valid' pads nothing; 'same' (TensorFlow's and Keras' rule) pads so that
out = ceil(size / stride): total padding max((out - 1) * stride + span - size, 0), the odd pixel after
(at the bottom / right). A transposed convolution is the adjoint of a forward one; its lengths follow
Keras 3 (keras/src/backend/common/backend_utils.py).

Argument checks raise ValueError naming the op or layer (`owner`) and the argument (`what`).
"""
import numpy as np

VALID_SAME = ("valid", "same")


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def positive_int(owner, what, value):
    """A positive int (NumPy ints accepted, bools refused) as a Python int."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{owner}: {what} must be a positive int, got {value!r}")
    return int(value)


def positive_ints(owner, what, value, rank=2):
    """An int or a `rank`-sequence of positive ints -> a tuple of `rank` Python ints (Keras'
    standardize_tuple)."""
    if type(value) is int and value >= 1:                          # the common case, checked cheaply
        return (value,) * rank
    if type(value) is tuple and len(value) == rank and all(type(v) is int and v >= 1 for v in value):
        return value
    values = (value,) * rank if _is_int(value) else value
    if (not isinstance(values, (tuple, list)) or len(values) != rank or
            not all(_is_int(v) and v >= 1 for v in values)):
        sequence = "a pair of them" if rank == 2 else f"a tuple of {rank} of them"
        raise ValueError(f"{owner}: {what} must be a positive int or {sequence}, got {value!r}")
    return tuple(int(v) for v in values)


def pair(owner, what, value):
    """An int or a pair of positive ints -> (h, w)."""
    return positive_ints(owner, what, value, 2)


def _as_pixel_pairs(value):
    """((top, bottom), (left, right)) from an int, (h, w) or pairs of ints >= 0; None for anything else."""
    def ok(v):
        return _is_int(v) and v >= 0
    if ok(value):
        return ((int(value),) * 2,) * 2
    if isinstance(value, (tuple, list)) and len(value) == 2:
        if all(ok(v) for v in value):
            return tuple((int(v), int(v)) for v in value)
        if all(isinstance(v, (tuple, list)) and len(v) == 2 and all(ok(p) for p in v) for v in value):
            return tuple((int(a), int(b)) for a, b in value)
    return None


def pixel_pairs(owner, what, value):
    """Explicit 2-D padding or cropping: an int, (h, w) or ((top, bottom), (left, right)) of ints >= 0
    -> ((top, bottom), (left, right))."""
    pairs = _as_pixel_pairs(value)
    if pairs is None:
        raise ValueError(f"{owner}: {what} must be an int, (h, w) or ((top, bottom), (left, right)) of "
                         f"non-negative ints, got {value!r}")
    return pairs


def padding_mode(owner, padding, modes=VALID_SAME):
    """One of `modes` in any case -> lower case."""
    if isinstance(padding, str) and padding.lower() in modes:
        return padding.lower()
    names = ", ".join(repr(m) for m in modes[:-1]) + f" or {modes[-1]!r}"
    raise ValueError(f"{owner}: padding must be {names}, got {padding!r}")


def padding_arg(owner, padding):
    """A 2-D padding argument: 'valid' / 'same' (any case, returned lower-case) or explicit pixels as
    pixel_pairs takes them (returned as given, lists made tuples, so that a config keeps its form)."""
    if isinstance(padding, str):
        if padding.lower() in VALID_SAME:
            return padding.lower()
    elif _as_pixel_pairs(padding) is not None:
        return int(padding) if _is_int(padding) else tuple(
            int(p) if _is_int(p) else (int(p[0]), int(p[1])) for p in padding)
    raise ValueError(f"{owner}: padding must be 'valid', 'same', an int, (h, w) or "
                     f"((top, bottom), (left, right)) of non-negative ints, got {padding!r}")


def same_padding(size, window, stride, dilation=1):
    """(before, after) of 'same' padding along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (window - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def per_side(padding, sizes, window, strides, dilation):
    """A mode or padding_arg's explicit form -> ((top, bottom), (left, right)) for an input of spatial
    `sizes`."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        return (same_padding(sizes[0], window[0], strides[0], dilation[0]),
                same_padding(sizes[1], window[1], strides[1], dilation[1]))
    return _as_pixel_pairs(padding)


def _positions(padded, window, stride, dilation):
    return (padded - (window - 1) * dilation - 1) // stride + 1


def output_length(size, window, stride, padding="valid", dilation=1):
    """Output positions along one axis (None for an unknown size); padding 'valid', 'same' or
    (before, after). A result < 1 means the window does not fit; callers raise with their names."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    before, after = (0, 0) if padding == "valid" else padding
    return _positions(size + before + after, window, stride, dilation)


def window_output(owner, x_shape, window, strides, pads, dilation=(1, 1)):
    """(OH, OW) of a window over an (N, H, W, C) shape with explicit pads, or a ValueError. The
    bindings call it on every kernel call: it stays a few integer operations."""
    (top, bottom), (left, right) = pads
    oh = _positions(x_shape[1] + top + bottom, window[0], strides[0], dilation[0])
    ow = _positions(x_shape[2] + left + right, window[1], strides[1], dilation[1])
    if oh < 1 or ow < 1:
        raise ValueError(f"{owner}: window {tuple(window)} does not fit input shape {tuple(x_shape)} with "
                         f"padding {tuple(pads)} and dilation {tuple(dilation)}: output would be {oh}x{ow}")
    return oh, ow


def check_pool_padding(owner, x_shape, pool_size, pads):
    """Pooling pads less than the window on each side: otherwise a window could lie wholly in the
    padding and pool nothing."""
    if max(pads[0]) >= pool_size[0] or max(pads[1]) >= pool_size[1]:
        raise ValueError(f"{owner}: padding {tuple(pads)} must be smaller than pool_size {tuple(pool_size)} "
                         f"on each side (a window would lie wholly in the padding); input shape "
                         f"{tuple(x_shape)}")


# --- transposed convolution -------------------------------------------------------------------------
def output_padding_arg(owner, value, strides):
    """None, or an int or (h, w) of non-negative ints each smaller than its stride -> None or (h, w)."""
    if value is None:
        return None
    values = (value, value) if _is_int(value) else value
    if (not isinstance(values, (tuple, list)) or len(values) != 2 or
            not all(_is_int(p) and 0 <= p < s for p, s in zip(values, strides))):
        raise ValueError(f"{owner}: output_padding must be None or non-negative ints smaller than the "
                         f"strides {tuple(strides)}, got {value!r}")
    return int(values[0]), int(values[1])


def transpose_output_length(size, window, stride, dilation, padding, output_padding):
    """Keras 3's output length of a transposed convolution along one axis (None stays None):
    'valid' (size - 1) * s + k_eff + output_padding (default max(k_eff, s) - k_eff); 'same' size * s,
    or (size - 1) * s + k_eff % 2 + output_padding when given; k_eff = (window - 1) * dilation + 1."""
    if size is None:
        return None
    k_eff = (window - 1) * dilation + 1
    if padding == "valid":
        extra = max(k_eff, stride) - k_eff if output_padding is None else output_padding
        return (size - 1) * stride + k_eff + extra
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + k_eff % 2 + output_padding


def transpose_padding(size, out, window, stride, dilation, padding, output_padding):
    """The padding (before, after) of the forward convolution whose adjoint the transposed one is.

    Keras (keras/src/backend/common/backend_utils.py) pads the stride-dilated input with
    left = k_eff - 1 - before zeros; so before = k_eff - 1 - left, and after is whatever makes the
    forward convolution of the output give back `size` positions."""
    k_eff = (window - 1) * dilation + 1
    if padding == "valid":
        left = k_eff - 1
    else:
        pad_len = stride + k_eff - 2 if output_padding is None else k_eff + k_eff % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, k_eff - 1)
    before = k_eff - 1 - left
    return before, max((size - 1) * stride + k_eff - out - before, 0)
