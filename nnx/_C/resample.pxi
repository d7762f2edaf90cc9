# Resampling binding: check everything, then call csrc/resample.c without the GIL.

_INTERPOLATIONS = {"nearest": NNX_INTERP_NEAREST, "bilinear": NNX_INTERP_BILINEAR}
_FILL_MODES = {"reflect": NNX_FILL_REFLECT, "wrap": NNX_FILL_WRAP, "constant": NNX_FILL_CONSTANT,
               "nearest": NNX_FILL_NEAREST}


cdef object _transforms(str kernel, object transforms, Py_ssize_t n):
    """Check transforms: (8,), (1, 8) or (N, 8) finite reals; return a contiguous float64 (rows, 8) array."""
    dt = getattr(transforms, "dtype", None)
    if dt is None:
        raise TypeError(f"{kernel}: transforms must be a NumPy array, got {type(transforms).__name__}")
    if dt.kind not in "iuf":
        raise TypeError(f"{kernel}: transforms must be real numbers, got dtype {dt}")
    t = transforms.reshape(1, -1) if transforms.ndim == 1 else transforms
    if t.ndim != 2 or t.shape[1] != 8 or t.shape[0] not in (1, n):
        raise ValueError(f"{kernel}: transforms must have shape (8,), (1, 8) or (N, 8) = ({n}, 8) for "
                         f"{n} images, got shape {transforms.shape}")
    t = np.ascontiguousarray(t, dtype=np.float64)
    if not np.isfinite(t).all():
        raise ValueError(f"{kernel}: transforms must be finite, got {transforms!r}")
    return t


def affine_transform(images, transforms, interpolation="bilinear", fill_mode="constant", fill_value=0.0,
                     output_shape=None):
    """Resample (N, H, W, C) images through projective transforms [a0 a1 a2 b0 b1 b2 c0 c1] that map
    output (x, y) to input ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1.

    interpolation 'nearest' | 'bilinear'; fill_mode 'reflect' | 'wrap' | 'constant' | 'nearest' (TF's
    ImageProjectiveTransformV3); output_shape (OH, OW), default the input's (H, W)."""
    kernel = "affine_transform"
    dt = _compute_dtype(kernel, [("images", images)])
    n, h, w, c = _image_shape(kernel, "images", images)
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{kernel}: interpolation must be one of {sorted(_INTERPOLATIONS)}, got "
                         f"{interpolation!r}")
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"{kernel}: fill_mode must be one of {sorted(_FILL_MODES)}, got {fill_mode!r}")
    if isinstance(fill_value, bool) or not isinstance(fill_value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(fill_value):
        raise TypeError(f"{kernel}: fill_value must be a finite real number, got {fill_value!r}")
    oh, ow = (h, w) if output_shape is None else _pair(kernel, "output_shape", output_shape, 1)
    T = _transforms(kernel, transforms, n)
    cdef nnx_resample_geom g
    g.n, g.h, g.w, g.c, g.oh, g.ow = n, h, w, c, oh, ow
    g.transform_stride = 8 if T.shape[0] == n and n > 1 else 0
    g.interpolation = _INTERPOLATIONS[interpolation]
    g.fill_mode = _FILL_MODES[fill_mode]
    cdef double fill = float(fill_value)
    X = _contiguous(images, dt)
    Y = np.empty((n, oh, ow, c), dtype=dt)
    cdef cnp.ndarray cX = X, cY = Y, cT = T
    if dt == np.float32:
        with nogil:
            nnx_affine_transform_f32(&g, <float*>cX.data, <double*>cT.data, fill, <float*>cY.data)
    else:
        with nogil:
            nnx_affine_transform_f64(&g, <double*>cX.data, <double*>cT.data, fill, <double*>cY.data)
    return Y
