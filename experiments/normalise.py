"""Fill in a finished run's normalised returns from the committed reference scores.

  python experiments/normalise.py --workdir=experiments/results/halfcheetah_cpu

A run made before its pair's entry in wombet_jax/harness/reference_scores.json existed wrote
`normalized_return: null`. This recomputes that column of <workdir>/metrics.jsonl and of every
<workdir>/compare/<algo>/metrics.jsonl from `return`, and the normalised part of each
summary.json (its `reference` field names the scores used). Nothing else changes.
"""
import json
import os

from absl import app, flags

from wombet_jax.harness import cli
from wombet_jax.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None, "A run directory (with metrics.jsonl).",
                               required=True)


def run_dirs(workdir: str) -> list[str]:
  compare = os.path.join(workdir, "compare")
  subs = [os.path.join(compare, a) for a in sorted(os.listdir(compare))] if os.path.isdir(
      compare) else []
  return [d for d in [workdir] + subs if os.path.exists(os.path.join(d, "metrics.jsonl"))]


def normalise_dir(run_dir: str) -> tuple[str, int]:
  """Rewrites one run's metrics.jsonl and summary.json; returns (env/length key, rows)."""
  from wombet_jax.harness.reference import REFERENCE_SCORES
  from wombet_jax.harness import reference, results
  with open(os.path.join(run_dir, "config.json")) as f:
    config = json.load(f)
  rows = results.read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
  from wombet_jax.envs import registry
  # 0 means the pair's own length (config.json of older runs keeps the 0).
  env = config["env"]
  length = int(config["episode_length"]) or registry.default_episode_length(env)
  ref = reference.lookup(env, length, REFERENCE_SCORES)
  if ref is None:
    raise UserError(f"{run_dir}: no reference scores for {reference.key(env, length)} in "
                    f"{REFERENCE_SCORES}; run experiments/reference_scores.py first")
  rows = results.renormalize(rows, ref, reference.normalize)
  results.write_jsonl(os.path.join(run_dir, "metrics.jsonl"), rows)
  summary_path = os.path.join(run_dir, "summary.json")
  if os.path.exists(summary_path):
    with open(summary_path) as f:
      summary = json.load(f)
    summary.update(results.summarize(rows), reference=ref)
    results.atomic_write_json(summary_path, summary)
  return reference.key(env, length), len(rows)


@cli.one_line_errors("normalise.py")
def main(argv):
  del argv
  dirs = run_dirs(_WORKDIR.value)
  if not dirs:
    raise UserError(f"--workdir={_WORKDIR.value!r} holds no metrics.jsonl")
  for d in dirs:
    key, n = normalise_dir(d)
    print(f"{d}: {n} rows normalised with reference scores {key}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
