"""How good is the source planner? PETS in the real source env, then the fitted model under a
larger planner: a probe for what limits the data WOMBET generates.

  python experiments/diagnostics/source_planner.py     # default config, 8 source episodes
  python experiments/diagnostics/source_planner.py --config.env=reacher --config.episode_length=50

Runs the source phase with a run's own jitted pieces and driver (`loop.make_pipeline`,
`source_phase.drive`: random episodes, then MPC episodes, a model fit after each), for one
seed and --episodes episodes in all, printing each episode's source return and the holdout
loss after its fit. Then it plans
--trials episodes with the final model under the config's planner and under a larger one
(--big), printing where each first ends, so "the planner is too small" and "the model is not
good enough" can be told apart (wombet_jax.harness.source_planner.probe).
"""
import os
import time

from absl import app, flags
from ml_collections import config_flags

from wombet_jax.configs import CONFIGS
from wombet_jax.harness import cli, provenance, source_planner
from wombet_jax.harness.source_planner import PLANNER_FIELDS

_CONFIG = config_flags.DEFINE_config_file("config", os.path.join(CONFIGS, "default.py"))
_EPISODES = flags.DEFINE_integer("episodes", 8, "Source episodes in all (the first "
                                 "config.pets.random_episodes are random).")
_TRIALS = flags.DEFINE_integer("trials", 3, "Episodes per planner with the final model.")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed.")
_BIG = flags.DEFINE_list("big", ["25", "200", "5", "10", "20"],
                         "Larger planner: horizon, population, iterations, particles, elites.")
_JSON = flags.DEFINE_string("json", None, "Also write the probe's results (and its flags and "
                            "wall time) as JSON here.")


@cli.one_line_errors("source_planner.py")
def main(_):
  t0 = time.time()
  out = source_planner.probe(_CONFIG.value, _EPISODES.value, _TRIALS.value, tuple(_BIG.value),
                             _SEED.value, log=lambda msg: print(msg, flush=True))
  if _JSON.value:
    from wombet_jax.harness import results
    c = _CONFIG.value
    results.atomic_write_json(_JSON.value, dict(
        out, env=c.env, episode_length=c.episode_length, seed=_SEED.value,
        planner={k: c.planner[k] for k in PLANNER_FIELDS},
        big=dict(zip(PLANNER_FIELDS, (int(v) for v in _BIG.value))),
        seconds=provenance.seconds_since(t0, ndigits=None)))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
