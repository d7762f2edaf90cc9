"""Agents that learn from an environment with nnx models: REINFORCE (with an optional value baseline) and
DQN (experience replay and a target network).

Both share one episode loop (`Agent.fit`): act, step, learn, and record each episode's return in a
History (`history.history['return']`). Randomness (exploration, action sampling, replay batches) comes
from nnx's generator, so `nnx.manual_seed` plus a seeded `reset` replays a run exactly.
"""
import numpy as np

import nnx.functional as F
from nnx import activations, optimizers
from nnx.autograd import no_grad
from nnx.callbacks import History
from nnx.random import get_rng
from nnx.tensor import Tensor


def discounted_returns(rewards, gamma):
    """G_t = r_t + gamma * G_{t+1}, G after the last step = 0: the return from each step of an episode."""
    returns = np.empty(len(rewards), dtype=np.float64)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def _check_gamma(who, gamma):
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating)) or not 0 <= gamma <= 1:
        raise ValueError(f"{who}: gamma must be in [0, 1], got {gamma!r}")
    return float(gamma)


def _check_model(who, what, model):
    if not hasattr(model, "forward") or not hasattr(model, "trainable_weights"):
        raise TypeError(f"{who}: {what} must be an nnx model (e.g. Sequential), got {type(model).__name__}")
    return model


class Agent:
    """The episode loop; subclasses implement `act`, `observe` (one transition) and `end_episode`."""

    def _outputs(self, model, obs, training=False, logits=False):
        """model's outputs for a batch of observations, building the model on first use."""
        x = np.asarray(obs, dtype=model.dtype)
        if not model.built:
            model(x[:1])
        return model.forward(Tensor(x), training=training, logits=logits)

    def act(self, obs, greedy=False):
        raise NotImplementedError

    def observe(self, obs, action, reward, next_obs, terminated, truncated):
        """Learn from one transition (called after every step)."""

    def end_episode(self):
        """Learn from the finished episode (called once it terminates or is truncated)."""

    def fit(self, env, episodes=1, max_steps=None, seed=None, verbose=0):
        """Play `episodes` episodes, learning as it goes; returns a History with 'return' and 'length'
        per episode. `seed` seeds the first reset; `max_steps` caps an episode (the env's own limit
        applies too); verbose=1 prints every episode."""
        history = History()
        history.set_model(self)              # like Keras, the agent keeps its last History
        history.on_train_begin()
        for episode, logs in enumerate(self._play(env, episodes, max_steps, seed, learn=True)):
            history.on_epoch_end(episode, logs)
            if verbose:
                print(f"{type(self).__name__} episode {episode + 1}/{episodes}: return {logs['return']:g} "
                      f"in {logs['length']} steps")
        return history

    def evaluate(self, env, episodes=100, max_steps=None, seed=None):
        """The returns of `episodes` greedy episodes, without learning (a NumPy array)."""
        return np.array([logs["return"] for logs in
                         self._play(env, episodes, max_steps, seed, learn=False)])

    def _play(self, env, episodes, max_steps, seed, learn):
        """Yield {'return', 'length'} per episode; `learn` feeds every transition to the agent,
        otherwise it acts greedily."""
        if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes < 1:
            raise ValueError(f"{type(self).__name__}: episodes must be a positive int, got {episodes!r}")
        for episode in range(int(episodes)):
            obs, _ = env.reset(seed=seed) if episode == 0 and seed is not None else env.reset()
            total, steps, done = 0.0, 0, False
            while not done:
                action = self.act(obs, greedy=not learn)
                next_obs, reward, terminated, truncated, _ = env.step(action)
                steps += 1
                truncated = truncated or (max_steps is not None and steps >= max_steps)
                if learn:
                    self.observe(obs, action, float(reward), next_obs, bool(terminated), bool(truncated))
                total += float(reward)
                obs, done = next_obs, terminated or truncated
            if learn:
                self.end_episode()
            yield {"return": total, "length": steps}


class REINFORCE(Agent):
    """Monte-Carlo policy gradient (Williams 1992), updated after every episode:
        loss = -mean_t log pi(a_t | s_t) * (G_t - b(s_t)),
    with G_t the discounted return from step t and b the baseline's value estimate (0 without one);
    the baseline itself is fitted to G_t by mean squared error. The policy maps observations to action
    probabilities (softmax output) or logits (linear output)."""

    def __init__(self, policy, baseline=None, optimizer="adam", gamma=0.99):
        who = "REINFORCE"
        self.policy = _check_model(who, "policy", policy)
        self.baseline = None if baseline is None else _check_model(who, "baseline", baseline)
        self.gamma = _check_gamma(who, gamma)
        self.optimizer = optimizers.get(optimizer)
        # The baseline gets its own optimizer of the same kind and settings (separate moments).
        self.baseline_optimizer = (None if baseline is None else
                                   optimizers.get(optimizers.serialize(self.optimizer)))
        self._episode = []

    def _logits(self, obs, training=False):
        name = activations.serialize(getattr(self.policy.output_layer(), "activation", None))
        if name not in ("softmax", "linear"):
            raise ValueError(f"REINFORCE: the policy's output activation must be 'softmax' "
                             f"(probabilities) or 'linear' (logits), got {name!r}")
        return self._outputs(self.policy, obs, training=training, logits=True)

    def probabilities(self, obs):
        """Action probabilities for a batch of observations."""
        with no_grad():
            return F.softmax(self._logits(obs)).data.astype(np.float64)

    def act(self, obs, greedy=False):
        p = self.probabilities(np.asarray(obs)[None])[0]
        if greedy:
            return int(np.argmax(p))
        return int(get_rng().choice(len(p), p=p / p.sum()))

    def observe(self, obs, action, reward, next_obs, terminated, truncated):
        self._episode.append((obs, action, reward))

    def end_episode(self):
        if not self._episode:
            return
        obs = np.stack([o for o, _, _ in self._episode])
        actions = np.array([a for _, a, _ in self._episode])
        returns = discounted_returns([r for _, _, r in self._episode], self.gamma)
        self._episode = []
        self.update(obs, actions, returns)

    def update(self, obs, actions, returns):
        """One gradient step on the policy (and the baseline) from an episode's steps."""
        advantages = returns
        if self.baseline is not None:
            values = self._outputs(self.baseline, obs, training=True)
            target = returns.reshape(values.shape).astype(values.dtype)
            value_loss = ((values - target) ** 2).mean()
            weights = self.baseline.trainable_weights
            for w in weights:
                w.grad = None
            value_loss.backward()
            self.baseline_optimizer.apply_gradients([(w.grad, w) for w in weights])
            advantages = returns - values.data.reshape(-1)
        log_p = F.log_softmax(self._logits(obs, training=True))
        chosen = np.zeros(log_p.shape, dtype=log_p.dtype)
        chosen[np.arange(len(actions)), actions] = advantages
        loss = -(log_p * chosen).sum() / len(actions)
        weights = self.policy.trainable_weights
        for w in weights:
            w.grad = None
        loss.backward()
        self.optimizer.apply_gradients([(w.grad, w) for w in weights])
        return float(loss.data)


class ReplayBuffer:
    """The last `capacity` transitions in ring buffers; `sample(n, rng)` draws n uniformly with
    replacement."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.size = self.next = 0
        self.obs = self.next_obs = None

    def add(self, obs, action, reward, next_obs, terminated):
        if self.obs is None:
            shape = (self.capacity,) + np.shape(obs)
            self.obs, self.next_obs = np.empty(shape, np.float32), np.empty(shape, np.float32)
            self.actions = np.empty(self.capacity, np.int64)
            self.rewards = np.empty(self.capacity, np.float32)
            self.terminated = np.empty(self.capacity, np.float32)
        i = self.next
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, terminated
        self.next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, n, rng):
        i = rng.integers(0, self.size, size=n)
        return self.obs[i], self.actions[i], self.rewards[i], self.next_obs[i], self.terminated[i]


class DQN(Agent):
    """Deep Q-learning (Mnih et al. 2015): epsilon-greedy acting, a replay buffer, and a target network
    copied from the online one every `target_update` gradient steps. Each step after `learning_starts`
    transitions minimises the Huber loss between Q(s, a) and the target
        y = r + gamma * (1 - terminated) * max_a' Q_target(s', a')
    (a truncated episode still bootstraps). Epsilon decays linearly from `epsilon_start` to
    `epsilon_end` over `epsilon_decay_steps` steps."""

    def __init__(self, q_network, optimizer="adam", gamma=0.99, buffer_size=50000, batch_size=64,
                 target_update=500, epsilon_start=1.0, epsilon_end=0.05, epsilon_decay_steps=10000,
                 learning_starts=1000, train_every=1):
        who = "DQN"
        self.q_network = _check_model(who, "q_network", q_network)
        self.gamma = _check_gamma(who, gamma)
        self.optimizer = optimizers.get(optimizer)
        for name, value in (("buffer_size", buffer_size), ("batch_size", batch_size),
                            ("target_update", target_update), ("epsilon_decay_steps", epsilon_decay_steps),
                            ("train_every", train_every)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{who}: {name} must be a positive int, got {value!r}")
        self.batch_size, self.target_update, self.train_every = batch_size, target_update, train_every
        self.epsilon_start, self.epsilon_end = float(epsilon_start), float(epsilon_end)
        self.epsilon_decay_steps, self.learning_starts = epsilon_decay_steps, max(learning_starts, batch_size)
        self.buffer = ReplayBuffer(buffer_size)
        self.target_weights = None      # the target network: a frozen copy of the online weights
        self.steps = self.updates = 0

    @property
    def epsilon(self):
        fraction = min(1.0, self.steps / self.epsilon_decay_steps)
        return self.epsilon_start + fraction * (self.epsilon_end - self.epsilon_start)

    def q_values(self, obs):
        """Q(s, .) of the online network for a batch of observations."""
        with no_grad():
            return self._outputs(self.q_network, obs).data

    def act(self, obs, greedy=False):
        q = self.q_values(np.asarray(obs)[None])[0]
        if not greedy and get_rng().uniform() < self.epsilon:
            return int(get_rng().integers(len(q)))
        return int(np.argmax(q))

    def _target_q(self, next_obs):
        """max_a' Q_target(s', a'), computed with the target weights swapped into the network."""
        online = self.q_network.get_weights()
        self.q_network.set_weights(self.target_weights)
        try:
            return self.q_values(next_obs).max(axis=1)
        finally:
            self.q_network.set_weights(online)

    def targets(self, rewards, next_q_max, terminated):
        """y = r + gamma * (1 - terminated) * max_a' Q_target(s', a')."""
        return rewards + self.gamma * (1.0 - terminated) * next_q_max

    def observe(self, obs, action, reward, next_obs, terminated, truncated):
        self.buffer.add(obs, action, reward, next_obs, terminated)
        self.steps += 1
        if self.buffer.size >= self.learning_starts and self.steps % self.train_every == 0:
            self.update(*self.buffer.sample(self.batch_size, get_rng()))

    def update(self, obs, actions, rewards, next_obs, terminated):
        """One gradient step on a batch of transitions; returns the loss."""
        q = self._outputs(self.q_network, obs, training=True)
        if self.target_weights is None:           # the model is built now: start the target from it
            self.target_weights = self.q_network.get_weights()
        y = self.targets(rewards, self._target_q(next_obs), terminated).astype(q.dtype)
        mask = np.zeros(q.shape, dtype=q.dtype)
        mask[np.arange(len(actions)), actions] = 1.0
        error = (q * mask).sum(axis=1) - y
        abs_error = F.abs(error)
        quadratic = F.clip(abs_error, 0.0, 1.0)        # Huber with delta 1
        loss = (0.5 * quadratic ** 2 + (abs_error - quadratic)).mean()
        weights = self.q_network.trainable_weights
        for w in weights:
            w.grad = None
        loss.backward()
        self.optimizer.apply_gradients([(w.grad, w) for w in weights])
        self.updates += 1
        if self.updates % self.target_update == 0:
            self.target_weights = self.q_network.get_weights()
        return float(loss.data)
