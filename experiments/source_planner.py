"""How good is the source planner? PETS in the real source env, then the fitted model under a
larger planner: a probe for what limits the data WOMBET generates.

  python experiments/source_planner.py                       # default config, 8 source episodes
  python experiments/source_planner.py --config.env=reacher --config.episode_length=50

Runs the source phase the way a run does (random episodes, then MPC episodes with a model fit
after each), for one seed and --episodes episodes in all, printing per episode the source
return, the first real episode end and the cart/tip state there. Then it plans --trials
episodes with the final model under the config's planner and under a larger one (--big_*), so
"the planner is too small" and "the model is not good enough" can be told apart.
"""
import os
import sys

import jax
import ml_collections
import numpy as np
from absl import app, flags
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wombet_jax import config as config_lib  # noqa: E402
from wombet_jax import generation  # noqa: E402
from wombet_jax import world_model as W  # noqa: E402
from wombet_jax.envs import registry  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(__file__), "configs", "default.py"))
_EPISODES = flags.DEFINE_integer("episodes", 8, "Source episodes in all (the first "
                                 "config.pets.random_episodes are random).")
_TRIALS = flags.DEFINE_integer("trials", 3, "Episodes per planner with the final model.")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed.")
_BIG = flags.DEFINE_list("big", ["25", "200", "5", "10", "20"],
                         "Larger planner: horizon, population, iterations, particles, elites.")


def first_end(trs) -> int:
  """Index of the first real episode end in a collected episode (-1: none)."""
  done = np.asarray(trs.done)
  return int(np.argmax(done)) if done.any() else -1


def describe(trs, ret) -> str:
  end = first_end(trs)
  obs = np.asarray(trs.next_obs)
  where = "no fall" if end < 0 else f"first end at step {end}, state there {np.round(obs[end], 2)}"
  return f"source return {float(ret):8.1f}, {where}"


def main(_):
  c = _CONFIG.value
  config_lib.validate(c)
  if _EPISODES.value <= c.pets.random_episodes:
    raise ValueError(f"--episodes={_EPISODES.value} must exceed config.pets.random_episodes="
                     f"{c.pets.random_episodes} (no MPC episode otherwise)")
  pair = registry.make_pair(c.env, c.episode_length)
  wm = W.make_world_model(pair.obs_dim, pair.act_dim, c.world_model)
  big = ml_collections.ConfigDict(c.to_dict())
  (big.planner.horizon, big.planner.population, big.planner.iterations, big.planner.particles,
   big.planner.num_elites) = (int(v) for v in _BIG.value)
  planners = {"config": generation.make_model_planner(c, pair, wm, pair.source.reward_fn),
              "big": generation.make_model_planner(big, pair, wm, pair.source.reward_fn)}
  collect = {(name, use): jax.jit(
      lambda k, m, pl=pl, use=use: generation.collect_source_episode(
          pair, pl, c.episode_length, k, m, use))
             for name, pl in planners.items() for use in (False, True)}
  train = jax.jit(wm.train)
  key = jax.random.key(_SEED.value)
  key, k0 = jax.random.split(key)
  state = wm.init(k0)
  data = W.make_data(c.world_model.capacity, pair.obs_dim, pair.act_dim)
  for i in range(_EPISODES.value):
    key, k_ep, k_fit = jax.random.split(key, 3)
    use = i >= c.pets.random_episodes
    trs, ret = collect[("config", use)](k_ep, state)
    data = W.add_to_data(data, trs.obs, trs.action, trs.next_obs)
    state, info = train(state, k_fit, data)
    W.check_finite(info, where="source_planner")
    print(f"episode {i + 1} ({'MPC' if use else 'random'}): {describe(trs, ret)}; "
          f"holdout loss after fit {float(np.min(info['holdout_loss'])):.4f}", flush=True)
  print(f"\nthe final model ({int(data.size)} transitions) under two planners:")
  for name in planners:
    p = (c if name == "config" else big).planner
    rets = []
    for t in range(_TRIALS.value):
      trs, ret = collect[(name, True)](jax.random.fold_in(key, t), state)
      rets.append(float(ret))
      print(f"  {name} (H={p.horizon}, population {p.population}, {p.iterations} iterations, "
            f"{p.particles} particles): {describe(trs, ret)}", flush=True)
    print(f"  {name}: mean source return {np.mean(rets):.1f}")


if __name__ == "__main__":
  app.run(main)
