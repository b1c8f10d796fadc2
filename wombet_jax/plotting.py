"""Learning-curve plots: mean +- std over seeds of the (normalised) target return."""
from __future__ import annotations

import collections
import itertools
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
# For ablation variants: none of them is an algorithm's colour.
SPARE_COLORS = ("#1b9e77", "#7570b3", "#e6ab02", "#000000", "#66a61e", "#a6761d", "#e7298a")


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
  """Mean +- std band per run. A run with one evaluation (offline-only algorithms, evaluated
  zero-shot) is a dashed level across the other runs' x range. Variants of one algorithm
  (ablations) keep the algorithm's colour for the first and take fresh colours after it."""
  curves = {label: curve(rows, key) for label, rows in runs.items()}
  xs = [c[0] for c in curves.values() if len(c[0]) > 1]
  x_range = (min(x[0] for x in xs), max(x[-1] for x in xs)) if xs else (0, 1)
  spare = itertools.cycle(SPARE_COLORS)
  used: set[str] = set()
  for label, (steps, mean, std, n) in curves.items():
    if not len(steps):
      continue
    color = COLORS.get(label.split()[0])
    if color is None or color in used:
      color = next(spare)
    used.add(color)
    if len(steps) == 1:
      steps = np.array(x_range)
      mean, std = np.repeat(mean, 2), np.repeat(std, 2)
      ax.plot(steps, mean, label=f"{label} (n={n}, zero-shot)", color=color, lw=2, ls="--")
    else:
      ax.plot(steps, mean, label=f"{label} (n={n})", color=color, lw=2)
    ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.15, lw=0)
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
