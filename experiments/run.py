"""Runs one algorithm (and optional comparison algorithms) on one task pair.

  python experiments/run.py --config=experiments/configs/default.py
  python experiments/run.py --config=experiments/configs/halfcheetah.py --config.num_seeds=8
  python experiments/run.py --config=... --workdir=/tmp/run --resume

Writes the run-output contract (docs/design.md) into
--workdir: config.json, metrics.jsonl, summary.json,
learning_curve.png, checkpoints/. Algorithms named in config.compare run with the same seeds
into <workdir>/compare/<algo>/, and <workdir>/comparison.png shows all curves together.
"""
import os
import sys

from absl import app, flags
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "default.py"),
    "ml_collections config file.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default: /tmp/wombet/<env>).")
_RESUME = flags.DEFINE_bool("resume", False, "Continue the run in --workdir from its checkpoint.")
_MULTIHOST = flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() first.")


def main(argv):
  del argv
  from wombet_jax import experiment
  config = _CONFIG.value
  workdir = _WORKDIR.value or os.path.join("/tmp/wombet", config.env)
  experiment.main(config, workdir, resume=_RESUME.value, multihost=_MULTIHOST.value)


if __name__ == "__main__":
  app.run(main)
