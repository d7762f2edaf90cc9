"""Environments: the Gymnasium protocol, a dependency-free CartPole-v1, and Gymnasium itself when installed.

An environment is any object with
    reset(seed=None) -> (observation, info)
    step(action)     -> (observation, reward, terminated, truncated, info)
(Gymnasium's API): `terminated` means the task ended (the pole fell), `truncated` that a time limit cut
the episode short, so the value of the next state still counts.
"""
import math
import warnings

import numpy as np


class CartPole:
    """CartPole-v1: balance a pole on a cart by pushing it left (action 0) or right (action 1).

    The classic-control equations (Barto, Sutton & Anderson 1983, as corrected by Florian 2007) with
    Gymnasium's constants and explicit Euler steps of tau = 0.02 s. Observation (x, x_dot, theta,
    theta_dot) as float32; reward 1 per step; terminated when |x| > 2.4 or |theta| > 12 degrees;
    truncated after `max_episode_steps` (500 for v1). `reset(seed)` draws the state uniformly from
    [-0.05, 0.05]^4 with `numpy.random.default_rng(seed)`, the generator Gymnasium seeds, so a seeded
    episode is step for step the one `gymnasium.make('CartPole-v1')` plays.
    """
    gravity = 9.8
    masscart = 1.0
    masspole = 0.1
    total_mass = masscart + masspole
    length = 0.5                       # half the pole's length
    polemass_length = masspole * length
    force_mag = 10.0
    tau = 0.02
    theta_threshold_radians = 12 * 2 * math.pi / 360
    x_threshold = 2.4
    num_actions = 2
    observation_shape = (4,)

    def __init__(self, max_episode_steps=500):
        if isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int) \
                or max_episode_steps < 1:
            raise ValueError(f"CartPole: max_episode_steps must be a positive int, got {max_episode_steps!r}")
        self.max_episode_steps = max_episode_steps
        self.np_random = np.random.default_rng()
        self.state = None
        self.elapsed_steps = 0
        self.steps_beyond_terminated = None

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.state = tuple(float(v) for v in self.np_random.uniform(-0.05, 0.05, size=4))
        self.elapsed_steps = 0
        self.steps_beyond_terminated = None
        return np.array(self.state, dtype=np.float32), {}

    def step(self, action):
        if self.state is None:
            raise RuntimeError("CartPole: call reset() before step()")
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)) \
                or action not in (0, 1):
            raise ValueError(f"CartPole: action must be 0 (push left) or 1 (push right), got {action!r}")
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        costheta, sintheta = math.cos(theta), math.sin(theta)
        temp = (force + self.polemass_length * theta_dot ** 2 * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta ** 2 / self.total_mass))
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x, x_dot = x + self.tau * x_dot, x_dot + self.tau * xacc            # explicit Euler: the
        theta, theta_dot = theta + self.tau * theta_dot, theta_dot + self.tau * thetaacc  # old rates
        self.state = (x, x_dot, theta, theta_dot)
        terminated = bool(x < -self.x_threshold or x > self.x_threshold
                          or theta < -self.theta_threshold_radians or theta > self.theta_threshold_radians)
        if not terminated:
            reward = 1.0
        elif self.steps_beyond_terminated is None:
            self.steps_beyond_terminated = 0      # the pole just fell: this step still counts
            reward = 1.0
        else:
            if self.steps_beyond_terminated == 0:
                warnings.warn("CartPole: step() after the episode terminated; call reset()", stacklevel=2)
            self.steps_beyond_terminated += 1
            reward = 0.0
        self.elapsed_steps += 1
        truncated = self.elapsed_steps >= self.max_episode_steps
        return np.array(self.state, dtype=np.float32), reward, terminated, truncated, {}


def make(env_id, **kwargs):
    """A Gymnasium environment by id (needs `pip install "nnx[rl]"`); 'CartPole-v1' without Gymnasium
    gives nnx's own CartPole."""
    try:
        import gymnasium
    except ImportError:
        if env_id == "CartPole-v1":
            return CartPole(**kwargs)
        raise ImportError(f"nnx.rl.make({env_id!r}) needs Gymnasium: pip install \"nnx[rl]\"") from None
    return gymnasium.make(env_id, **kwargs)
