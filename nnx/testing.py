"""Test helpers for people writing kernels and ops: gradient checks, kernel-vs-reference comparison,
and hypothesis strategies for image batches and convolution / pooling configurations.

hypothesis is imported only inside the strategy functions, so this module imports without it.
"""
import numpy as np

from nnx.compare import assert_results_match, describe_call
from nnx.gradcheck import GradcheckError, gradcheck, numerical_gradient  # noqa: F401  (re-exported)



def dot_rounding_bound(y_abs, w, terms_per_element=1):
    """A bound on the float64 rounding error of f = <y, w> when each y_i is itself a sum of at most
    `terms_per_element` products whose absolute values sum to at most `y_abs[i]`.

    Higham's gamma bound, (n + terms + 1) * u * sum_i y_abs_i |w_i|, holds for any summation order, so a
    finite-difference tolerance built from it (this bound / the step, for an f that is linear in the
    perturbed input) is the same on every machine and BLAS. u is float64's unit roundoff."""
    y_abs, w = np.asarray(y_abs, np.float64), np.asarray(w, np.float64)
    n = y_abs.size + int(terms_per_element) + 1
    return n * (np.finfo(np.float64).eps / 2) * float(np.sum(y_abs * np.abs(w))) * 1.01


def layer_gradcheck(layer, x, weight_names=(), training=False):
    """gradcheck a float64 layer: d layer(x) / d x and d / d each weight named in `weight_names`
    (attributes of the layer, swapped for fresh Tensors during the check and restored after)."""
    from nnx.tensor import Tensor
    originals = {n: getattr(layer, n) for n in weight_names}

    def fn(x, *weights):
        for n, w in zip(weight_names, weights):
            setattr(layer, n, w)
        return layer(x, training=training)

    try:
        return gradcheck(fn, [Tensor(x, requires_grad=True)] +
                         [Tensor(originals[n].data, requires_grad=True) for n in weight_names])
    finally:
        for n, w in originals.items():
            setattr(layer, n, w)


def assert_kernel_matches_reference(name, *args, **kwargs):
    """Run `nnx.kernels.<name>` and `nnx.reference.<name>` on the same arguments and assert the results
    agree: exactly for integer outputs, else within the tolerance of nnx.compare for the output's dtype
    (float32: rtol 1e-4, atol 1e-5 * max(1, |reference|); float64: 1e-10 / 1e-12). Returns the
    compiled result."""
    from nnx import kernels, reference
    got = getattr(kernels, name)(*args, **kwargs)
    want = getattr(reference, name)(*args, **kwargs)
    assert_results_match(describe_call(name, args, kwargs), got, want)
    return got


def with_layout(array, layout):
    """The same values in another memory layout: 'C', 'F' (Fortran order), 'sliced' (a strided view
    into a larger buffer) or 'transposed' (a non-contiguous transposed view)."""
    array = np.asarray(array)
    if layout == "C":
        return np.ascontiguousarray(array)
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "sliced":
        big = np.zeros(tuple(2 * n for n in array.shape), dtype=array.dtype)
        view = big[tuple(slice(None, None, 2) for _ in array.shape)]
        view[...] = array
        return view
    if layout == "transposed":
        return np.ascontiguousarray(array.T).T
    raise ValueError(f"with_layout: unknown layout {layout!r}")


LAYOUTS = ("C", "F", "sliced", "transposed")


def _strategies():
    try:
        from hypothesis import strategies as st
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("nnx.testing strategies need hypothesis: pip install hypothesis") from e
    return st


def arrays(shape, dtype=np.float64, scale=1.0):
    """A strategy for a standard-normal array of `shape` (seeded by hypothesis, so it shrinks)."""
    st = _strategies()
    return st.integers(0, 2**32 - 1).map(
        lambda seed: (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype))


def image_batches(max_batch=3, min_side=1, max_side=8, max_channels=4, dtype=np.float64, layouts=LAYOUTS):
    """A strategy for (N, H, W, C) float arrays in any of `layouts`."""
    st = _strategies()

    @st.composite
    def draw(draw_):
        shape = (draw_(st.integers(1, max_batch)), draw_(st.integers(min_side, max_side)),
                 draw_(st.integers(min_side, max_side)), draw_(st.integers(1, max_channels)))
        return with_layout(draw_(arrays(shape, dtype)), draw_(st.sampled_from(layouts)))
    return draw()


def conv_configs(max_batch=2, max_side=8, max_channels=4, max_kernel=3, dtype=np.float64,
                 layouts=LAYOUTS):
    """A strategy for kernel-level conv2d arguments that produce at least a 1x1 output: a dict with
    x (N, H, W, C_in), kernel (KH, KW, C_in // groups, C_out), strides, padding
    ((top, bottom), (left, right)), dilation and groups — exactly `nnx.kernels.conv2d_forward`'s
    arguments, so `kernels.conv2d_forward(**config)` works."""
    st = _strategies()

    @st.composite
    def draw(draw_):
        groups = draw_(st.integers(1, 2))
        c_in = groups * draw_(st.integers(1, max(1, max_channels // groups)))
        c_out = groups * draw_(st.integers(1, max(1, max_channels // groups)))
        kh, kw = draw_(st.integers(1, max_kernel)), draw_(st.integers(1, max_kernel))
        dh, dw = draw_(st.integers(1, 2)), draw_(st.integers(1, 2))
        sh, sw = draw_(st.integers(1, 3)), draw_(st.integers(1, 3))
        pads = tuple((draw_(st.integers(0, k - 1)), draw_(st.integers(0, k - 1))) for k in (kh, kw))
        h = draw_(st.integers(max(1, (kh - 1) * dh + 1 - sum(pads[0])), max_side + (kh - 1) * dh))
        w = draw_(st.integers(max(1, (kw - 1) * dw + 1 - sum(pads[1])), max_side + (kw - 1) * dw))
        n = draw_(st.integers(1, max_batch))
        x = with_layout(draw_(arrays((n, h, w, c_in), dtype)), draw_(st.sampled_from(layouts)))
        kernel = with_layout(draw_(arrays((kh, kw, c_in // groups, c_out), dtype)),
                             draw_(st.sampled_from(layouts)))
        return dict(x=x, kernel=kernel, strides=(sh, sw), padding=pads, dilation=(dh, dw), groups=groups)
    return draw()


def pool_configs(max_batch=2, max_side=8, max_channels=3, max_pool=3, dtype=np.float64, layouts=LAYOUTS):
    """A strategy for kernel-level pooling arguments: a dict with x, pool_size, strides and padding
    (each side smaller than the pool), producing at least a 1x1 output."""
    st = _strategies()

    @st.composite
    def draw(draw_):
        ph, pw = draw_(st.integers(1, max_pool)), draw_(st.integers(1, max_pool))
        sh, sw = draw_(st.integers(1, 3)), draw_(st.integers(1, 3))
        pads = tuple((draw_(st.integers(0, k - 1)), draw_(st.integers(0, k - 1))) for k in (ph, pw))
        h = draw_(st.integers(max(1, ph - sum(pads[0])), max_side))
        w = draw_(st.integers(max(1, pw - sum(pads[1])), max_side))
        shape = (draw_(st.integers(1, max_batch)), h, w, draw_(st.integers(1, max_channels)))
        x = with_layout(draw_(arrays(shape, dtype)), draw_(st.sampled_from(layouts)))
        return dict(x=x, pool_size=(ph, pw), strides=(sh, sw), padding=pads)
    return draw()


def broadcastable_shapes(max_dims=3, max_side=4):
    """A strategy for a pair of shapes that broadcast against each other."""
    st = _strategies()
    from hypothesis.extra.numpy import mutually_broadcastable_shapes
    return mutually_broadcastable_shapes(num_shapes=2, max_dims=max_dims, max_side=max_side).map(
        lambda s: s.input_shapes)
