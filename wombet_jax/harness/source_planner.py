"""The source-planner probe: the source phase of one seed with a run's own jitted pieces and
driver (`loop.make_pipeline`, `source_phase.drive`), then episodes planned with its final model
under the config's planner and under a larger one, so "the planner is too small" and "the model
is not good enough" can be told apart. experiments/diagnostics/source_planner.py is its command.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from wombet_jax import generation, loop
from wombet_jax.errors import UserError
from wombet_jax.harness import config as config_lib
from wombet_jax.harness import schedule, source_phase

# The planner fields of the larger planner (`probe`'s big), in its order.
PLANNER_FIELDS = ("horizon", "population", "iterations", "particles", "num_elites")


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
    raise UserError(f"episodes={episodes} must exceed config.pets.random_episodes="
                    f"{c.pets.random_episodes} (no MPC episode otherwise)")
  if trials < 1:
    raise UserError(f"trials={trials} must be >= 1")
  c_big = ml_collections.ConfigDict(c.to_dict())
  pb = c_big.planner
  pb.update(dict(zip(PLANNER_FIELDS, (int(v) for v in big))))
  config_lib.validate(c_big)
  pipe = loop.make_pipeline(c)
  states = pipe.init(jax.vmap(jax.random.PRNGKey)(jnp.asarray([seed], jnp.uint32)))
  out = {"episodes": [], "planners": {}}
  tasks = schedule.source_tasks(c.pets.random_episodes, episodes)
  for states, step in source_phase.drive(pipe, states, tasks, where="source_planner"):
    if step.returns is not None:  # the episode; logged with its fit, which follows it
      episode, ret = step.task, float(step.returns[0])
      continue
    phase = "MPC" if episode.use_planner else "random"
    out["episodes"].append((phase, ret))
    log(f"episode {episode.index + 1} ({phase}): source return {ret:8.1f}; holdout loss after "
        f"fit {float(np.min(step.info['holdout_loss'])):.4f}")
  out["transitions"] = int(states.real.size[0])
  model = jax.tree_util.tree_map(lambda x: x[0], states.model)
  key = jax.random.fold_in(jax.random.PRNGKey(seed), episodes)
  log(f"\nthe final model ({out['transitions']} transitions) under two planners:")
  for name, cfg in {"config": c, "big": c_big}.items():
    planner = generation.make_model_planner(cfg, pipe.pair, pipe.wm, pipe.pair.source.reward_fn)
    collect = jax.jit(lambda k, m, planner=planner: generation.collect_source_episode(
        pipe.pair, planner, pipe.episode_length, k, m, True))
    p = cfg.planner
    rets = []
    for t in range(trials):
      trs, ret = collect(jax.random.fold_in(key, t), model)
      rets.append(float(ret))
      log(f"  {name} (H={p.horizon}, population {p.population}, {p.iterations} iterations, "
          f"{p.particles} particles): {describe(trs, ret)}")
    log(f"  {name}: mean source return {np.mean(rets):.1f}")
    out["planners"][name] = rets
  return out
