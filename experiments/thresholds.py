"""Steps-to-threshold of a finished comparison run: target env steps each algorithm needs to
reach 50% and 80% of the baseline's final normalised return, per seed, and the per-seed ratio.

  python experiments/thresholds.py --workdir=experiments/results/halfcheetah_cpu
  python experiments/thresholds.py --workdir=/tmp/run --baseline=sac --fractions=0.5,0.8,0.9

Reads <workdir>/metrics.jsonl and <workdir>/compare/*/metrics.jsonl (what experiments/run.py
writes with config.compare) and writes <workdir>/steps_to_threshold.{md,json}.
"""
import os

from absl import app, flags

from wombet_jax.harness import cli
from wombet_jax.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None, "A finished run with compare/<algo>/.",
                               required=True)
_BASELINE = flags.DEFINE_string("baseline", "sac", "The algorithm whose final value sets the "
                                "thresholds.")
_FRACTIONS = flags.DEFINE_list("fractions", ["0.5", "0.8"], "Fractions of the baseline's final.")


@cli.one_line_errors("thresholds.py")
def main(argv):
  del argv
  from wombet_jax.harness import results
  fractions = []
  for f in _FRACTIONS.value:
    try:
      fractions.append(float(f))
    except ValueError:
      raise UserError(f"--fractions contains {f!r}: must be numbers in (0, 1]") from None
    if not 0.0 < fractions[-1] <= 1.0:
      raise UserError(f"--fractions contains {f!r}: must be numbers in (0, 1]")
  runs = results.load_runs(_WORKDIR.value)
  st = results.steps_to_threshold(runs, _BASELINE.value, fractions)
  table = results.steps_to_threshold_table(st)
  results.atomic_write_json(os.path.join(_WORKDIR.value, "steps_to_threshold.json"), st)
  results.atomic_write_bytes(os.path.join(_WORKDIR.value, "steps_to_threshold.md"),
                             table.encode())
  print(table, end="")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
