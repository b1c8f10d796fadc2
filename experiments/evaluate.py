"""Evaluates the policies a run exported (<workdir>/policy/), all seeds in one program.

  python experiments/evaluate.py --workdir=/tmp/smoke                 # the run's last evaluation
  python experiments/evaluate.py --workdir=/tmp/smoke --seed=1 --episodes=100 --json=out.json
  python experiments/evaluate.py --workdir=/tmp/smoke --task=source --stochastic

By default every seed replays the run's own evaluation episodes at the exported step (its
evaluation key and loop.eval_episodes), so the numbers equal the run's last evaluation in
metrics.jsonl. --episodes changes the number of episodes, --key_seed draws fresh episodes,
--task=source evaluates on the source task, --stochastic samples the policy instead of its
deterministic action. Prints one line per seed and the mean; --json writes everything
(per-seed returns and, on the target task when reference scores exist, normalised returns).
Needs only the policy folder: no world model, buffers or checkpoints are read. A missing,
corrupt, tampered-with or non-finite export is one line naming the file and what is wrong
(exit 2).
"""
import os

from absl import app, flags

from wombet_jax.harness import cli
from wombet_jax.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_WORKDIR = flags.DEFINE_string("workdir", None, "A run's workdir (or its policy/ folder).",
                               required=True)
_SEED = flags.DEFINE_integer("seed", None, "One of the run's seeds (default: all of them).")
_EPISODES = flags.DEFINE_integer("episodes", None,
                                 "Episodes per seed (default: the run's loop.eval_episodes).")
_TASK = flags.DEFINE_enum("task", "target", ["target", "source"], "Task to evaluate on.")
_STOCHASTIC = flags.DEFINE_bool("stochastic", False, "Sample actions instead of the mean.")
_KEY_SEED = flags.DEFINE_integer("key_seed", None,
                                 "Fresh episodes from this key seed instead of the run's keys.")
_JSON = flags.DEFINE_string("json", None, "Write the result as JSON to this path.")


@cli.one_line_errors("evaluate.py")
def main(argv):
  del argv
  from absl import logging as absl_logging
  absl_logging.set_verbosity(absl_logging.WARNING)  # jax's and matplotlib's INFO lines
  from wombet_jax.harness.reference import REFERENCE_SCORES
  from wombet_jax.harness import evaluation, results
  try:
    out = evaluation.evaluate(_WORKDIR.value, seed=_SEED.value, episodes=_EPISODES.value,
                              task=_TASK.value, stochastic=_STOCHASTIC.value,
                              key_seed=_KEY_SEED.value, reference_table=REFERENCE_SCORES)
  except (ValueError, FileNotFoundError) as e:  # a flag or the policy folder
    raise UserError(str(e)) from None
  norm = out["normalized_return"]
  for i, seed in enumerate(out["seeds"]):
    extra = f" (normalised {norm['per_seed'][i]:.1f})" if norm else ""
    print(f"seed {seed}: return {out['return']['per_seed'][i]:.3f}{extra}")
  extra = f" (normalised {norm['mean']:.1f} ± {norm['std']:.1f})" if norm else ""
  print(f"{out['algo']} on {out['env']} {out['task']}, {out['episodes']} episodes per seed at "
        f"target step {out['target_env_steps']}: return {out['return']['mean']:.3f} ± "
        f"{out['return']['std']:.3f}{extra}")
  if _JSON.value:
    out["workdir"] = os.path.abspath(_WORKDIR.value)
    results.atomic_write_json(_JSON.value, out)
    print(f"wrote {_JSON.value}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
