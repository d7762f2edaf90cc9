"""Learning-rate schedules at their step boundaries, against Keras 3's formulas transcribed from
keras/src/optimizers/schedules/learning_rate_schedule.py."""
import math

import pytest

from nnx.optimizers import schedules


def test_exponential_decay_smooth_and_staircase():
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(0) == 0.1 and s(10) == pytest.approx(0.05) and s(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    stairs = schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert [stairs(k) for k in (0, 9, 10, 19, 20)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_inverse_time_decay():
    s = schedules.InverseTimeDecay(0.1, decay_steps=1.0, decay_rate=0.5)
    assert [s(k) for k in (0, 1, 2)] == pytest.approx([0.1, 0.1 / 1.5, 0.1 / 2.0])
    stairs = schedules.InverseTimeDecay(0.1, 10, 0.5, staircase=True)
    assert [stairs(k) for k in (9, 10)] == pytest.approx([0.1, 0.1 / 1.5])


def test_piecewise_constant_boundaries_belong_to_the_left_interval():
    s = schedules.PiecewiseConstantDecay([100, 110], [1.0, 0.5, 0.1])
    assert [s(k) for k in (0, 100, 101, 110, 111, 10_000)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    with pytest.raises(ValueError, match="one more"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.5])
    with pytest.raises(ValueError, match="increase"):
        schedules.PiecewiseConstantDecay([2, 1], [1.0, 0.5, 0.1])


def test_polynomial_decay_with_and_without_cycle():
    s = schedules.PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.01, power=2.0)
    assert [s(k) for k in (0, 5, 10, 20)] == pytest.approx([0.1, 0.09 * 0.25 + 0.01, 0.01, 0.01])
    c = schedules.PolynomialDecay(0.1, 10, 0.0, power=1.0, cycle=True)
    # cycle: decay_steps becomes 10 * ceil(step / 10); step 0 keeps multiplier 1
    assert [c(k) for k in (0, 10, 15, 20)] == pytest.approx([0.1, 0.0, 0.1 * 0.25, 0.0])


def test_cosine_decay_and_warmup():
    s = schedules.CosineDecay(0.1, decay_steps=100, alpha=0.2)
    assert s(0) == pytest.approx(0.1) and s(100) == pytest.approx(0.02) and s(500) == pytest.approx(0.02)
    assert s(50) == pytest.approx(0.1 * (0.8 * 0.5 + 0.2))
    w = schedules.CosineDecay(0.0, decay_steps=100, warmup_target=1.0, warmup_steps=10)
    assert [w(k) for k in (0, 5, 10, 60, 110, 200)] == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0, 0.0])


def test_cosine_decay_restarts():
    s = schedules.CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=2.0, m_mul=0.5, alpha=0.0)
    # periods of 10, 20, 40 steps starting at 0, 10, 30; peaks 1, 0.5, 0.25
    assert s(0) == pytest.approx(1.0) and s(5) == pytest.approx(0.5)
    assert s(10) == pytest.approx(0.5) and s(20) == pytest.approx(0.25)
    assert s(30) == pytest.approx(0.25)
    same = schedules.CosineDecayRestarts(1.0, 10, t_mul=1.0, m_mul=1.0)
    assert same(10) == pytest.approx(1.0) and same(15) == pytest.approx(0.5)
    assert same(9) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.9)))


@pytest.mark.parametrize("schedule", [
    schedules.ExponentialDecay(0.1, 10, 0.9, staircase=True), schedules.InverseTimeDecay(0.1, 5, 0.5),
    schedules.PiecewiseConstantDecay([3], [0.1, 0.01]), schedules.PolynomialDecay(0.1, 10, cycle=True),
    schedules.CosineDecay(0.1, 20, warmup_target=0.2, warmup_steps=5),
    schedules.CosineDecayRestarts(0.1, 7, t_mul=1.5, m_mul=0.9, alpha=0.1),
])
def test_serialize_round_trip(schedule):
    again = schedules.deserialize(schedules.serialize(schedule))
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()
    assert [again(k) for k in range(30)] == [schedule(k) for k in range(30)]


def test_bad_arguments():
    with pytest.raises(ValueError, match="ExponentialDecay: decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(TypeError, match="initial_learning_rate"):
        schedules.CosineDecay("fast", 10)
    with pytest.raises(ValueError, match="deserialize"):
        schedules.deserialize({"class_name": "ExponentialDecay", "config": {"bogus": 1}})
