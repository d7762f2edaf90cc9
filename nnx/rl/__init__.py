"""nnx.rl — reinforcement learning with nnx models.

Environments follow Gymnasium's protocol (`reset(seed=None) -> (obs, info)`,
`step(a) -> (obs, reward, terminated, truncated, info)`): `CartPole()` needs nothing but NumPy, and any
Gymnasium environment works as it is (`make(id)`, with `pip install "nnx[rl]"`). Agents: `REINFORCE`
(policy gradient with an optional value baseline) and `DQN`; `agent.fit(env, episodes)` returns a
History with `history['return']`, `agent.act(obs, greedy=False)` picks an action.
"""
from nnx.rl.agents import DQN, REINFORCE, Agent, ReplayBuffer, discounted_returns  # noqa: F401
from nnx.rl.envs import CartPole, make  # noqa: F401
