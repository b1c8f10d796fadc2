"""Post-processing of a finished run directory: one subcommand per output.

  python experiments/postprocess.py compare --workdir=experiments/results/halfcheetah_cpu
  python experiments/postprocess.py thresholds --workdir=/tmp/run --baseline=sac --fractions=0.5,0.8,0.9
  python experiments/postprocess.py normalise --workdir=experiments/results/halfcheetah_cpu
  python experiments/postprocess.py <subcommand> --help

compare     writes <workdir>/comparison.md and comparison.png from <workdir>/metrics.jsonl and
            every <workdir>/compare/<algo>/metrics.jsonl, exactly as experiments/run.py does at
            the end of a run with config.compare; for runs made separately (e.g. the main
            algorithm and its baselines run one after another into the same workdir).
            Flags: --workdir, --title.
thresholds  target env steps each algorithm needs to reach fractions (default 50% and 80%) of
            the baseline's final normalised return, per seed, and the per-seed ratio; writes
            <workdir>/steps_to_threshold.{md,json}. Flags: --workdir, --baseline, --fractions.
normalise   a run made before its pair's entry in wombet_jax/harness/reference_scores.json
            existed wrote `normalized_return: null`; this recomputes that column of
            <workdir>/metrics.jsonl and of every <workdir>/compare/<algo>/metrics.jsonl from
            `return`, and the normalised part of each summary.json (its `reference` field names
            the scores used). Nothing else changes. Flags: --workdir.

A flag of another subcommand, or an unknown subcommand, is one line and exit status 2.
"""
import sys

from absl import app, flags

from wombet_jax import errors
from wombet_jax.harness import cli, postprocess

SCRIPT = "postprocess.py"


def define_flags(sub: str, fv: flags.FlagValues = flags.FLAGS) -> None:
  """The flags of subcommand `sub` (into `fv`)."""
  if sub == "compare":
    flags.DEFINE_string("workdir", None, "A run with compare/<algo>/.", required=True,
                        flag_values=fv)
    flags.DEFINE_string("title", None, "Plot title (default: env, algorithms, seeds).",
                        flag_values=fv)
  elif sub == "thresholds":
    flags.DEFINE_string("workdir", None, "A finished run with compare/<algo>/.", required=True,
                        flag_values=fv)
    flags.DEFINE_string("baseline", "sac", "The algorithm whose final value sets the "
                        "thresholds.", flag_values=fv)
    flags.DEFINE_list("fractions", ["0.5", "0.8"], "Fractions of the baseline's final.",
                      flag_values=fv)
  elif sub == "normalise":
    flags.DEFINE_string("workdir", None, "A run directory (with metrics.jsonl).", required=True,
                        flag_values=fv)


def own_flags(sub: str) -> list[str]:
  fv = flags.FlagValues()
  define_flags(sub, fv)
  return list(fv)


def _fail(message: str):
  cli.exit_on(errors.UserError(message), prefix=f"{SCRIPT}: ")


def parse_flags(argv: list[str]) -> list[str]:
  """The subcommand (argv[1]) and its flags; returns [argv[0], subcommand, *positional]."""
  choices = ", ".join(postprocess.SUBCOMMANDS)
  if len(argv) < 2 or argv[1] in ("-h", "--help", "-help", "--helpfull", "help"):
    if len(argv) >= 2:
      print(__doc__)
      sys.exit(0)
    _fail(f"no subcommand: the first argument is one of {choices}")
  sub = argv[1]
  if sub not in postprocess.SUBCOMMANDS:
    _fail(f"unknown subcommand {sub!r}: the first argument is one of {choices}")
  define_flags(sub)
  mine = own_flags(sub)
  for arg in argv[2:]:
    if arg == "--":
      break
    if not arg.startswith("-"):
      continue
    name = arg.lstrip("-").partition("=")[0]
    known = name in flags.FLAGS or (name.startswith("no") and name[2:] in flags.FLAGS)
    owners = [s for s in postprocess.SUBCOMMANDS if name in own_flags(s)]
    if name not in mine and (owners or not known):
      whose = f" (a flag of {', '.join(owners)})" if owners else ""
      _fail(f"--{name} is not a flag of {sub}{whose}: {sub} takes "
            + ", ".join(f"--{f}" for f in mine))
  rest = cli.parse_flags([argv[0]] + argv[2:])
  return [rest[0], sub] + rest[1:]


def main(argv):
  sub, extra = argv[1], argv[2:]

  @cli.one_line_errors(f"{SCRIPT} {sub}")
  def run(_):
    if extra:
      raise errors.UserError(f"unexpected argument {extra[0]!r}: {sub} takes only flags")
    f = flags.FLAGS
    if sub == "compare":
      lines = postprocess.compare(f.workdir, f.title)
    elif sub == "thresholds":
      lines = postprocess.thresholds(f.workdir, f.baseline, f.fractions)
    else:
      lines = postprocess.normalise(f.workdir)
    for line in lines:
      print(line)

  run(argv)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
