"""Reference scores for the normalised return (docs/method.md, "Normalised return").

normalized = 100 * (R - R_random) / (R_reference - R_random) on the target task. A table is
a JSON file {"scores": {"<env>/<episode length>": {"random": ..., "reference": ...}}}; the
repository's is produced by `experiments/reference_scores.py`, committed with the command that
made it (`experiments.REFERENCE_SCORES`), and handed to the library by the scripts: the
library reads only the table it is given. Returns depend on the time limit, so an entry holds
the episode length it was measured at and is only used for runs with that length.
"""
from __future__ import annotations

import json
import os

from wombet_jax.errors import UserError


def load(path: str | None) -> dict:
  """The scores of the table at `path` ({} for None: no table, nothing is normalised)."""
  if path is None:
    return {}
  if not os.path.exists(path):
    raise UserError(f"reference table {path!r} is invalid: no such file (make one with "
                    "experiments/reference_scores.py, or pass none)")
  with open(path) as f:
    return json.load(f).get("scores", {})


def key(env: str, episode_length: int) -> str:
  return f"{env}/{int(episode_length)}"


def lookup(env: str, episode_length: int, path: str | None) -> dict | None:
  """{'random': R_random, 'reference': R_reference, ...} or None if the table at `path` has
  no entry for it (or there is no table)."""
  return load(path).get(key(env, episode_length))


def normalize(ret: float, ref: dict | None) -> float | None:
  if ref is None:
    return None
  span = ref["reference"] - ref["random"]
  if span == 0:
    raise ValueError(f"reference scores for this env have reference == random ({span}); "
                     "rerun experiments/reference_scores.py")
  return 100.0 * (ret - ref["random"]) / span
