"""Teach a policy network to balance CartPole-v1 with REINFORCE and a value baseline.

    python -m nnx.examples.cartpole [--seed 0] [--minutes 10] [--save cartpole_policy.nnx]

Trains in blocks of episodes, printing each block's mean return; whenever the last block averaged at
least 475, it evaluates the greedy policy on 100 consecutive fresh episodes. CartPole-v1 counts as
solved when that mean return is at least 475 (the maximum is 500). The solved policy is saved with
model.save and loads back with nnx.models.load_model. Uses nnx's own CartPole (no Gymnasium needed).
"""
import argparse
import time

import numpy as np

import nnx
from nnx.layers import Dense
from nnx.models import Sequential
from nnx.optimizers import Adam
from nnx.rl import REINFORCE, CartPole

SOLVED = 475.0


def build_agent():
    """REINFORCE with a value baseline: two small MLPs for 4 observations and 2 actions."""
    policy = Sequential([Dense(32, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")])
    baseline = Sequential([Dense(32, activation="relu", input_shape=(4,)), Dense(1)])
    return REINFORCE(policy, baseline=baseline, optimizer=Adam(0.01), gamma=0.99), policy


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m nnx.examples.cartpole",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed for nnx and the environment")
    parser.add_argument("--block", type=int, default=25, help="episodes per progress line")
    parser.add_argument("--minutes", type=float, default=10.0, help="give up after this long")
    parser.add_argument("--save", default="cartpole_policy.nnx", help="where to save the policy ('' to skip)")
    args = parser.parse_args(argv)
    nnx.manual_seed(args.seed)
    agent, model = build_agent()
    env = CartPole()
    start, episodes, mean_eval = time.perf_counter(), 0, 0.0
    while time.perf_counter() - start < 60 * args.minutes:
        returns = agent.fit(env, episodes=args.block, seed=args.seed if episodes == 0 else None)
        returns = returns.history["return"]
        episodes += args.block
        line = (f"episodes {episodes:5d}  mean return {np.mean(returns):6.1f}  "
                f"best {max(returns):5.0f}  {time.perf_counter() - start:6.1f} s")
        if np.mean(returns) >= SOLVED:
            mean_eval = agent.evaluate(CartPole(), 100, seed=args.seed + episodes).mean()
            line += f"  greedy mean over 100 episodes {mean_eval:.1f}"
        print(line, flush=True)
        if mean_eval >= SOLVED:
            break
    seconds = time.perf_counter() - start
    solved = mean_eval >= SOLVED
    print(f"{'Solved' if solved else 'Not solved'}: mean return {mean_eval:.1f} over 100 consecutive "
          f"episodes after {episodes} training episodes in {seconds:.1f} s")
    if args.save:
        model.save(args.save)
        print(f"Saved the policy to {args.save}")
    return solved, mean_eval, seconds


if __name__ == "__main__":
    main()
