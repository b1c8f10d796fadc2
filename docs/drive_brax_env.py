"""Drives brax's own environment with a policy a run exported, acting in numpy alone.

  python docs/drive_brax_env.py --policy=/tmp/run/policy --seed=0 --steps=1000

A run writes <workdir>/policy/: policy.json (the actor's kind, sizes, the env and the layout
of the observation it acts on) and params-*.npz (plain numpy arrays, every seed stacked on the
first axis). The actor is an MLP with ReLU hidden layers; `forward` below is its deterministic
action, the same as `wombet_jax.harness.policy.load(path, seed)` gives (tests/test_policy.py
compares them). An MJX pair's observation is brax's obs of the env of the same name followed by
a few features the pair appends (policy.json's "observation"); `wombet_jax.envs.observation`
builds it from brax's state. Prints brax's own return of the episode (brax's reward, not the
pair's target reward).
"""
import argparse
import json
import os

import numpy as np


def load_weights(policy_dir: str, seed: int) -> tuple[dict, dict]:
  """(policy.json, {name: array} of one seed) from an exported policy folder."""
  with open(os.path.join(policy_dir, "policy.json")) as f:
    meta = json.load(f)
  with np.load(os.path.join(policy_dir, meta["params_file"])) as z:
    i = list(z["seeds"]).index(seed)
    weights = {k[len("params/params/"):]: z[k][i] for k in z.files if k.startswith("params/")}
  return meta, weights


def forward(meta: dict, w: dict, obs: np.ndarray) -> np.ndarray:
  """The deterministic action in [-1, 1]^act_dim of an exported actor, in numpy."""
  body = "trunk" if meta["kind"] == "tanh_gaussian" else "mlp"  # see policy.json's "kind"
  x = obs
  for i in range(len(meta["hidden"])):                             # Dense -> ReLU
    x = np.maximum(x @ w[f"{body}/hidden_{i}/kernel"] + w[f"{body}/hidden_{i}/bias"], 0.0)
  if meta["kind"] == "tanh_gaussian":                              # SAC-like: tanh(mean)
    return np.tanh(x @ w["mean/kernel"] + w["mean/bias"])
  return np.tanh(x @ w[f"{body}/out/kernel"] + w[f"{body}/out/bias"])  # TD3, BC, IQL, AWAC


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--policy", required=True, help="a run's policy/ folder (or its workdir)")
  parser.add_argument("--seed", type=int, default=0, help="one of the run's seeds")
  parser.add_argument("--steps", type=int, default=1000)
  parser.add_argument("--key", type=int, default=0, help="brax's reset key")
  args = parser.parse_args()
  path = args.policy
  if not os.path.exists(os.path.join(path, "policy.json")):
    path = os.path.join(path, "policy")
  meta, weights = load_weights(path, args.seed)

  import jax
  from brax import envs as brax_envs

  from wombet_jax.envs import observation
  env = brax_envs.get_environment(meta["env"].removesuffix(":source"), backend="mjx")
  reset, step = jax.jit(env.reset), jax.jit(env.step)
  obs_fn = jax.jit(lambda s: observation(meta["env"], s))
  state, total, t = reset(jax.random.PRNGKey(args.key)), 0.0, 0
  for t in range(1, args.steps + 1):
    action = forward(meta, weights, np.asarray(obs_fn(state)))
    state = step(state, action.astype(np.float32))
    total += float(state.reward)
    if float(state.done):
      break
  print(f"{meta['algo']} seed {args.seed} in brax's {env.__class__.__name__}: "
        f"return {total:.3f} over {t} steps")


if __name__ == "__main__":
  main()
