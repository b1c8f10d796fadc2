"""The paper's figures 2-6 as data, and what `experiments/figures.py` does with them.

A figure is a list of variants (a label and config overrides) drawn on one panel per env.
Every variant runs into `<workdir>/<env>/<algo>-<hash of its full config>`, so a finished run
is reused by any figure that needs the same config (figure 5's and figure 6's "wombet" are one
run), a killed run resumes from its checkpoint, and a changed config never reuses stale
results. Normalised returns are computed when drawing, from the committed reference table, so
refreshing reference scores never needs a rerun.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Callable, Mapping, Sequence

import ml_collections
import numpy as np

from wombet_jax.envs import registry
from wombet_jax.errors import UserError
from wombet_jax.harness import plotting, reference, results
from wombet_jax.harness import workdir as workdir_lib


@dataclasses.dataclass(frozen=True)
class Variant:
  label: str
  overrides: tuple[tuple[str, object], ...] = ()


@dataclasses.dataclass(frozen=True)
class Figure:
  number: int
  title: str
  variants: tuple[Variant, ...]


def _algo(name: str) -> Variant:
  return Variant(name, (("algo", name),))


WOMBET = Variant("wombet")
FIGURES: dict[int, Figure] = {f.number: f for f in (
    Figure(2, "WOMBET vs online RL from scratch",
           (WOMBET, _algo("sac"), _algo("td3"), _algo("ppo"))),
    Figure(3, "WOMBET vs offline RL on the same D_off (zero-shot on the target)",
           (WOMBET, _algo("bc"), _algo("iql"), _algo("cql"), _algo("mopo"), _algo("combo"))),
    Figure(4, "WOMBET vs offline-to-online RL on the same D_off",
           (WOMBET, _algo("iql_ft"), _algo("cal_ql"), _algo("rlpd"), _algo("awac"))),
    Figure(5, "Adaptive offline/online sampling vs a fixed ratio",
           (Variant("wombet adaptive beta, relative TD", (("sampling.td_error", "relative"),)),
            Variant("wombet adaptive beta, absolute TD (paper)",
                    (("sampling.td_error", "absolute"),)),
            Variant("wombet fixed beta=0.5",
                    (("sampling.mode", "fixed"), ("sampling.beta_fixed", 0.5))))),
    Figure(6, "Filter ablation",
           (Variant("wombet dual filter"),
            Variant("wombet reward-only", (("filter.variant", "reward"),)),
            Variant("wombet uncertainty-only", (("filter.variant", "uncertainty"),)),
            Variant("wombet no filter", (("filter.variant", "none"),)))),
)}


def get_figure(number: int) -> Figure:
  if number not in FIGURES:
    raise UserError(f"--figure={number} is not a figure of the paper this reproduces; "
                     f"allowed: {sorted(FIGURES)}")
  return FIGURES[number]


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Sequence[tuple[str, object]]) -> ml_collections.ConfigDict:
  """A copy of `config` with dotted-path fields set; an unknown field is an error."""
  c = config.copy_and_resolve_references()
  for path, value in overrides:
    *parents, leaf = path.split(".")
    node = c
    for p in parents:
      node = node[p]
    if leaf not in node:
      raise ValueError(f"override {path}={value!r}: config has no field {path!r}")
    node[leaf] = value
  return c


def config_hash(config: ml_collections.ConfigDict) -> str:
  """Stable across processes: a run's identity is its full resolved config, less `writers`,
  which only chooses extra output files of the same run."""
  d = config.to_dict()
  d.pop("writers", None)
  blob = json.dumps(d, sort_keys=True, default=str)
  return hashlib.sha1(blob.encode()).hexdigest()[:10]


def run_dir(workdir: str, config: ml_collections.ConfigDict) -> str:
  """Keyed by config alone, not by label: one run serves every figure that needs it."""
  return os.path.join(workdir, config.env, f"{config.algo}-{config_hash(config)}")


def ensure_run(config, wd: str, run_fn: Callable, log: Callable[[str], None] = print) -> str:
  """Runs `config` into `wd` unless a complete run is there; resumes a partial one.

  Returns "reused", "resumed" or "ran".
  """
  summary = os.path.join(wd, "summary.json")
  if os.path.exists(summary):
    with open(summary) as f:
      if json.load(f).get("complete"):
        log(f"reusing finished run {wd}")
        return "reused"
  # A run killed before its first checkpoint has only outputs (resumed: cleared and rerun), one
  # killed between its first checkpoint and its first metrics write only checkpoints.
  partial = (os.path.exists(os.path.join(wd, "checkpoints"))
             or bool(workdir_lib.outputs(wd)))
  if partial:
    log(f"resuming unfinished run {wd}")
  run_fn(config, wd, resume=partial)
  return "resumed" if partial else "ran"


def episode_length(config) -> int:
  return int(config.episode_length) or registry.default_episode_length(config.env)


def with_scores(rows: Sequence[Mapping], ref: dict | None) -> tuple[list[dict], str]:
  """Rows with a `score` field: normalised return if a reference exists, else raw return."""
  out = []
  for r in rows:
    r = dict(r)
    r["score"] = (reference.normalize(r["return"], ref) if ref is not None else r["return"])
    out.append(r)
  return out, ("normalised return" if ref is not None else "return (no reference score)")


def _evals(rows: Sequence[Mapping], key: str) -> list[Mapping]:
  return [r for r in rows if r.get("phase") == "eval" and r.get(key) is not None]


def final_stats(rows: Sequence[Mapping], key: str = "score") -> dict:
  """Mean/std/n of `key` at each seed's last evaluation, and the mean over all evaluations.

  The second number is the area under the learning curve divided by its length: it rewards a
  head start that a final value hides.
  """
  evals = _evals(rows, key)
  if not evals:
    return {"n": 0}
  last_step, finals = _last_evaluation(evals, key)
  final = np.array(list(finals.values()))
  seeds = sorted({int(r["seed"]) for r in evals})
  per_seed_mean = np.array([np.mean([float(r[key]) for r in evals if int(r["seed"]) == s])
                            for s in seeds])
  return {"n": int(len(final)), "steps": last_step, "final_mean": float(final.mean()),
          "final_std": float(final.std()), "auc_mean": float(per_seed_mean.mean()),
          "auc_std": float(per_seed_mean.std())}


def _last_evaluation(evals: Sequence[Mapping], key: str) -> tuple[int, dict[int, float]]:
  """(last evaluation step, {seed: `key` there}) of non-empty evaluation rows."""
  by_step = results.by_step_and_seed(evals, key)
  last_step = max(by_step)
  return last_step, by_step[last_step]


def final_by_seed(rows: Sequence[Mapping], key: str = "score") -> dict[int, float]:
  """{seed: `key` at the run's last evaluation step}."""
  evals = _evals(rows, key)
  return _last_evaluation(evals, key)[1] if evals else {}


def per_seed_evaluations(panels: Mapping[str, Mapping[str, Sequence[Mapping]]]) -> dict:
  """{env: {label: {"seed": [...], "target_env_steps": [...], "return": [...], "score": [...]}}}:
  every evaluation of every seed, column-wise, so that paired statistics, the curves and the
  tables can be re-derived from committed files (runs.json keeps only means and stds)."""
  keys = ("seed", "target_env_steps", "return", "score")
  out = {}
  for env, runs in panels.items():
    out[env] = {}
    for label, rows in runs.items():
      evals = sorted(_evals(rows, "score"),
                     key=lambda r: (int(r["seed"]), int(r["target_env_steps"])))
      out[env][label] = {k: [(int(r[k]) if k in ("seed", "target_env_steps") else float(r[k]))
                             for r in evals] for k in keys}
  return out


def markdown_table(figure: Figure, panels: Mapping[str, Mapping[str, Sequence[Mapping]]],
                   units: Mapping[str, str]) -> str:
  """Per env: each variant's final and mean-over-evaluations score, its final minus the first
  variant's, paired by seed (every variant runs the same seeds), the final score's
  interquartile mean with its 95% stratified bootstrap interval, and the best evaluation
  (each seed's maximum over the run, mean over seeds)."""
  lines = [f"## Figure {figure.number}: {figure.title}", ""]
  for env, runs in panels.items():
    first_label = next(iter(runs))
    first = final_by_seed(runs[first_label])
    lines += [f"### {env} ({units[env]}, mean ± std over seeds)", "",
              f"| variant | final | mean over evaluations | seeds | target env steps | "
              f"final - {first_label} (paired ± s.e.; seeds above) | final IQM [95% CI] | "
              "best |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, rows in runs.items():
      s = final_stats(rows)
      if not s["n"]:
        lines.append(f"| {label} | no evaluations | | 0 | | | | |")
        continue
      d = None if label == first_label else results.paired_stats(final_by_seed(rows), first)
      paired = "" if d is None else results.format_paired(d)
      lines.append(f"| {label} | {s['final_mean']:.1f} ± {s['final_std']:.1f} | "
                   f"{s['auc_mean']:.1f} ± {s['auc_std']:.1f} | {s['n']} | {s['steps']} | "
                   f"{paired} | {results.iqm_cell(list(final_by_seed(rows).values()))} | "
                   f"{np.mean(list(results.best_by_seed(rows, 'score').values())):.1f} |")
    lines.append("")
  return "\n".join(lines)


def draw(figure: Figure, panels: Mapping[str, Mapping[str, Sequence[Mapping]]],
         units: Mapping[str, str], path: str) -> str:
  import textwrap

  import matplotlib.pyplot as plt
  n = len(panels)
  cols = min(n, 3)
  rows_ = (n + cols - 1) // cols
  width = 5.6 * cols
  fig, axes = plt.subplots(rows_, cols, figsize=(width, 3.9 * rows_), dpi=120, squeeze=False)
  for ax, (env, runs) in zip(axes.flat, panels.items()):
    kind = plotting.plot_curves(ax, runs, "score")
    ax.set_title(env)
    ax.set_ylabel(f"{units[env]} ({plotting.BAND_LABELS[kind]})")
  for ax in list(axes.flat)[n:]:
    ax.axis("off")
  handles, labels = axes.flat[0].get_legend_handles_labels()
  # Sized from the legend's own text (labels carry "(n=5, zero-shot)" suffixes), so that it
  # and the title fit the width: ~0.055 in per character at 8 pt plus the line sample, and
  # ~0.1 in per character of the 11 pt title.
  entry_in = 0.055 * max(len(lb) for lb in labels) + 0.6
  ncol = max(1, min(len(labels), int(width / entry_in)))
  legend_in = 0.3 * -(-len(labels) // ncol) + 0.15  # inches under the panels for the legend
  title = textwrap.fill(f"Figure {figure.number}: {figure.title}", int(width / 0.1),
                        break_on_hyphens=False)
  title_in = 0.25 * (title.count("\n") + 1) + 0.1
  height = 3.9 * rows_ + legend_in + title_in
  fig.set_size_inches(width, height)
  fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, fontsize=8)
  fig.suptitle(title, fontsize=11)
  fig.tight_layout(rect=(0, legend_in / height, 1, 1))  # tight_layout makes room for suptitle
  plotting.save(fig, path)
  return path


def collect(figure: Figure, configs: Mapping[str, Mapping[str, ml_collections.ConfigDict]],
            workdir: str, reference_table: str | None) -> tuple[dict, dict]:
  """{env: {label: rows with scores}} and {env: y-axis unit} from finished runs on disk,
  normalised by the scores of `reference_table` where it has them."""
  panels, units = {}, {}
  for env, by_label in configs.items():
    ref = reference.lookup(env, episode_length(next(iter(by_label.values()))),
                           reference_table)
    panels[env] = {}
    for label, c in by_label.items():
      rows = results.read_jsonl(os.path.join(run_dir(workdir, c), "metrics.jsonl"))
      panels[env][label], units[env] = with_scores(rows, ref)
  return panels, units
