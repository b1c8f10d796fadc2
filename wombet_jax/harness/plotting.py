"""Learning-curve plots of the (normalised) target return: the mean over seeds with a band.

The band is a 95% bootstrap confidence interval of the mean when every run has at least
`CI_MIN_SEEDS` seeds (below that a percentile bootstrap is too coarse to be trusted, rliable's
advice), else mean +- std over seeds; `band="ci"` or `band="std"` forces either.
"""
from __future__ import annotations

import itertools
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: runs on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from wombet_jax.agents import registry  # noqa: E402
from wombet_jax.harness import results, stats  # noqa: E402

COLORS = {name: spec.color for name, spec in registry.REGISTRY.items()}
# For ablation variants: none of them is an algorithm's colour.
SPARE_COLORS = ("#1b9e77", "#7570b3", "#e6ab02", "#000000", "#66a61e", "#a6761d", "#e7298a")
CI_MIN_SEEDS = 20
BANDS = ("auto", "ci", "std")
# Dash patterns of zero-shot levels, in order: "--", ":", "-.", then long dash-dot-dot.
LEVEL_STYLES = ("--", ":", "-.", (0, (8, 2, 1, 2, 1, 2)))
BAND_LABELS = {"ci": "mean, 95% bootstrap CI", "std": "mean ± std"}


def values_by_step(rows: Sequence[Mapping], key: str) -> dict[int, list[float]]:
  """{target env steps: the seeds' values of `key` there} over the evaluation rows."""
  return {step: list(per_seed.values())
          for step, per_seed in results.by_step_and_seed(rows, key).items()}


def curve(rows: Sequence[Mapping], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
  """(steps, mean, std, num_seeds) over seeds of `key` at each evaluation point."""
  by_step = values_by_step(rows, key)
  steps = np.array(sorted(by_step))
  vals = [np.array(by_step[s]) for s in steps]
  mean = np.array([v.mean() for v in vals])
  std = np.array([v.std() for v in vals])
  return steps, mean, std, max((len(v) for v in vals), default=0)


def band_kind(runs: Mapping[str, Sequence[Mapping]], key: str, band: str = "auto") -> str:
  """'ci' or 'std' for `band`; 'auto' is 'ci' when every run with evaluations has at least
  CI_MIN_SEEDS seeds at each of its evaluation steps."""
  if band not in BANDS:
    raise ValueError(f"band={band!r} is invalid: allowed {list(BANDS)}")
  if band != "auto":
    return band
  counts = [len(v) for rows in runs.values() for v in values_by_step(rows, key).values()]
  return "ci" if counts and min(counts) >= CI_MIN_SEEDS else "std"


def curve_band(rows: Sequence[Mapping], key: str, kind: str, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
  """(steps, mean, lower, upper, num_seeds): the band is the mean's 95% bootstrap interval
  over seeds (`kind="ci"`, resampling seeds at each step) or mean -+ std (`kind="std"`)."""
  if kind not in ("ci", "std"):
    raise ValueError(f"kind={kind!r} is invalid: allowed ['ci', 'std']")
  steps, mean, std, n = curve(rows, key)
  if kind == "std":
    return steps, mean, mean - std, mean + std, n
  by_step = values_by_step(rows, key)
  cis = np.array([stats.mean_ci(by_step[int(s)], seed=seed)[1:] for s in steps]).reshape(-1, 2)
  return steps, mean, cis[:, 0], cis[:, 1], n


def plot_curves(ax, runs: Mapping[str, Sequence[Mapping]], key: str, band: str = "auto") -> str:
  """Mean over seeds with a band per run (`band_kind`); returns the band drawn ('ci' or
  'std'). A run with one evaluation (offline-only algorithms, evaluated zero-shot) is a dashed
  level across the other runs' x range. Variants of one algorithm (ablations) keep the
  algorithm's colour for the first and take fresh colours after it."""
  kind = band_kind(runs, key, band)
  curves = {label: curve_band(rows, key, kind) for label, rows in runs.items()}
  xs = [c[0] for c in curves.values() if len(c[0]) > 1]
  x_range = (min(x[0] for x in xs), max(x[-1] for x in xs)) if xs else (0, 1)
  spare = itertools.cycle(SPARE_COLORS)
  dashes = itertools.cycle(LEVEL_STYLES)
  used: set[str] = set()
  levels = [label for label, c in curves.items() if len(c[0]) == 1]
  for label, (steps, mean, lo, hi, n) in curves.items():
    if not len(steps):
      continue
    color = COLORS.get(label.split()[0])
    if color is None or color in used:
      color = next(spare)
    used.add(color)
    if len(steps) == 1:
      # A zero-shot level: its own dash pattern (two equal levels stay distinguishable) and
      # its band as an error bar at the right edge, staggered per level, not a full-width
      # fill (several stacked fills hide each other and the curves).
      ax.plot(np.array(x_range), np.repeat(mean, 2), label=f"{label} (n={n}, zero-shot)",
              color=color, lw=2, ls=next(dashes))
      x = x_range[1] + (levels.index(label) + 1) * 0.02 * (x_range[1] - x_range[0])
      ax.errorbar([x], mean, yerr=[mean - lo, hi - mean], color=color, capsize=3, lw=1.5)
    else:
      ax.plot(steps, mean, label=f"{label} (n={n})", color=color, lw=2)
      ax.fill_between(steps, lo, hi, color=color, alpha=0.15, lw=0)
  ax.set_xlabel("target env steps")
  ax.grid(alpha=0.3)
  return kind


def learning_curves(runs: Mapping[str, Sequence[Mapping]], path: str, title: str = "",
                    band: str = "auto") -> str:
  """One panel; normalised return if every run has it, else raw return. Written atomically."""
  key = ("normalized_return" if all(any(r.get("normalized_return") is not None for r in rows)
                                    for rows in runs.values()) else "return")
  fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
  kind = plot_curves(ax, runs, key, band)
  ax.set_ylabel(("normalised return" if key == "normalized_return" else "return")
                + f" ({BAND_LABELS[kind]})")
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
