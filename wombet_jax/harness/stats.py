"""Aggregate statistics over seeds (and tasks) for reporting a few runs honestly.

The estimators follow rliable: R. Agarwal, M. Schwarzer, P. S. Castro, A. Courville and
M. G. Bellemare, "Deep Reinforcement Learning at the Edge of the Statistical Precipice",
NeurIPS 2021 (https://github.com/google-research/rliable).

Scores are arrays of shape (runs,) for one task or (runs, tasks); a run is one seed.
  * `iqm`: interquartile mean, the mean of the middle 50% of all runs' scores pooled over
    tasks (25% trimmed on each side, `scipy.stats.trim_mean(x, 0.25)`): robust to an outlier
    seed, and far less noisy than the median at a handful of seeds.
  * `bootstrap_ci`: stratified percentile bootstrap: every bootstrap sample resamples the runs
    with replacement within each task (the stratum), so the task mix is held fixed and only
    the seed-to-seed variability is resampled. Several score arrays (two algorithms) are
    resampled independently. All resamples are drawn as one index array (no Python loop).
  * `probability_of_improvement`: P(X > Y), for each task the Mann-Whitney U statistic over
    all run pairs divided by the number of pairs (ties count 1/2), averaged over tasks.
  * `performance_profile`: the run-score distribution, for each threshold tau the fraction of
    runs whose score exceeds tau, averaged over tasks.

Randomness is an explicit `seed` (numpy's Generator): the same call gives the same interval.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import scipy.stats

DEFAULT_REPS = 2000


def as_scores(x, name: str = "scores") -> np.ndarray:
  """float64 array (runs, tasks) from (runs,) or (runs, tasks); at least one finite run."""
  a = np.asarray(x, dtype=np.float64)
  if a.ndim == 1:
    a = a[:, None]
  if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
    raise ValueError(f"{name} has shape {np.shape(x)}; allowed: (runs,) or (runs, tasks) "
                     "with at least one run and one task")
  if not np.all(np.isfinite(a)):
    raise ValueError(f"{name} holds non-finite values {a[~np.isfinite(a)][:3].tolist()}; "
                     "allowed: finite numbers only")
  return a


# --- aggregates: functions of (..., runs, tasks) -> (...), batched over leading axes --------
def iqm_of(x: np.ndarray) -> np.ndarray:
  """Interquartile mean over the last two axes (runs and tasks pooled)."""
  flat = x.reshape(x.shape[:-2] + (-1,))
  return scipy.stats.trim_mean(flat, 0.25, axis=-1)


def mean_of(x: np.ndarray) -> np.ndarray:
  """Mean over the last two axes (runs and tasks pooled)."""
  return x.mean(axis=(-2, -1))


def iqm(scores) -> float:
  """Interquartile mean of all runs' scores (rliable's `aggregate_iqm`)."""
  return float(iqm_of(as_scores(scores)))


def probability_of_improvement_of(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """P(X > Y) for (..., n, tasks) and (..., m, tasks): per task, the fraction of run pairs
  (i, j) with x_i > y_j, ties counting 1/2; then the mean over tasks."""
  diff = x[..., :, None, :] - y[..., None, :, :]            # (..., n, m, tasks)
  wins = (diff > 0).astype(np.float64) + 0.5 * (diff == 0)
  return wins.mean(axis=(-3, -2)).mean(axis=-1)


def probability_of_improvement(x, y) -> float:
  """P(X > Y) of algorithm X's runs over Y's (rliable's `probability_of_improvement`)."""
  x, y = as_scores(x, "x"), as_scores(y, "y")
  if x.shape[1] != y.shape[1]:
    raise ValueError(f"x has {x.shape[1]} tasks and y {y.shape[1]}; allowed: the same tasks")
  return float(probability_of_improvement_of(x, y))


def performance_profile(scores, taus: Sequence[float]) -> np.ndarray:
  """For each tau, the fraction of runs with score > tau, averaged over tasks."""
  s = as_scores(scores)
  t = np.asarray(taus, dtype=np.float64)
  if t.ndim != 1:
    raise ValueError(f"taus has shape {t.shape}; allowed: a 1-D sequence of thresholds")
  return (s[None, :, :] > t[:, None, None]).mean(axis=1).mean(axis=-1)


# --- stratified bootstrap ---------------------------------------------------------------------
def stratified_resamples(scores: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
  """(reps, runs, tasks): each task's runs drawn with replacement, independently per task."""
  n, k = scores.shape
  idx = rng.integers(0, n, size=(reps, n, k))
  return scores[idx, np.arange(k)[None, None, :]]


def bootstrap_ci(statistic: Callable[..., np.ndarray], *scores, reps: int = DEFAULT_REPS,
                 confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
  """(point estimate, lower, upper) of `statistic` by the stratified percentile bootstrap.

  `statistic` maps one batched array (reps, runs, tasks) per score array to (reps,) (e.g.
  `iqm_of`, `mean_of`, `probability_of_improvement_of`); each score array is resampled
  independently. The interval holds the central `confidence` mass of the bootstrap values.
  """
  if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
    raise ValueError(f"reps={reps!r} is invalid: must be an integer >= 1")
  if not isinstance(confidence, (int, float)) or not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence={confidence!r} is invalid: must lie in (0, 1)")
  if not scores:
    raise ValueError("bootstrap_ci needs at least one score array")
  arrays = [as_scores(s, f"scores[{i}]") for i, s in enumerate(scores)]
  rng = np.random.default_rng(seed)
  point = float(statistic(*arrays))
  boot = statistic(*[stratified_resamples(a, int(reps), rng) for a in arrays])
  alpha = 100.0 * (1.0 - confidence) / 2.0
  lo, hi = np.percentile(boot, [alpha, 100.0 - alpha])
  return point, float(lo), float(hi)


def iqm_ci(scores, **kw) -> tuple[float, float, float]:
  """(IQM, lower, upper): the interquartile mean and its stratified bootstrap interval."""
  return bootstrap_ci(iqm_of, scores, **kw)


def mean_ci(scores, **kw) -> tuple[float, float, float]:
  """(mean, lower, upper): the mean and its stratified bootstrap interval."""
  return bootstrap_ci(mean_of, scores, **kw)


def format_ci(point: float, lo: float, hi: float, digits: int = 1) -> str:
  """'12.3 [10.1, 14.0]'."""
  return f"{point:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
