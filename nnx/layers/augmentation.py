"""Image augmentation layers with Keras 3's names, arguments and formulas
(keras/src/layers/preprocessing/image_preprocessing/random_*.py).

They act only when called with `training=True` (as `fit` does) and are the identity at inference,
except RandomCrop, which always returns (height, width) images: a random window while training, the
centred largest window of the target aspect ratio, resized, at inference (Keras' documented rule).
Every sample gets its own random draw, from nnx's generator (`nnx.manual_seed`) or, with `seed=`, from
the layer's own. The geometric layers build one projective transform per image and resample through
the `affine_transform` kernel of the current backend (csrc/resample.c, or its NumPy reference).

Augmentation changes the data, not the model: no gradient flows through these layers, and they refuse
an input that needs one while training rather than silently cutting the graph.
"""
import math

import numpy as np

from nnx import backend
from nnx.layers.base import Layer
from nnx.random import get_rng
from nnx.tensor import Tensor

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


class _Augmentation(Layer):
    """Shared by the augmentation layers: input checks, the generator, identity at inference."""
    input_rank = 4
    input_layout = "(N, H, W, C)"

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise TypeError(f"{self._who()}: seed must be None or a non-negative int, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._own_rng = None if seed is None else np.random.default_rng(self.seed)

    def rng(self):
        return get_rng() if self._own_rng is None else self._own_rng

    def call(self, inputs, training=False):
        if not training:
            return self.infer(inputs)
        if inputs.requires_grad:
            raise ValueError(f"{self._who()}: augmentation passes no gradient, but its input requires "
                             f"one; put augmentation layers before the trainable layers")
        x = np.asarray(inputs.data, dtype=self.dtype)
        return Tensor(self.augment(x, self.rng()))

    def infer(self, inputs):
        return inputs

    def augment(self, x, rng):
        """The augmented copy of the (N, H, W, C) array x."""
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _factor_range(who, name, factor, low, high):
    """Keras' factor rule: a number f gives (-|f|, |f|) clipped to [low, high]; a pair gives its sorted
    values, each within [low, high]."""
    message = f"{who}: {name} must be a number or a pair of numbers in [{low}, {high}], got {factor!r}"
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(_is_number(f) and low <= f <= high for f in factor):
            raise ValueError(message)
        return tuple(sorted(float(f) for f in factor))
    if not _is_number(factor) or not low <= factor <= high:
        raise ValueError(message)
    return max(-abs(float(factor)), low), abs(float(factor))


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _as_config(factor):
    return list(factor) if isinstance(factor, (tuple, list)) else factor


class _Resampling(_Augmentation):
    """Rotation, translation and zoom: a per-image transform, resampled with a fill mode."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if fill_mode not in FILL_MODES:
            raise ValueError(f"{self._who()}: fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{self._who()}: interpolation must be one of {INTERPOLATIONS}, got "
                             f"{interpolation!r}")
        if not _is_number(fill_value):
            raise ValueError(f"{self._who()}: fill_value must be a finite number, got {fill_value!r}")
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, float(fill_value)

    def augment(self, x, rng):
        n, h, w, _ = x.shape
        transforms = self.transforms(n, h, w, rng)
        return backend.kernels().affine_transform(x, transforms, self.interpolation, self.fill_mode,
                                                  self.fill_value)

    def transforms(self, n, h, w, rng):
        """(n, 8) transforms mapping output pixels to the input points they sample."""
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


class RandomRotation(_Resampling):
    """Rotate each image about its centre by an angle drawn from [lower, upper] * 360 degrees
    (`factor` is a fraction of a full turn; positive turns counter-clockwise)."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = _as_config(factor)
        self.lower, self.upper = _factor_range(self._who(), "factor", factor, -1.0, 1.0)

    def transforms(self, n, h, w, rng):
        angle = np.deg2rad(rng.uniform(self.lower * 360.0, self.upper * 360.0, size=n))
        cos, sin = np.cos(angle), np.sin(angle)
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0          # Keras' _compute_affine_matrix, centre 0.5
        zero = np.zeros(n)
        return np.stack([cos, -sin, cx - cx * cos + cy * sin,
                         sin, cos, cy - cx * sin - cy * cos, zero, zero], axis=1)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomTranslation(_Resampling):
    """Shift each image by a fraction of its height and width drawn from the factors' ranges
    (positive: down and right)."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear",
                 seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = _as_config(height_factor), _as_config(width_factor)
        self.height_range = _factor_range(self._who(), "height_factor", height_factor, -1.0, 1.0)
        self.width_range = _factor_range(self._who(), "width_factor", width_factor, -1.0, 1.0)

    def transforms(self, n, h, w, rng):
        dy = rng.uniform(*self.height_range, size=n) * h
        dx = rng.uniform(*self.width_range, size=n) * w
        one, zero = np.ones(n), np.zeros(n)
        return np.stack([one, zero, -dx, zero, one, -dy, zero, zero], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


class RandomZoom(_Resampling):
    """Zoom each image about its centre: the sampled region is (1 + factor) times the image, so a
    negative factor zooms in. Without `width_factor` both axes share the height's draw."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear",
                 seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = _as_config(height_factor), _as_config(width_factor)
        self.height_range = _factor_range(self._who(), "height_factor", height_factor, -1.0, 1.0)
        self.width_range = (None if width_factor is None else
                            _factor_range(self._who(), "width_factor", width_factor, -1.0, 1.0))

    def transforms(self, n, h, w, rng):
        zy = rng.uniform(1.0 + self.height_range[0], 1.0 + self.height_range[1], size=n)
        zx = zy if self.width_range is None else rng.uniform(1.0 + self.width_range[0],
                                                             1.0 + self.width_range[1], size=n)
        zero = np.zeros(n)
        return np.stack([zx, zero, (w - 1) / 2.0 * (1.0 - zx),
                         zero, zy, (h - 1) / 2.0 * (1.0 - zy), zero, zero], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


class RandomFlip(_Augmentation):
    """Flip each image left-right and/or upside-down, each with probability 1/2."""
    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in self.MODES:
            raise ValueError(f"{self._who()}: mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode

    def augment(self, x, rng):
        out = x.copy()
        n = len(x)
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            flip = rng.uniform(size=n) < 0.5
            out[flip] = out[flip, :, ::-1]
        if self.mode in ("vertical", "horizontal_and_vertical"):
            flip = rng.uniform(size=n) < 0.5
            out[flip] = out[flip, ::-1]
        return out

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class RandomContrast(_Augmentation):
    """Per image, y = (x - mean) * f + mean per channel (mean over H and W), with f drawn from
    [1 - lower, 1 + upper] (`factor` f gives lower = upper = f), clipped to `value_range`."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _as_config(factor)
        if isinstance(factor, (tuple, list)):
            self.lower, self.upper = _factor_range(self._who(), "factor", factor, 0.0, 1.0)
        else:
            self.lower = self.upper = _factor_range(self._who(), "factor", factor, 0.0, 1.0)[1]
        if (not isinstance(value_range, (tuple, list)) or len(value_range) != 2
                or not all(_is_number(v) for v in value_range) or value_range[0] >= value_range[1]):
            raise ValueError(f"{self._who()}: value_range must be a pair (low, high) with low < high, got "
                             f"{value_range!r}")
        self.value_range = [float(v) for v in value_range]

    def augment(self, x, rng):
        f = rng.uniform(1.0 - self.lower, 1.0 + self.upper, size=(len(x), 1, 1, 1)).astype(x.dtype)
        mean = x.mean(axis=(1, 2), keepdims=True)
        return np.clip((x - mean) * f + mean, *self.value_range).astype(x.dtype)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


class RandomCrop(_Augmentation):
    """Crop (height, width) windows: at a random place per image while training (when the image is
    larger on both axes); otherwise the centred largest window with the target's aspect ratio,
    resized bilinearly to (height, width)."""

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        for name, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{self._who()}: {name} must be a positive int, got {value!r}")
        self.height, self.width = int(height), int(width)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def augment(self, x, rng):
        n, h, w, _ = x.shape
        if not (h > self.height and w > self.width):
            return self.centre_crop(x)
        top = (rng.uniform(0, h - self.height + 1, size=n)).astype(np.intp)
        left = (rng.uniform(0, w - self.width + 1, size=n)).astype(np.intp)
        rows = top[:, None] + np.arange(self.height)            # (n, height)
        cols = left[:, None] + np.arange(self.width)            # (n, width)
        return x[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]

    def infer(self, inputs):
        return Tensor(self.centre_crop(np.asarray(inputs.data, dtype=self.dtype)))

    def centre_crop(self, x):
        """The centred largest window of the target aspect ratio, resized to (height, width)."""
        _, h, w, _ = x.shape
        crop_h = max(min(h, int(w * self.height / self.width)), 1)
        crop_w = max(min(w, int(h * self.width / self.height)), 1)
        top, left = (h - crop_h) // 2, (w - crop_w) // 2
        crop = x[:, top:top + crop_h, left:left + crop_w]
        if (crop_h, crop_w) == (self.height, self.width):
            return crop.copy()
        # Bilinear resize with half-pixel centres: output pixel o samples input (o + 0.5) * s - 0.5,
        # clamped to the edge pixels ('nearest'), like jax.image.resize behind Keras' resize.
        sy, sx = crop_h / self.height, crop_w / self.width
        scale = np.array([sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5, 0, 0])
        return backend.kernels().affine_transform(crop, scale, "bilinear", "nearest", 0.0,
                                                  output_shape=(self.height, self.width))

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
