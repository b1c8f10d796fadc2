"""How good is the source planner? PETS in the real source env, then the fitted model under a
larger planner: a probe for what limits the data WOMBET generates.

  python experiments/source_planner.py                       # default config, 8 source episodes
  python experiments/source_planner.py --config.env=reacher --config.episode_length=50

Runs the source phase with a run's own jitted pieces and driver (`loop.make_pipeline`,
`source_phase.drive`: random episodes, then MPC episodes, a model fit after each), for one
seed and --episodes episodes in all, printing each episode's source return and the holdout
loss after its fit. Then it plans
--trials episodes with the final model under the config's planner and under a larger one
(--big), printing where each first ends, so "the planner is too small" and "the model is not
good enough" can be told apart.
"""
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from wombet_jax.harness import cli
from wombet_jax.errors import UserError
from wombet_jax.harness import config as config_lib
from wombet_jax import generation, loop
from wombet_jax.harness import schedule, source_phase

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(__file__), "configs", "default.py"))
_EPISODES = flags.DEFINE_integer("episodes", 8, "Source episodes in all (the first "
                                 "config.pets.random_episodes are random).")
_TRIALS = flags.DEFINE_integer("trials", 3, "Episodes per planner with the final model.")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed.")
_BIG = flags.DEFINE_list("big", ["25", "200", "5", "10", "20"],
                         "Larger planner: horizon, population, iterations, particles, elites.")
# The planner fields --big sets, in its order.
PLANNER_FIELDS = ("horizon", "population", "iterations", "particles", "num_elites")
_JSON = flags.DEFINE_string("json", None, "Also write the probe's results (and its flags and "
                            "wall time) as JSON here.")


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


@cli.one_line_errors("source_planner.py")
def main(_):
  import time
  t0 = time.time()
  out = probe(_CONFIG.value, _EPISODES.value, _TRIALS.value, tuple(_BIG.value), _SEED.value,
              log=lambda msg: print(msg, flush=True))
  if _JSON.value:
    from wombet_jax.harness import results
    c = _CONFIG.value
    results.atomic_write_json(_JSON.value, dict(
        out, env=c.env, episode_length=c.episode_length, seed=_SEED.value,
        planner={k: c.planner[k] for k in PLANNER_FIELDS},
        big=dict(zip(PLANNER_FIELDS, (int(v) for v in _BIG.value))),
        seconds=time.time() - t0))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
