"""The run-output contract of docs/method.md ("What a run writes"), written atomically.

Every file is written to a temporary sibling and renamed into place, so a run killed at any
moment leaves either the previous complete file or the new complete file, never a torn one;
the temporary files such a kill leaves behind are removed by `remove_temp_files` when the next
run starts. Files get the mode `open` would give them (0666 less the umask), and JSON is
strict (null for NaN/inf, never the non-standard NaN token).
"""
from __future__ import annotations

import glob
import json
import math
import os
import tempfile
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from wombet_jax.errors import UserError
from wombet_jax.harness import reference, stats

# The keys of every metrics.jsonl row: which evaluation it is and its return,
METRIC_KEYS = ("algo", "env", "seed", "phase", "iteration", "source_env_steps",
               "target_env_steps", "return", "normalized_return")
# the loop's state (null for algorithms without D_off, train_return before the first episode),
RUN_KEYS = ("beta", "accept_rate", "n_offline", "train_return")
# and the agents' diagnostics (protocol.Agent.metrics), null where an agent has none or
# before its first update. An agent's further `metrics` entries join its rows by name.
AGENT_KEYS = ("td_error", "penalty")
ROW_KEYS = METRIC_KEYS + RUN_KEYS + AGENT_KEYS
TEMP_SUFFIX = ".partial"


def file_mode() -> int:
  """0666 less the process's umask: the mode `open` creates files with. (The umask can only
  be read by setting it; /proc gives it without that race where it exists.)"""
  try:
    with open("/proc/self/status") as f:
      line = next(ln for ln in f if ln.startswith("Umask:"))
    mask = int(line.split()[1], 8)
  except (OSError, StopIteration, ValueError, IndexError):
    mask = os.umask(0o022)
    os.umask(mask)
  return 0o666 & ~mask


def atomic_write_bytes(path: str, data: bytes) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                             suffix=TEMP_SUFFIX)
  try:
    with os.fdopen(fd, "wb") as f:
      os.fchmod(f.fileno(), file_mode())  # mkstemp creates 0600 whatever the umask
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def remove_temp_files(directory: str) -> list[str]:
  """Deletes the temporary files of interrupted `atomic_write_bytes` calls in `directory`
  (not below it); returns their paths."""
  stale = sorted(glob.glob(os.path.join(glob.escape(directory), ".*" + TEMP_SUFFIX)))
  for path in stale:
    os.unlink(path)
  return stale


def jsonable(x: Any) -> Any:
  """`x` as plain JSON values: arrays as lists, non-finite floats as None."""
  if isinstance(x, Mapping):
    return {str(k): jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [jsonable(v) for v in x]
  if isinstance(x, (np.ndarray, np.generic)) or hasattr(x, "__array__"):
    arr = np.asarray(x)
    return jsonable(arr.tolist()) if arr.ndim else jsonable(arr.item())
  if isinstance(x, float) and not math.isfinite(x):
    return None  # JSON has no NaN/inf; null is what readers (pandas, jq) handle
  return x


def atomic_write_json(path: str, obj: Any) -> None:
  text = json.dumps(jsonable(obj), indent=2, sort_keys=True, allow_nan=False)
  atomic_write_bytes(path, (text + "\n").encode())


def write_jsonl(path: str, rows: Iterable[Mapping[str, Any]]) -> None:
  """Rewrites the whole file atomically (metrics files are small: one row per eval and seed)."""
  text = "".join(json.dumps(jsonable(r), sort_keys=True, allow_nan=False) + "\n" for r in rows)
  atomic_write_bytes(path, text.encode())


def read_jsonl(path: str) -> list[dict]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def load_runs(workdir: str) -> dict:
  """{algo: rows} of <workdir>/metrics.jsonl and every <workdir>/compare/<algo>/metrics.jsonl,
  the main algorithm first (what experiments/run.py writes with config.compare)."""
  main = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(main):
    raise UserError(f"--workdir={workdir!r} holds no metrics.jsonl")
  rows = read_jsonl(main)
  runs = {rows[0]["algo"]: rows}
  compare = os.path.join(workdir, "compare")
  for algo in sorted(os.listdir(compare)) if os.path.isdir(compare) else []:
    path = os.path.join(compare, algo, "metrics.jsonl")
    if os.path.exists(path):
      runs[algo] = read_jsonl(path)
  return runs


def finite_or_none(x) -> float | None:
  """A metric value for a row: None where it is not finite (JSON has no NaN)."""
  x = float(x)
  return x if math.isfinite(x) else None


def make_rows(state: Mapping[str, Any], returns: Sequence[float], seeds: Sequence[int],
              algo: str, env: str, phase: str, iteration: int, ref: Mapping[str, float] | None,
              uses_offline: bool) -> list[dict]:
  """One row (ROW_KEYS, then the agent's further metrics by name) per seed of one evaluation
  or source episode. `state`: the host copy of the run state's per-seed arrays source_steps,
  target_steps, beta, accept_rate, n_offline, train_return and metrics ({name: (S,)});
  `ref`: the reference scores normalized_return comes from (None: null; source rows: null)."""
  out = []
  for i, seed in enumerate(seeds):
    ret = float(returns[i])
    row = {
        "algo": algo, "env": env, "seed": seed, "phase": phase, "iteration": iteration,
        "source_env_steps": int(state["source_steps"][i]),
        "target_env_steps": int(state["target_steps"][i]), "return": ret,
        "normalized_return": reference.normalize(ret, ref) if phase != "source" else None,
        # Offline-data fields are null for algorithms without D_off (SAC, TD3, PPO).
        "beta": float(state["beta"][i]) if uses_offline else None,
        "accept_rate": float(state["accept_rate"][i]) if uses_offline else None,
        "n_offline": int(state["n_offline"][i]) if uses_offline else None,
        "train_return": float(state["train_return"][i])}
    # The agent's diagnostics, by name: null where the agent has none, or before its first
    # update.
    row.update(dict.fromkeys(AGENT_KEYS))
    row.update({name: finite_or_none(v[i]) for name, v in state["metrics"].items()})
    out.append(row)
  return out


def check_row(row: Mapping[str, Any]) -> None:
  missing = [k for k in ROW_KEYS if k not in row]
  if missing:
    raise ValueError(f"metrics row lacks keys {missing} required by the results contract")


def summarize(rows: Sequence[Mapping[str, Any]], key: str = "normalized_return") -> dict:
  """Final mean/std/per-seed values: the last evaluation of each seed."""
  last: dict[int, Mapping[str, Any]] = {}
  for r in rows:
    if r.get("phase") != "eval":
      continue
    s = int(r["seed"])
    if s not in last or r["target_env_steps"] >= last[s]["target_env_steps"]:
      last[s] = r
  seeds = sorted(last)
  out = {"seeds": seeds, "num_seeds": len(seeds)}
  for k in ("return", key):
    vals = [last[s][k] for s in seeds]
    vals_f = np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
    out[k] = {
        "mean": float(np.nanmean(vals_f)) if len(vals_f) and np.isfinite(vals_f).any() else None,
        "std": float(np.nanstd(vals_f)) if len(vals_f) and np.isfinite(vals_f).any() else None,
        "per_seed": vals,
    }
  if seeds:
    out["target_env_steps"] = int(last[seeds[0]]["target_env_steps"])
    out["source_env_steps"] = int(last[seeds[0]]["source_env_steps"])
  return out


def renormalize(rows: Sequence[Mapping[str, Any]], ref: Mapping[str, float] | None,
                normalize: Any) -> list[dict]:
  """Rows with `normalized_return` recomputed from `return` under reference scores `ref`.

  The normalised return is derived data: a run made before its pair's reference scores were
  measured writes null, and this fills it in once they are (source-phase rows stay null, as
  the runner writes them). `normalize(ret, ref)` is `reference.normalize`.
  """
  return [{**r, "normalized_return": (None if r.get("phase") == "source"
                                      else normalize(r["return"], ref))} for r in rows]


def by_step_and_seed(rows: Iterable[Mapping[str, Any]], key: str, phase: str = "eval",
                     step_key: str = "target_env_steps") -> dict[int, dict[int, float]]:
  """{step: {seed: value of `key`}} over the rows of `phase` where `key` is not null; steps
  in the order they first appear, seeds in row order. Evaluation rows are placed by target
  env steps, source episodes by `step_key="source_env_steps"`."""
  by: dict[int, dict[int, float]] = {}
  for r in rows:
    if r.get("phase") == phase and r.get(key) is not None:
      by.setdefault(int(r[step_key]), {})[int(r["seed"])] = float(r[key])
  return by


def paired_differences(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]],
                       key: str = "normalized_return") -> dict[int, dict]:
  """Per evaluation step, a - b over the seeds both runs share (the same seed means the same
  initial state, keys and evaluation episodes): mean, standard error (std with ddof=1 over
  sqrt(n); null for n < 2), n, and the fraction of seeds where a > b. Pairing removes the
  between-seed variance that both algorithms share, which is what makes the difference of two
  noisy curves readable at a few seeds."""
  a_by, b_by = by_step_and_seed(rows_a, key), by_step_and_seed(rows_b, key)
  stats = {step: paired_stats(a_by[step], b_by[step]) for step in sorted(set(a_by) & set(b_by))}
  return {step: d for step, d in stats.items() if d is not None}


def paired_stats(a: Mapping[int, float], b: Mapping[int, float]) -> dict | None:
  """a - b over the seeds both {seed: value} maps hold: mean, standard error (ddof=1; None
  for one pair), n and the fraction of seeds where a > b; None when no seed is shared."""
  seeds = sorted(set(a) & set(b))
  if not seeds:
    return None
  d = np.array([a[s] - b[s] for s in seeds], np.float64)
  se = float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None
  return {"mean": float(np.mean(d)), "se": se, "n": len(d),
          "fraction_a_above": float(np.mean(d > 0))}


def format_paired(d: Mapping[str, Any]) -> str:
  """'+1.2 ± 0.5 (3/5)': mean ± s.e. (seeds where the first is above / seeds)."""
  se = "" if d["se"] is None else f" ± {d['se']:.1f}"
  return f"{d['mean']:+.1f}{se} ({d['fraction_a_above'] * d['n']:.0f}/{d['n']})"


def best_by_seed(rows: Sequence[Mapping[str, Any]], key: str) -> dict[int, float]:
  """{seed: the best `key` over that seed's evaluations}."""
  return _best(by_step_and_seed(rows, key))


def _best(by_step: Mapping[int, Mapping[int, float]]) -> dict[int, float]:
  best: dict[int, float] = {}
  for per_seed in by_step.values():
    for s, v in per_seed.items():
      best[s] = max(v, best.get(s, -math.inf))
  return best


def iqm_cell(values: Sequence[float]) -> str:
  """'IQM [lower, upper]' over seeds (stratified bootstrap, 95%); '' without values."""
  return stats.format_ci(*stats.iqm_ci(list(values))) if len(values) else ""


def comparison_table(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
  """Markdown: at every evaluation step, per algorithm, mean ± std over seeds and the
  interquartile mean with its 95% stratified bootstrap interval (`stats`); then, for each
  other algorithm, the paired difference first - other (mean ± s.e. over shared seeds, and
  the fraction of seeds where the first is above). A second table gives, per algorithm, the
  final evaluation's IQM [95% CI], the best evaluation over the run (each seed's maximum,
  mean over seeds) and the probability that a run of the first algorithm ends above a run of
  this one."""
  key = ("normalized_return"
         if all(by_step_and_seed(rows, "normalized_return") for rows in runs.values())
         else "return")
  tables = {a: by_step_and_seed(rows, key) for a, rows in runs.items()}
  names = list(runs)
  diffs = {b: paired_differences(runs[names[0]], runs[b], key) for b in names[1:]}
  steps = sorted(set().union(*[set(t) for t in tables.values()]))
  head = ([h for a in names for h in (f"{a} {key}", f"{a} IQM [95% CI]")]
          + [f"{names[0]} - {b} (paired ± s.e.; seeds above)" for b in names[1:]])
  lines = ["| target env steps | " + " | ".join(head) + " |",
           "| ---: | " + " | ".join("---:" for _ in head) + " |"]
  for st in steps:
    cells = []
    for a in names:
      v = list(tables[a].get(st, {}).values())
      cells.append(f"{np.mean(v):.1f} ± {np.std(v):.1f} (n={len(v)})" if v else "")
      cells.append(iqm_cell(v))
    for b in names[1:]:
      d = diffs[b].get(st)
      cells.append("" if d is None else format_paired(d))
    lines.append(f"| {st} | " + " | ".join(cells) + " |")
  return "\n".join(lines + [""] + summary_table(tables, key)) + "\n"


def summary_table(tables: Mapping[str, Mapping[int, Mapping[int, float]]], key: str) -> list:
  """Lines of the per-algorithm table of `comparison_table` from {algo: {step: {seed: v}}}."""
  names = list(tables)
  finals = {a: t[max(t)] if t else {} for a, t in tables.items()}
  lines = [f"| algorithm | final {key} IQM [95% CI] | best (mean over seeds) | "
           f"P({names[0]} > algorithm), final | seeds |", "| --- | ---: | ---: | ---: | ---: |"]
  for a, t in tables.items():
    best = _best(t)
    first, this = list(finals[names[0]].values()), list(finals[a].values())
    poi = (f"{stats.probability_of_improvement(first, this):.2f}"
           if a != names[0] and first and this else "")
    lines.append(f"| {a} | {iqm_cell(this)} | "
                 f"{f'{np.mean(list(best.values())):.1f}' if best else ''} | {poi} | "
                 f"{len(this)} |")
  return lines


def steps_to_threshold(runs: Mapping[str, Sequence[Mapping[str, Any]]], baseline: str,
                       fractions: Sequence[float] = (0.5, 0.8),
                       key: str = "normalized_return") -> dict:
  """Target env steps each seed of each run needs to first reach fraction * the baseline's
  final value (mean over seeds of its last evaluation), and each run's per-seed ratio of steps
  to the baseline's (the paper's "less than half the interaction budget", measured).

  A seed that never reaches a threshold has steps None and no ratio. Ratios pair seeds (the
  same seed means the same initial states and evaluation episodes in both runs); their spread
  is reported as median, min and max over the seeds where both runs reach the threshold.
  Returns {"baseline_final", "thresholds": {fraction: value}, "steps": {algo: {fraction:
  {seed: steps}}}, "ratio": {algo: {fraction: {"per_seed", "median", "min", "max", "n"}}}}.
  """
  if baseline not in runs:
    raise ValueError(f"baseline={baseline!r} is not among the runs {list(runs)}")
  by = {a: by_step_and_seed(rows, key) for a, rows in runs.items()}
  if not by[baseline]:
    raise ValueError(f"the {baseline} run has no evaluation with a non-null {key}")
  final = float(np.mean(list(by[baseline][max(by[baseline])].values())))
  out = {"key": key, "baseline": baseline, "baseline_final": final, "thresholds": {},
         "steps": {}, "ratio": {}}
  for f in fractions:
    out["thresholds"][f] = f * final
  for a, evals in by.items():
    seeds = sorted(set().union(*[set(v) for v in evals.values()]))
    out["steps"][a] = {}
    for f, thr in out["thresholds"].items():
      out["steps"][a][f] = {
          s: next((st for st in sorted(evals) if evals[st].get(s, -math.inf) >= thr), None)
          for s in seeds}
  for a in runs:
    if a == baseline:
      continue
    out["ratio"][a] = {}
    for f in fractions:
      mine, base = out["steps"][a][f], out["steps"][baseline][f]
      per_seed = {s: mine[s] / base[s] for s in sorted(set(mine) & set(base))
                  if mine[s] is not None and base[s] not in (None, 0)}
      vals = list(per_seed.values())
      out["ratio"][a][f] = {"per_seed": per_seed, "n": len(vals),
                            "median": float(np.median(vals)) if vals else None,
                            "min": float(min(vals)) if vals else None,
                            "max": float(max(vals)) if vals else None}
  return out


def steps_to_threshold_table(st: Mapping[str, Any]) -> str:
  """Markdown of steps_to_threshold: per algorithm and threshold, the steps of every seed
  ("-": never reached) and, for the others, the per-seed ratio to the baseline."""
  base = st["baseline"]
  lines = [f"Threshold: a fraction of {base}'s final {st['key']} "
           f"({st['baseline_final']:.1f}, mean over seeds); steps = the first evaluation at "
           "or above it.", "",
           "| algo | threshold | steps per seed | median steps | ratio to "
           f"{base} (median [min, max], seeds) |",
           "| --- | ---: | --- | ---: | ---: |"]
  for a, per_f in st["steps"].items():
    for f, thr in st["thresholds"].items():
      steps = per_f[f]
      cells = ", ".join(f"{s}: {'-' if v is None else v}" for s, v in steps.items())
      reached = [v for v in steps.values() if v is not None]
      med = f"{np.median(reached):.0f}" if reached else "-"
      ratio = ""
      if a != base:
        r = st["ratio"][a][f]
        ratio = ("-" if not r["n"] else
                 f"{r['median']:.2f} [{r['min']:.2f}, {r['max']:.2f}] ({r['n']})")
      lines.append(f"| {a} | {f:.0%} ({thr:.1f}) | {cells} | {med} "
                   f"({len(reached)}/{len(steps)} reached) | {ratio} |")
  return "\n".join(lines) + "\n"
