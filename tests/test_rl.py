"""nnx.rl: CartPole against the published equations (Florian 2007, "Correct equations for the dynamics of
the cart-pole system", with Gymnasium's constants: gymnasium/envs/classic_control/cartpole.py) and against
Gymnasium itself when installed; returns, targets and gradients by hand; agents on a tiny deterministic
environment."""
import math
import warnings

import numpy as np
import pytest

import nnx
from nnx.layers import Dense
from nnx.models import Sequential
from nnx.optimizers import SGD, Adam
from nnx.rl import DQN, REINFORCE, CartPole, discounted_returns

G, M_CART, M_POLE, HALF_LENGTH, FORCE, TAU = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02


def florian_step(state, action):
    """One explicit-Euler step of the frictionless cart-pole, written from Florian's equations (23)-(24):
        theta'' = (g sin(th) + cos(th) (-F - m l th'^2 sin(th)) / (m_c + m)) / (l (4/3 - m cos^2(th) / (m_c + m)))
        x''     = (F + m l (th'^2 sin(th) - theta'' cos(th))) / (m_c + m)"""
    x, x_dot, th, th_dot = state
    f = FORCE if action == 1 else -FORCE
    total = M_CART + M_POLE
    th_acc = (G * math.sin(th) + math.cos(th) * (-f - M_POLE * HALF_LENGTH * th_dot ** 2 * math.sin(th)) / total) \
        / (HALF_LENGTH * (4 / 3 - M_POLE * math.cos(th) ** 2 / total))
    x_acc = (f + M_POLE * HALF_LENGTH * (th_dot ** 2 * math.sin(th) - th_acc * math.cos(th))) / total
    return np.array([x + TAU * x_dot, x_dot + TAU * x_acc, th + TAU * th_dot, th_dot + TAU * th_acc])


def balancing_action(obs):
    """A simple controller that keeps the pole up for the whole 500 steps."""
    return int(obs[2] + 0.5 * obs[3] > 0)


# ---- CartPole ---------------------------------------------------------------------------------------

def test_reset_draws_the_state_from_the_seeded_generator():
    obs, info = CartPole().reset(seed=42)
    want = np.random.default_rng(42).uniform(-0.05, 0.05, size=4)
    np.testing.assert_array_equal(obs, want.astype(np.float32))
    assert obs.dtype == np.float32 and info == {}
    assert np.abs(obs).max() <= 0.05


def test_every_step_follows_the_published_equations():
    env = CartPole()
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(60):
        before = np.array(env.state)
        action = int(rng.integers(2))
        obs, reward, terminated, truncated, info = env.step(action)
        want = florian_step(before, action)
        np.testing.assert_allclose(env.state, want, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(obs, np.array(env.state, np.float32))
        assert reward == 1.0 and not truncated and info == {}
        assert terminated == (abs(want[0]) > 2.4 or abs(want[2]) > 12 * 2 * math.pi / 360)
        if terminated:
            break
    assert terminated                            # random pushes drop the pole within 60 steps


def test_termination_thresholds():
    env = CartPole()
    env.reset(seed=0)
    env.state = (2.39, 1.0, 0.0, 0.0)            # x moves by 0.02 past 2.4
    assert env.step(1)[2]
    env.reset(seed=0)
    limit = 12 * 2 * math.pi / 360
    env.state = (0.0, 0.0, limit - 0.001, 0.0)   # theta stays below the limit this step
    assert not env.step(1)[2]


def test_truncation_at_500_steps_and_rewards():
    env = CartPole()
    obs, _ = env.reset(seed=1)
    total = 0.0
    for step in range(1, 501):
        obs, reward, terminated, truncated, _ = env.step(balancing_action(obs))
        total += reward
        assert not terminated
        assert truncated == (step == 500)
    assert total == 500.0


def test_stepping_after_termination_gives_zero_reward_and_warns():
    env = CartPole()
    env.reset(seed=0)
    env.state = (2.5, 0.0, 0.0, 0.0)
    assert env.step(0)[1:3] == (1.0, True)        # the step that ends the episode still pays
    with pytest.warns(UserWarning, match="reset"):
        assert env.step(0)[1] == 0.0


def test_bad_use_raises_clear_errors():
    env = CartPole()
    with pytest.raises(RuntimeError, match="CartPole: call reset"):
        env.step(0)
    env.reset(seed=0)
    for bad in (2, -1, 0.5, "left", None, True):
        with pytest.raises(ValueError, match="CartPole: action"):
            env.step(bad)
    with pytest.raises(ValueError, match="max_episode_steps"):
        CartPole(max_episode_steps=0)


def test_identical_to_gymnasium_step_for_step():
    gym = pytest.importorskip("gymnasium")
    ours, theirs = CartPole(), gym.make("CartPole-v1")
    rng = np.random.default_rng(5)
    for seed in (0, 7, 123):
        a, _ = ours.reset(seed=seed)
        b, _ = theirs.reset(seed=seed)
        np.testing.assert_array_equal(a, b)
        done, steps = False, 0
        while not done:
            action = balancing_action(a) if seed != 7 else int(rng.integers(2))
            a, ra, ta, tra, _ = ours.step(action)
            b, rb, tb, trb, _ = theirs.step(action)
            np.testing.assert_array_equal(a, b)
            assert (ra, ta, tra) == (rb, tb, trb)
            done, steps = ta or tra, steps + 1
        assert steps == 500 or seed == 7


# ---- returns, targets, gradients by hand ---------------------------------------------------------------

def test_discounted_returns_by_hand():
    np.testing.assert_allclose(discounted_returns([1.0, 1.0, 1.0], 0.9), [2.71, 1.9, 1.0])
    np.testing.assert_allclose(discounted_returns([0.0, 0.0, 5.0], 0.5), [1.25, 2.5, 5.0])
    np.testing.assert_allclose(discounted_returns([2.0, 3.0], 0.0), [2.0, 3.0])
    assert discounted_returns([], 0.9).shape == (0,)


def q_network(seed=0):
    nnx.manual_seed(seed)
    return Sequential([Dense(8, activation="relu", input_shape=(3,)), Dense(2)])


def test_dqn_targets_by_hand():
    agent = DQN(q_network(), gamma=0.9)
    y = agent.targets(np.array([1.0, 0.5]), np.array([2.0, 3.0]), np.array([0.0, 1.0]))
    np.testing.assert_allclose(y, [1.0 + 0.9 * 2.0, 0.5])


def test_dqn_update_regresses_q_of_the_taken_action_on_the_target_network():
    """With SGD, one update changes the weights by -lr * dHuber/dw, the target coming from the frozen
    target weights (here the initial ones), not from the online network."""
    net = q_network(1)
    agent = DQN(net, optimizer=SGD(0.1), gamma=0.5, batch_size=2, target_update=1000)
    rng = np.random.default_rng(0)
    obs, next_obs = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    actions, rewards, terminated = np.array([1, 0]), np.array([1.0, -2.0]), np.array([0.0, 1.0])
    agent.q_values(obs)                                   # build
    w0 = net.get_weights()
    agent.target_weights = [np.zeros_like(w) for w in w0]   # a target network that says Q = 0
    agent.update(obs, actions, rewards, next_obs, terminated)
    y = rewards                                           # gamma * max Q_target = 0 everywhere
    # the same step by finite differences of the Huber loss in float64
    def loss(weights):
        net.set_weights(weights)
        q = net.predict(obs.astype(np.float32), verbose=0).astype(np.float64)
        e = q[np.arange(2), actions] - y
        return np.mean(np.where(np.abs(e) <= 1, 0.5 * e ** 2, np.abs(e) - 0.5))
    new = net.get_weights()
    for k in range(len(w0)):
        grad = np.zeros_like(w0[k], dtype=np.float64)
        for idx in np.ndindex(w0[k].shape):
            plus, minus = [w.copy() for w in w0], [w.copy() for w in w0]
            plus[k][idx] += 1e-3
            minus[k][idx] -= 1e-3
            grad[idx] = (loss(plus) - loss(minus)) / 2e-3
        np.testing.assert_allclose(new[k], w0[k] - 0.1 * grad, atol=2e-4)


def test_dqn_target_network_is_refreshed_every_target_update_steps():
    net = q_network(2)
    agent = DQN(net, optimizer=Adam(0.01), batch_size=4, target_update=3)
    batch = (np.ones((4, 3)), np.zeros(4, np.int64), np.ones(4), np.ones((4, 3)), np.zeros(4))
    agent.update(*batch)
    first = [w.copy() for w in agent.target_weights]
    agent.update(*batch)
    assert all(np.array_equal(a, b) for a, b in zip(first, agent.target_weights))
    agent.update(*batch)                                   # the third update copies the online weights
    assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), agent.target_weights))


def test_reinforce_gradient_by_hand():
    """Linear logits W s: d/dW of -1/T sum_t A_t log softmax(W s_t)[a_t] = -1/T sum_t A_t s_t (e_a - p_t)."""
    nnx.manual_seed(3)
    policy = Sequential([Dense(2, use_bias=False, input_shape=(3,))])
    agent = REINFORCE(policy, optimizer=SGD(0.5), gamma=0.9)
    obs = np.random.default_rng(1).normal(size=(3, 3)).astype(np.float32)
    actions = np.array([0, 1, 1])
    returns = discounted_returns([1.0, 0.0, 2.0], 0.9)
    p = agent.probabilities(obs)
    (w,) = policy.get_weights()
    grad = np.zeros((3, 2))
    for s, a, g, pt in zip(obs.astype(np.float64), actions, returns, p):
        grad -= g * np.outer(s, np.eye(2)[a] - pt) / 3
    agent.update(obs, actions, returns)
    np.testing.assert_allclose(policy.get_weights()[0], w - 0.5 * grad, rtol=1e-5, atol=1e-6)


def test_reinforce_baseline_is_fitted_to_the_returns_and_subtracted():
    nnx.manual_seed(4)
    policy = Sequential([Dense(2, activation="softmax", input_shape=(1,))])
    baseline = Sequential([Dense(1, use_bias=False, input_shape=(1,))])
    agent = REINFORCE(policy, baseline=baseline, optimizer=SGD(0.1), gamma=1.0)
    baseline(np.ones((1, 1), np.float32))
    baseline.set_weights([np.array([[2.0]], np.float32)])
    agent.update(np.ones((2, 1), np.float32), np.array([0, 1]), np.array([3.0, 1.0]))
    # value loss mean((2 - G)^2) over G = 3, 1: gradient 2 * mean(2 - G) * 1 = 0 -> unchanged
    np.testing.assert_allclose(baseline.get_weights()[0], [[2.0]])
    agent.update(np.ones((1, 1), np.float32), np.array([0]), np.array([4.0]))
    np.testing.assert_allclose(baseline.get_weights()[0], [[2.0 - 0.1 * 2 * (2.0 - 4.0)]], rtol=1e-6)


# ---- a tiny deterministic environment --------------------------------------------------------------------

class TwoArmedBandit:
    """One step per episode: action 1 pays 1, action 0 pays 0. The observation is constant."""

    def reset(self, seed=None):
        return np.ones(3, np.float32), {}

    def step(self, action):
        return np.ones(3, np.float32), float(action == 1), True, False, {}


class Corridor:
    """Walk right three cells to reach the reward; stepping left ends the episode with nothing."""

    def reset(self, seed=None):
        self.pos = 0
        return self.obs(), {}

    def obs(self):
        return np.eye(3, dtype=np.float32)[self.pos]

    def step(self, action):
        if action == 0:
            return self.obs(), 0.0, True, False, {}
        self.pos += 1
        if self.pos == 3:
            return np.zeros(3, np.float32), 1.0, True, False, {}
        return self.obs(), 0.0, False, False, {}


def test_reinforce_learns_the_better_arm_and_history_has_the_returns():
    nnx.manual_seed(0)
    policy = Sequential([Dense(2, activation="softmax", input_shape=(3,))])
    agent = REINFORCE(policy, baseline=Sequential([Dense(1, input_shape=(3,))]), optimizer=Adam(0.05))
    history = agent.fit(TwoArmedBandit(), episodes=150)
    assert len(history.history["return"]) == 150 and history.history["length"] == [1] * 150
    assert agent.probabilities(np.ones((1, 3)))[0, 1] > 0.95
    assert agent.act(np.ones(3, np.float32), greedy=True) == 1
    np.testing.assert_array_equal(agent.evaluate(TwoArmedBandit(), episodes=5), np.ones(5))
    assert np.mean(history.history["return"][-30:]) > np.mean(history.history["return"][:30])


def test_dqn_learns_the_discounted_values_of_a_corridor():
    nnx.manual_seed(1)
    q = Sequential([Dense(16, activation="relu", input_shape=(3,)), Dense(2)])
    agent = DQN(q, optimizer=Adam(0.01), gamma=0.9, batch_size=16, target_update=20, learning_starts=32,
                epsilon_decay_steps=300, buffer_size=500)
    agent.fit(Corridor(), episodes=400)
    values = agent.q_values(np.eye(3))
    np.testing.assert_allclose(values[:, 1], [0.81, 0.9, 1.0], atol=0.1)   # gamma^(steps left - 1)
    np.testing.assert_allclose(values[:, 0], [0.0, 0.0, 0.0], atol=0.1)
    assert [agent.act(o, greedy=True) for o in np.eye(3, dtype=np.float32)] == [1, 1, 1]


def test_fit_is_reproducible_under_manual_seed():
    def run():
        nnx.manual_seed(7)
        policy = Sequential([Dense(8, activation="tanh", input_shape=(4,)), Dense(2, activation="softmax")])
        return REINFORCE(policy).fit(CartPole(), episodes=3, seed=11).history["return"]
    assert run() == run()


def test_agents_accept_a_gymnasium_environment():
    gym = pytest.importorskip("gymnasium")
    nnx.manual_seed(0)
    policy = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")])
    history = REINFORCE(policy).fit(gym.make("CartPole-v1"), episodes=2, seed=0)
    assert len(history.history["return"]) == 2
    dqn = DQN(Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(2)]), learning_starts=10,
              batch_size=8)
    assert len(dqn.fit(gym.make("CartPole-v1"), episodes=2).history["return"]) == 2


def test_bad_arguments_raise_clear_errors():
    policy = Sequential([Dense(2, activation="softmax", input_shape=(3,))])
    with pytest.raises(ValueError, match="gamma"):
        REINFORCE(policy, gamma=1.5)
    with pytest.raises(TypeError, match="policy must be an nnx model"):
        REINFORCE(lambda x: x)
    with pytest.raises(ValueError, match="episodes"):
        REINFORCE(policy).fit(TwoArmedBandit(), episodes=0)
    with pytest.raises(ValueError, match="output activation"):
        REINFORCE(Sequential([Dense(2, activation="sigmoid", input_shape=(3,))])).act(np.ones(3))
    with pytest.raises(ValueError, match="batch_size"):
        DQN(q_network(), batch_size=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        REINFORCE(policy).act(np.ones(3, np.float32))


@pytest.mark.slow
def test_cartpole_example_solves_and_saves_the_policy(tmp_path, capsys):
    from nnx.examples import cartpole
    from nnx.models import load_model
    path = str(tmp_path / "policy.nnx")
    solved, mean_return, _ = cartpole.main(["--seed", "0", "--minutes", "5", "--save", path])
    assert solved and mean_return >= 475
    assert "Solved" in capsys.readouterr().out
    policy = load_model(path)
    assert policy.predict(np.zeros((1, 4), np.float32), verbose=0).shape == (1, 2)


def test_make_falls_back_to_nnx_cartpole_without_gymnasium(monkeypatch):
    import sys
    from nnx.rl import make
    monkeypatch.setitem(sys.modules, "gymnasium", None)      # import gymnasium now raises ImportError
    assert isinstance(make("CartPole-v1"), CartPole)
    with pytest.raises(ImportError, match=r"nnx\[rl\]"):
        make("MountainCar-v0")
