"""Comparison table and plot of a run directory and its compared runs, from their metrics.

  python experiments/compare.py --workdir=experiments/results/halfcheetah_cpu

Writes <workdir>/comparison.md and comparison.png from <workdir>/metrics.jsonl and every
<workdir>/compare/<algo>/metrics.jsonl, exactly as experiments/run.py does at the end of a run
with config.compare; for runs made separately (e.g. the main algorithm and its baselines run
one after another into the same workdir).
"""
from absl import app, flags

from wombet_jax.harness import cli
from wombet_jax.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None, "A run with compare/<algo>/.", required=True)
_TITLE = flags.DEFINE_string("title", None, "Plot title (default: env, algorithms, seeds).")


@cli.one_line_errors("compare.py")
def main(argv):
  del argv
  from wombet_jax.harness import experiment, results
  runs = results.load_runs(_WORKDIR.value)
  if len(runs) < 2:
    raise UserError(f"--workdir={_WORKDIR.value!r}: needs compare/<algo>/metrics.jsonl")
  experiment.write_comparison(_WORKDIR.value, runs, _TITLE.value)
  print(f"wrote {_WORKDIR.value}/comparison.md and comparison.png ({', '.join(runs)})")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
