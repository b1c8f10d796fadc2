"""Post-processing of a finished run directory, the logic of `experiments/postprocess.py`:

  compare     comparison.md and comparison.png of the run and its compare/<algo>/ runs
  thresholds  steps_to_threshold.{md,json}: target steps to fractions of the baseline's final
  normalise   normalized_return of metrics.jsonl and summary.json from the reference scores

Each returns the lines the script prints; bad inputs raise errors.UserError.
"""
from __future__ import annotations

import json
import os
from typing import Sequence

from wombet_jax.errors import UserError

SUBCOMMANDS = ("compare", "thresholds", "normalise")


def compare(workdir: str, title: str | None = None) -> list[str]:
  """Writes <workdir>/comparison.md and comparison.png from <workdir>/metrics.jsonl and every
  <workdir>/compare/<algo>/metrics.jsonl, as a run with config.compare does at its end."""
  from wombet_jax.harness import experiment, results
  runs = results.load_runs(workdir)
  if len(runs) < 2:
    raise UserError(f"--workdir={workdir!r}: needs compare/<algo>/metrics.jsonl")
  experiment.write_comparison(workdir, runs, title)
  return [f"wrote {workdir}/comparison.md and comparison.png ({', '.join(runs)})"]


def parse_fractions(values: Sequence[str]) -> list[float]:
  """--fractions as numbers in (0, 1]."""
  fractions = []
  for f in values:
    try:
      fractions.append(float(f))
    except ValueError:
      raise UserError(f"--fractions contains {f!r}: must be numbers in (0, 1]") from None
    if not 0.0 < fractions[-1] <= 1.0:
      raise UserError(f"--fractions contains {f!r}: must be numbers in (0, 1]")
  return fractions


def thresholds(workdir: str, baseline: str, fractions: Sequence[str]) -> list[str]:
  """Writes <workdir>/steps_to_threshold.{json,md}: per algorithm and seed, the target steps
  to reach each fraction of `baseline`'s final normalised return, and the per-seed ratio."""
  from wombet_jax.harness import results
  numbers = parse_fractions(fractions)
  runs = results.load_runs(workdir)
  st = results.steps_to_threshold(runs, baseline, numbers)
  table = results.steps_to_threshold_table(st)
  results.atomic_write_json(os.path.join(workdir, "steps_to_threshold.json"), st)
  results.atomic_write_bytes(os.path.join(workdir, "steps_to_threshold.md"), table.encode())
  return table.rstrip("\n").split("\n")


def run_dirs(workdir: str) -> list[str]:
  """`workdir` and its compare/<algo>/ folders, those with a metrics.jsonl."""
  compare_dir = os.path.join(workdir, "compare")
  subs = ([os.path.join(compare_dir, a) for a in sorted(os.listdir(compare_dir))]
          if os.path.isdir(compare_dir) else [])
  return [d for d in [workdir] + subs if os.path.exists(os.path.join(d, "metrics.jsonl"))]


def normalise_dir(run_dir: str) -> tuple[str, int]:
  """Rewrites one run's metrics.jsonl and summary.json; returns (env/length key, rows)."""
  from wombet_jax.envs import registry
  from wombet_jax.harness import reference, results
  from wombet_jax.harness.reference import REFERENCE_SCORES
  with open(os.path.join(run_dir, "config.json")) as f:
    config = json.load(f)
  rows = results.read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
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


def normalise(workdir: str) -> list[str]:
  """Recomputes normalized_return of <workdir> and every compare/<algo>/ run from `return`
  (metrics.jsonl and the normalised part of summary.json); nothing else changes."""
  dirs = run_dirs(workdir)
  if not dirs:
    raise UserError(f"--workdir={workdir!r} holds no metrics.jsonl")
  out = []
  for d in dirs:
    key, n = normalise_dir(d)
    out.append(f"{d}: {n} rows normalised with reference scores {key}")
  return out
