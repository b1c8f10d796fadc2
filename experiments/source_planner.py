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


def probe(c: ml_collections.ConfigDict, episodes: int, trials: int, big: tuple, seed: int,
          log=print) -> dict:
  """The source phase of one seed, then `trials` episodes per planner with its final model.

  big: (horizon, population, iterations, particles, num_elites) of the larger planner.
  Returns {"episodes": [(phase, return)], "transitions": int, "planners": {name: [returns]}}.
  """
  config_lib.validate(c)
  if episodes <= c.pets.random_episodes:
    raise ValueError(f"episodes={episodes} must exceed config.pets.random_episodes="
                     f"{c.pets.random_episodes} (no MPC episode otherwise)")
  if trials < 1:
    raise ValueError(f"trials={trials} must be >= 1")
  pair = registry.make_pair(c.env, c.episode_length)
  wm = W.make_world_model(pair.obs_dim, pair.act_dim, c.world_model)
  c_big = ml_collections.ConfigDict(c.to_dict())
  pb = c_big.planner
  pb.horizon, pb.population, pb.iterations, pb.particles, pb.num_elites = (int(v) for v in big)
  config_lib.validate(c_big)
  configs = {"config": c, "big": c_big}
  collect = {}
  for name, cfg in configs.items():
    pl = generation.make_model_planner(cfg, pair, wm, pair.source.reward_fn)
    for use in (False, True):
      collect[(name, use)] = jax.jit(
          lambda k, m, pl=pl, use=use: generation.collect_source_episode(
              pair, pl, pair.episode_length, k, m, use))
  train = jax.jit(wm.train)
  key = jax.random.key(seed)
  key, k0 = jax.random.split(key)
  state = wm.init(k0)
  data = W.make_data(c.world_model.capacity, pair.obs_dim, pair.act_dim)
  out = {"episodes": [], "planners": {}}
  for i in range(episodes):
    key, k_ep, k_fit = jax.random.split(key, 3)
    use = i >= c.pets.random_episodes
    trs, ret = collect[("config", use)](k_ep, state)
    data = W.add_to_data(data, trs.obs, trs.action, trs.next_obs)
    state, info = train(state, k_fit, data)
    W.check_finite(info, where="source_planner")
    out["episodes"].append(("MPC" if use else "random", float(ret)))
    log(f"episode {i + 1} ({'MPC' if use else 'random'}): {describe(trs, ret)}; "
        f"holdout loss after fit {float(np.min(info['holdout_loss'])):.4f}")
  out["transitions"] = int(data.size)
  log(f"\nthe final model ({out['transitions']} transitions) under two planners:")
  for name, cfg in configs.items():
    p = cfg.planner
    rets = []
    for t in range(trials):
      trs, ret = collect[(name, True)](jax.random.fold_in(key, t), state)
      rets.append(float(ret))
      log(f"  {name} (H={p.horizon}, population {p.population}, {p.iterations} iterations, "
          f"{p.particles} particles): {describe(trs, ret)}")
    log(f"  {name}: mean source return {np.mean(rets):.1f}")
    out["planners"][name] = rets
  return out


def main(_):
  probe(_CONFIG.value, _EPISODES.value, _TRIALS.value, tuple(_BIG.value), _SEED.value,
        log=lambda msg: print(msg, flush=True))


if __name__ == "__main__":
  app.run(main)
