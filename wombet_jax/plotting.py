"""Learning-curve plots: mean +- std over seeds of the (normalised) target return."""
from __future__ import annotations

import collections
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: runs on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from wombet_jax import results  # noqa: E402

COLORS = {"wombet": "#d62728", "sac": "#1f77b4", "td3": "#2ca02c", "ppo": "#9467bd",
          "rlpd": "#ff7f0e", "iql_ft": "#8c564b", "cal_ql": "#e377c2", "awac": "#7f7f7f",
          "bc": "#bcbd22", "iql": "#17becf", "cql": "#393b79", "mopo": "#637939",
          "combo": "#8c6d31"}


def curve(rows: Sequence[Mapping], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
  """(steps, mean, std, num_seeds) over seeds of `key` at each evaluation point."""
  by_step: dict[int, list[float]] = collections.defaultdict(list)
  for r in rows:
    if r.get("phase") == "eval" and r.get(key) is not None:
      by_step[int(r["target_env_steps"])].append(float(r[key]))
  steps = np.array(sorted(by_step))
  vals = [np.array(by_step[s]) for s in steps]
  mean = np.array([v.mean() for v in vals])
  std = np.array([v.std() for v in vals])
  return steps, mean, std, max((len(v) for v in vals), default=0)


def plot_curves(ax, runs: Mapping[str, Sequence[Mapping]], key: str) -> None:
  for label, rows in runs.items():
    steps, mean, std, n = curve(rows, key)
    if not len(steps):
      continue
    algo = label.split()[0]
    color = COLORS.get(algo)
    ax.plot(steps, mean, label=f"{label} (n={n})", color=color, lw=2)
    ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2, lw=0)
  ax.set_xlabel("target env steps")
  ax.grid(alpha=0.3)


def learning_curves(runs: Mapping[str, Sequence[Mapping]], path: str, title: str = "") -> str:
  """One panel; normalised return if every run has it, else raw return. Written atomically."""
  key = ("normalized_return" if all(any(r.get("normalized_return") is not None for r in rows)
                                    for rows in runs.values()) else "return")
  fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
  plot_curves(ax, runs, key)
  ax.set_ylabel("normalised return" if key == "normalized_return" else "return")
  ax.set_title(title)
  ax.legend(frameon=False)
  fig.tight_layout()
  save(fig, path)
  return path


def save(fig, path: str) -> None:
  import io
  buf = io.BytesIO()
  fig.savefig(buf, format="png")
  plt.close(fig)
  results.atomic_write_bytes(path, buf.getvalue())
