"""Runs one algorithm (and optional comparison algorithms) on one task pair.

  python experiments/run.py --config=experiments/configs/default.py
  python experiments/run.py --config=experiments/configs/halfcheetah.py --config.num_seeds=8
  python experiments/run.py --config=... --workdir=/tmp/run --resume

Writes the run-output contract (docs/method.md) into
--workdir: config.json, metrics.jsonl, summary.json,
learning_curve.png, checkpoints/. Algorithms named in config.compare run with the same seeds
into <workdir>/compare/<algo>/, and <workdir>/comparison.png shows all curves together.

--config names a Python file that is executed as such (its get_config() returns the
ml_collections.ConfigDict); run only config files you trust.

One run per workdir: a second process on a workdir in use prints one line naming the holder's
PID and exits with status 2 before writing anything (the lock is released when the holder
ends, however it ends). A mistake in the inputs (a config file, field or value, a flag, a
workdir that holds another run or cannot be created, a --resume with a config other than the
run's) prints one line naming the field, the value and what is allowed, and exits with status
2; a run that has to stop (a non-finite loss, no intact checkpoint to resume from, a full
disk, a permission taken away) prints one line and exits with status 1, saying when --resume
continues it; SIGINT and SIGTERM stop it with one line saying where and how to continue (exit
130 and 143). --debug shows their tracebacks; any other error is a bug and always shows its
traceback.
"""
import os
import re
from typing import NoReturn

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags


from wombet_jax.harness import cli
from wombet_jax import errors
from wombet_jax.configs import CONFIGS

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(CONFIGS, "default.py"),
    "ml_collections config file.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default: /tmp/wombet/<env>).")
_RESUME = flags.DEFINE_bool(
    "resume", False, "Continue the run in --workdir from its newest intact checkpoint. The "
    "config must be the run's: only config.compare and config.loop.checkpoint_every may differ.")
_MULTIHOST = flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() first.")
_DEBUG = flags.DEFINE_bool("debug", False, "Show the traceback of input and run errors too.")
_FIELDS = flags.DEFINE_bool(
    "config_fields", False, "Print every field of --config (with the overrides given) with its "
    "value and its one-line doc from experiments/configs/base.py, then exit.")


def _exit_on(error: BaseException, debug: bool) -> NoReturn:
  """Prints a user or run error on one line and exits with its status; anything else (or
  with --debug) propagates with its traceback."""
  cli.exit_on(error, debug)


def _config_spec(argv: list[str]) -> str:
  return next((a.split("=", 1)[1] for a in argv if a.startswith(("--config=", "-config="))),
              flags.FLAGS["config"].default_as_str.strip("'"))


def _unknown_override(argv: list[str]) -> str | None:
  """The message for the first --config.<path>=<value> whose path the config lacks."""
  from wombet_jax.harness import config as config_lib
  config = flags.FLAGS["config"].parser.parse(_config_spec(argv))
  for arg in argv:
    m = re.match(r"^--?(?:no)?config\.([^=]+)(?:=(.*))?$", arg)
    if m:
      message = config_lib.unknown_field(config, m.group(1), m.group(2))
      if message:
        return message
  return None


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with every parse error (a bad value, an unknown config field)
  reported as a UserError."""
  debug = any(a in ("--debug", "-debug") for a in argv)
  message = cli.config_file_error("config", _config_spec(argv))
  if message:
    _exit_on(errors.UserError(message), debug)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _exit_on(errors.UserError(f"{e} (see --helpfull)"), debug)
  except (AttributeError, KeyError):  # ml_collections: an override of a missing field
    message = _unknown_override(argv)
    if message is None:
      raise
    _exit_on(errors.UserError(message), debug)


def main(argv):
  del argv
  # jax logs its backend search at INFO; a run's own progress lines are on stdout.
  absl_logging.set_verbosity(absl_logging.WARNING)
  cli.stop_on_signals()
  try:
    from wombet_jax.harness import experiment
    from wombet_jax.harness.reference import REFERENCE_SCORES
    config = _CONFIG.value
    if _FIELDS.value:
      from wombet_jax.harness import config as config_lib
      with open(os.path.join(CONFIGS, "base.py")) as f:
        print("\n".join(config_lib.describe(config, config_lib.field_docs(f.read()))))
      return
    workdir = _WORKDIR.value or os.path.join("/tmp/wombet", config.env)
    experiment.run(config, workdir, resume=_RESUME.value, multihost=_MULTIHOST.value,
                   reference_table=REFERENCE_SCORES)
  except (errors.UserError, errors.RunError, OSError, KeyboardInterrupt) as e:
    _exit_on(e, _DEBUG.value)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
