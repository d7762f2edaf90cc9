"""Learning-rate schedules: `schedule(step) -> learning rate`, Keras 3's formulas
(keras/src/optimizers/schedules/learning_rate_schedule.py). `step` is the optimizer's
`iterations` before the update (0 for the first step). Each costs O(1) per step.

    ExponentialDecay        lr0 * rate^(step / decay_steps)           (floor the exponent: staircase)
    InverseTimeDecay        lr0 / (1 + rate * step / decay_steps)     (floor the fraction: staircase)
    PiecewiseConstantDecay  values[i] for boundaries[i-1] < step <= boundaries[i]
    PolynomialDecay         (lr0 - end) * (1 - min(step, T) / T)^power + end
                            cycle: T grows to the next multiple of decay_steps past step
    CosineDecay             optional linear warm-up lr0 -> warmup_target over warmup_steps, then
                            peak * ((1 - alpha) * 0.5 * (1 + cos(pi * min(s, T) / T)) + alpha)
    CosineDecayRestarts     the cosine restarted every period; periods grow by t_mul, peaks by m_mul

Schedules are plain JSON-able configurations, so they are saved with the optimizer.
"""
import math

from nnx.utils.config import Configurable
from nnx.utils.names import unknown_name_error


def _number(value, what, who, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{who}: {what} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{who}: {what} must be {'positive' if positive else 'non-negative'} and "
                         f"finite, got {value}")
    return value


class LearningRateSchedule(Configurable):
    """Base class: subclasses implement `__call__(step)` and `get_config()`."""

    def __call__(self, step):
        raise NotImplementedError


class ExponentialDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        who = "ExponentialDecay"
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", who)
        self.decay_steps = _number(decay_steps, "decay_steps", who, positive=True)
        self.decay_rate = _number(decay_rate, "decay_rate", who)
        self.staircase, self.name = bool(staircase), name or type(self).__name__

    def __call__(self, step):
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(ExponentialDecay):
    def __call__(self, step):
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1.0 + self.decay_rate * p)


class PiecewiseConstantDecay(LearningRateSchedule):
    def __init__(self, boundaries, values, name=None):
        who = "PiecewiseConstantDecay"
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"{who}: values needs one more entry than boundaries, got "
                             f"{len(boundaries)} boundaries and {len(values)} values")
        if any(b1 >= b2 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"{who}: boundaries must increase, got {boundaries}")
        self.boundaries = [float(b) for b in boundaries]
        self.values = [_number(v, "values", who) for v in values]
        self.name = name or "PiecewiseConstant"

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name=None):
        who = "PolynomialDecay"
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", who)
        self.decay_steps = _number(decay_steps, "decay_steps", who, positive=True)
        self.end_learning_rate = _number(end_learning_rate, "end_learning_rate", who)
        self.power = _number(power, "power", who)
        self.cycle, self.name = bool(cycle), name or "PolynomialDecay"

    def __call__(self, step):
        decay_steps = self.decay_steps
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / decay_steps)
        else:
            step = min(step, decay_steps)
        fraction = 1.0 - step / decay_steps
        return ((self.initial_learning_rate - self.end_learning_rate) * fraction ** self.power
                + self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power,
                "cycle": self.cycle, "name": self.name}


class CosineDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        who = "CosineDecay"
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", who)
        self.decay_steps = _number(decay_steps, "decay_steps", who, positive=True)
        self.alpha = _number(alpha, "alpha", who)
        self.warmup_target = None if warmup_target is None else _number(warmup_target,
                                                                        "warmup_target", who)
        self.warmup_steps = _number(warmup_steps, "warmup_steps", who)
        self.name = name

    def _decay(self, step, peak):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return peak * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            return (self.initial_learning_rate
                    + (self.warmup_target - self.initial_learning_rate) * step / self.warmup_steps)
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name="SGDRDecay"):
        who = "CosineDecayRestarts"
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", who)
        self.first_decay_steps = _number(first_decay_steps, "first_decay_steps", who, positive=True)
        self.t_mul = _number(t_mul, "t_mul", who, positive=True)
        self.m_mul = _number(m_mul, "m_mul", who)
        self.alpha = _number(alpha, "alpha", who)
        self.name = name

    def __call__(self, step):
        fraction = step / self.first_decay_steps
        if self.t_mul == 1.0:
            restart = math.floor(fraction)
            fraction -= restart
        else:   # period i lasts t_mul^i first periods: find i from the geometric sum
            restart = math.floor(math.log(1.0 - fraction * (1.0 - self.t_mul)) / math.log(self.t_mul))
            done = (1.0 - self.t_mul ** restart) / (1.0 - self.t_mul)
            fraction = (fraction - done) / self.t_mul ** restart
        cosine = 0.5 * self.m_mul ** restart * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_CLASSES = {cls.__name__: cls for cls in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay,
                                          PolynomialDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule):
    """{'class_name', 'config'} of a built-in schedule (ValueError for any other callable)."""
    if type(schedule).__name__ not in _CLASSES or _CLASSES[type(schedule).__name__] is not type(schedule):
        raise ValueError(f"schedules.serialize: {schedule!r} is not a built-in learning-rate "
                         f"schedule, so it cannot be saved")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config):
    """The schedule a `serialize` dict describes; only the classes of this module are accepted."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"schedules.deserialize: expected {{'class_name', 'config'}}, got {config!r}")
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        raise unknown_name_error("schedules.deserialize", "schedule", config["class_name"], _CLASSES)
    try:
        return cls.from_config(dict(config.get("config", {})))
    except TypeError as e:
        raise ValueError(f"schedules.deserialize: bad config for {config['class_name']}: {e}") from e
