"""Reference scores for the normalised return (docs/method.md, "Normalised return").

normalized = 100 * (R - R_random) / (R_reference - R_random) on the target task. The table is
produced by `experiments/reference_scores.py` and committed with the command that made it.
Returns depend on the time limit, so an entry holds the episode length it was measured at and
is only used for runs with that length.
"""
from __future__ import annotations

import json
import os

TABLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "experiments", "results", "reference_scores.json")


def load(path: str = TABLE) -> dict:
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f).get("scores", {})


def key(env: str, episode_length: int) -> str:
  return f"{env}/{int(episode_length)}"


def lookup(env: str, episode_length: int, path: str = TABLE) -> dict | None:
  """{'random': R_random, 'reference': R_reference, ...} or None if not measured yet."""
  return load(path).get(key(env, episode_length))


def normalize(ret: float, ref: dict | None) -> float | None:
  if ref is None:
    return None
  span = ref["reference"] - ref["random"]
  if span == 0:
    raise ValueError(f"reference scores for this env have reference == random ({span}); "
                     "rerun experiments/reference_scores.py")
  return 100.0 * (ret - ref["random"]) / span
