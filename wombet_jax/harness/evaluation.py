"""Evaluation of exported policies (`wombet_jax.harness.policy`), vmapped over seeds.

Each seed's episodes use the run's own evaluation key, fold_in(eval_key, target_env_steps),
as `loop.make_pipeline`'s `evaluate` does: with the run's number of episodes, the target task
and the deterministic action, the returns are the run's last evaluation. Other episode counts
use the same key split into more (or fewer) episodes; `key_seed` replaces the run's keys by
fold_in(PRNGKey(key_seed), seed) for fresh episodes. Stochastic evaluation samples the
policy with a fresh key every step (`generation.rollout_policy(keyed=True)`).
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from wombet_jax import generation
from wombet_jax.envs import make_pair
from wombet_jax.harness import policy as policy_lib, reference

TASKS = ("target", "source")


def evaluation_keys(pol: policy_lib.Policy, seeds, key_seed: Optional[int] = None) -> jax.Array:
  """(len(seeds), 2) keys: the run's fold_in(eval_key, target_env_steps), or fresh ones."""
  if key_seed is not None:
    return jnp.stack([jax.random.fold_in(jax.random.PRNGKey(key_seed), s) for s in seeds])
  if pol.eval_keys is None:
    raise ValueError("this policy was exported without the run's evaluation keys; pass a "
                     "key seed (--key_seed=N) for fresh episodes")
  step = pol.meta["target_env_steps"]
  idx = jnp.asarray([pol.seed_index(s) for s in seeds])
  return jax.vmap(lambda k: jax.random.fold_in(k, step))(pol.eval_keys[idx])


def returns(pol: policy_lib.Policy, pair, seeds, keys: jax.Array, episodes: int,
            task: str = "target", stochastic: bool = False) -> np.ndarray:
  """Mean return over `episodes` first episodes per seed, (len(seeds),), one vmapped program."""
  if task not in TASKS:
    raise ValueError(f"task={task!r} is invalid: allowed {list(TASKS)}")
  if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
    raise ValueError(f"episodes={episodes!r} is invalid: must be an integer >= 1")
  idx = jnp.asarray([pol.seed_index(s) for s in seeds])
  params = jax.tree_util.tree_map(lambda x: x[idx], pol.params)
  length = pol.meta["episode_length"]

  def one(p, k):
    if stochastic:
      act = lambda obs, k_t: pol.sample(p, k_t, obs)
    else:
      act = lambda obs: pol.deterministic(p, obs)
    return generation.rollout_policy(pair, act, length, k, episodes, target=task == "target",
                                     keyed=stochastic)

  return np.asarray(jax.device_get(jax.jit(jax.vmap(one))(params, keys)), np.float64)


def evaluate(path: str, seed: Optional[int] = None, episodes: Optional[int] = None,
             task: str = "target", stochastic: bool = False,
             key_seed: Optional[int] = None, reference_table: Optional[str] = None) -> dict:
  """Evaluates the policy exported in `path` (a run's workdir or its policy/ folder).

  seed: one of the run's seeds (default: all); episodes: per seed (default: the run's
  loop.eval_episodes). Returns a JSON-able dict with per-seed returns and, on the target
  task when `reference_table` has scores for its episode length, normalised returns.
  """
  pol = policy_lib.load_policy(path)
  seeds = pol.seeds if seed is None else [pol.seeds[pol.seed_index(seed)]]
  episodes = pol.meta["eval_episodes"] if episodes is None else episodes
  pair = make_pair(pol.meta["env"], pol.meta["episode_length"])
  if (pair.obs_dim, pair.act_dim) != (pol.meta["obs_dim"], pol.meta["act_dim"]):
    raise ValueError(f"policy.json has obs/act dims {pol.meta['obs_dim']}/"
                     f"{pol.meta['act_dim']} but {pol.meta['env']} has "
                     f"{pair.obs_dim}/{pair.act_dim}")
  rets = returns(pol, pair, seeds, evaluation_keys(pol, seeds, key_seed), episodes, task,
                 stochastic)
  ref = (reference.lookup(pol.meta["env"], pol.meta["episode_length"], reference_table)
         if task == "target" else None)
  out = {"algo": pol.meta["algo"], "env": pol.meta["env"], "task": task,
         "episode_length": pol.meta["episode_length"], "episodes": episodes,
         "stochastic": stochastic, "key_seed": key_seed,
         "target_env_steps": pol.meta["target_env_steps"], "seeds": seeds,
         "return": _summary(rets), "reference": ref, "normalized_return": None}
  if ref is not None:
    out["normalized_return"] = _summary(np.array([reference.normalize(r, ref) for r in rets]))
  return out


def _summary(values: np.ndarray) -> dict:
  return {"per_seed": [float(v) for v in values], "mean": float(np.mean(values)),
          "std": float(np.std(values))}
