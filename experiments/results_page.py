"""Writes the results pages from the committed data, so no table can disagree with its data.

  python experiments/results_page.py           # rewrite experiments/results/README.md and
                                               # experiments/results/benchmarks/README.md
  python experiments/results_page.py --check   # exit 1 if a committed page differs

Each folder experiments/results/<name>/ holds what a command wrote (metrics.jsonl, runs.json,
lower_bound.json, ...) and two hand-written files: `notes.md` ("what it shows", kept next to the
data) and `result.json`, the provenance that git cannot give at generation time (a page cannot
hold the hash of its own commit). A folder without result.json is skipped with a warning.

result.json:

  {
    "title":        "Default config at 64 seeds (one H200)",     section heading
    "kind":         "comparison",                                how its data is rendered (below)
    "command":      "python experiments/run.py --config.num_seeds=64",   what made the data
    "wall_seconds": 190,          wall time of that command; null where it was not recorded
    "commit":       "1d2b4c2",    the commit whose code made the data (short hash)
    "date":         "2026-11-26", when (YYYY-MM-DD)
    "machine":      "one NVIDIA H200, jax 0.11.2",
    "notes":        "notes.md",   optional (this default); hand-written, pasted under the tables
    "png":          "comparison.png",  optional; the default depends on the kind
    "subresults":   [ {...} ]     optional: more results of the same study, each with the same
                                  fields plus "dir" (a sub-folder; their paths are relative to it)
  }

Kinds and their own fields (paths relative to the folder, or to "dir" for a subresult):

  comparison     runs of experiments/run.py with config.compare: one table of
                 wombet_jax.harness.results.comparison_table over "runs" ({label:
                 metrics.jsonl}; default: metrics.jsonl labelled by its algo, then
                 compare/<algo>/metrics.jsonl), the wall time of each run from the summary.json
                 next to its metrics, and wombet_jax.harness.results.steps_to_threshold_table
                 of "steps_to_threshold" (default steps_to_threshold.json, written by
                 experiments/postprocess.py thresholds) when it exists,
                 and wombet_jax.harness.tables.source_phase_table of "source_phase" (default
                 source_phase.json, written by experiments/diagnostics/source_phase.py) when it
                 exists.
                 "normalise": {"env": ..., "episode_length": ...} adds the table in normalised
                 return from reference_scores.json (for runs that predate their pair's entry).
                 png default: comparison.png.
  figure         experiments/figures.py output, "figure": N: figure<N>.png, and the variants'
                 final and mean-over-evaluations scores from runs.json; the paired column comes
                 from table.md after every other cell of it is checked against runs.json.
  lower_bound    experiments/diagnostics/lower_bound.py output: lower_bound.json rendered
                 with wombet_jax.harness.tables.lower_bound_markdown; png default
                 lower_bound.png.
  log_means      runs whose per-seed files are absent: the mean normalised return at each
                 evaluation read from the progress of "logs" ({label: path}), next to the means
                 of "runs" ({label: metrics.jsonl}). A path is a run's progress.jsonl (or its
                 folder; "progress.jsonl#<algo>" picks a compared run, default the main one) or,
                 for a run that predates progress.jsonl, its printed output (read by
                 legacy_log_means). No png default.
  transfer       experiments/transfer_study.py output: report.json rendered with
                 wombet_jax.harness.transfer.report_markdown; png default curves.png.
  check_configs  experiments/diagnostics/check_configs.py --json output, "json"
                 (default check_configs.json), rendered with
                 wombet_jax.harness.tables.check_configs_table.
  fault_check    experiments/fault_check.py --json output, "json" (default fault_check.json),
                 rendered with wombet_jax.harness.tables.fault_check_markdown.
  render         a picture of what a script drew ("png" required) with its notes.
  benchmarks     a page of its own (<folder>/README.md): "subresults" of kind "benchmark", each
                 with "json" (what a script in experiments/benchmarks/ wrote with --json),
                 "tables" ([{"key": a list of row dicts in the JSON, "columns": [...],
                 "title" or "title_key": optional}]) rendered with
                 wombet_jax.harness.benchmarking.markdown_table,
                 "fields" (top-level JSON values listed under the tables), "rename" ({shown
                 text: replacement} for row labels) and "notes".

The reference-score table (wombet_jax/harness/reference_scores.json, package data) is rendered
as the page's first table (its entries carry their own command, date and seconds).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import posixpath
import re
import sys
from typing import Any, Callable, Mapping

from wombet_jax.harness import tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RESULTS = os.path.join(ROOT, "experiments", "results")
PAGE = "README.md"
# Page order; folders not listed follow in alphabetical order.
ORDER = ("default", "default_h200_64seeds", "reacher_cpu", "halfcheetah_cpu", "hopper_cpu",
         "transfer_halfcheetah",
         "figure2", "figure3", "figure4", "figure5", "figure6", "lower_bound", "check_configs",
         "fault_check")
PROVENANCE = ("title", "kind", "command", "wall_seconds", "commit", "date", "machine")
KINDS = ("comparison", "figure", "lower_bound", "log_means", "check_configs", "fault_check",
         "render", "benchmarks", "benchmark", "transfer")

HEADER = """# Results

Generated by `python experiments/results_page.py` from the data committed in this folder; do
not edit by hand. Each section's tables are computed from its folder's files; the command, wall
time, commit and machine come from the folder's `result.json`, the text under the tables from its
`notes.md` (the format is described in `experiments/results_page.py` and
[docs/running.md](../../docs/running.md#results-pages)).

**How far to trust a number.** A seed fixes every random draw, so a rerun on the same machine
with the same library versions is bit-identical. Another CPU or GPU type, or another version
of jax/XLA, gives a different float stream and different curves for the same seed. At 5 seeds
the RL curves here are noisy: two algorithms' means often cross back and forth within one
standard deviation. The 64-seed runs
([default at 64 seeds](#default-config-at-64-seeds-one-h200)) are the ones whose
differences are real; read every 5-seed comparison against them.

Speed and memory: [benchmarks/README.md](benchmarks/README.md).
"""


class PageError(ValueError):
  """A result folder whose metadata or data cannot be rendered."""


# ----------------------------------------------------------------------------------- helpers


def _read_json(path: str) -> Any:
  with open(path) as f:
    return json.load(f)


def _read_text(path: str) -> str:
  with open(path) as f:
    return f.read()


def _shift_headings(md: str, levels: int) -> str:
  """Markdown with every ATX heading `levels` deeper (embedded pages sit under a section)."""
  return re.sub(r"(?m)^(#+) ", lambda m: "#" * (len(m.group(1)) + levels) + " ", md)


def _relink(md: str, from_dir: str, page_dir: str) -> str:
  """Relative markdown links of a notes file (written relative to its own folder) made relative
  to the page it is pasted into."""
  def fix(m):
    target, anchor = m.group(1), m.group(2) or ""
    if re.match(r"[a-z]+:", target) or target.startswith("/"):
      return m.group(0)
    new = os.path.relpath(os.path.normpath(os.path.join(from_dir, target)), page_dir)
    return f"]({new.replace(os.sep, '/')}{anchor})"
  return re.sub(r"\]\(([^)#\s]+)(#[^)\s]*)?\)", fix, md)


def _notes(path: str, level: int, page_dir: str) -> str:
  return _relink(_shift_headings(_read_text(path).strip("\n"), level), os.path.dirname(path),
                 page_dir)


def _anchor(title: str) -> str:
  """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
  return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def _wall(seconds: float | None) -> str:
  if seconds is None:
    return "not recorded"
  if seconds < 120:
    return f"{seconds:.0f} s"
  if seconds < 7200:
    return f"{seconds:.0f} s ({seconds / 60:.1f} min)"
  return f"{seconds:.0f} s ({seconds / 3600:.1f} h)"


def _provenance(meta: Mapping[str, Any]) -> list[str]:
  return [f"- Command: `{meta['command']}`",
          f"- Wall time: {_wall(meta['wall_seconds'])}",
          f"- Commit: `{meta['commit']}` ({meta['date']})",
          f"- Machine: {meta['machine']}"]


def check_meta(meta: Mapping[str, Any], where: str, sub: bool = False) -> None:
  """Raises PageError naming the first missing or malformed field of a result.json entry."""
  need = ("title", "kind") if meta.get("kind") == "benchmarks" else PROVENANCE
  if sub:
    need = need + ("dir",) if meta.get("kind") != "benchmark" else need
  missing = [k for k in need if k not in meta]
  if missing:
    raise PageError(f"{where}: result.json lacks {missing} (see experiments/results_page.py)")
  if meta["kind"] not in KINDS:
    raise PageError(f"{where}: kind {meta['kind']!r} is not one of {list(KINDS)}")
  if "date" in meta and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(meta["date"])):
    raise PageError(f"{where}: date {meta['date']!r} is not YYYY-MM-DD")
  if "commit" in meta and not re.fullmatch(r"[0-9a-f]{7,40}", str(meta["commit"])):
    raise PageError(f"{where}: commit {meta['commit']!r} is not a git hash")
  w = meta.get("wall_seconds")
  if "wall_seconds" in need and not (w is None or isinstance(w, (int, float)) and w >= 0):
    raise PageError(f"{where}: wall_seconds {w!r} must be a number of seconds or null")


# ------------------------------------------------------------------------------------ kinds


def _default_runs(folder: str) -> dict[str, str]:
  from wombet_jax.harness import results
  runs = {}
  main = os.path.join(folder, "metrics.jsonl")
  if os.path.exists(main):
    runs[results.read_jsonl(main)[0]["algo"]] = "metrics.jsonl"
  compare = os.path.join(folder, "compare")
  for algo in sorted(os.listdir(compare)) if os.path.isdir(compare) else []:
    if os.path.exists(os.path.join(compare, algo, "metrics.jsonl")):
      runs[algo] = os.path.join("compare", algo, "metrics.jsonl")
  return runs


def steps_to_threshold_from_json(st: Mapping[str, Any], order: list[str]) -> dict:
  """steps_to_threshold.json as results.steps_to_threshold returned it: JSON made the fraction
  and seed keys strings and sorted the algorithms; numbers again, seeds in numeric order, the
  algorithms in the runs' order."""
  fkey = lambda d: {float(f): v for f, v in sorted(d.items(), key=lambda kv: float(kv[0]))}
  seeds = lambda d: {int(s): v for s, v in sorted(d.items(), key=lambda kv: int(kv[0]))}
  algos = [a for a in order if a in st["steps"]] + [a for a in st["steps"] if a not in order]
  return {**st, "thresholds": fkey(st["thresholds"]),
          "steps": {a: {f: seeds(v) for f, v in fkey(st["steps"][a]).items()} for a in algos},
          "ratio": {a: {f: {**r, "per_seed": seeds(r["per_seed"])}
                        for f, r in fkey(st["ratio"][a]).items()}
                    for a in algos if a in st["ratio"]}}


def _warn_if_stale(json_path: str, rendered: str, folder: str,
                   warn: Callable[[str], None]) -> None:
  """Warns when the committed .md next to `json_path` is not what its JSON renders today."""
  committed = os.path.splitext(json_path)[0] + ".md"
  if os.path.exists(committed) and _read_text(committed) != rendered:
    warn(f"{folder}: {os.path.basename(committed)} differs from its JSON rendered today")


def render_comparison(meta: Mapping[str, Any], folder: str, warn: Callable[[str], None]) -> str:
  from wombet_jax.harness import reference, results
  runs_paths = meta.get("runs") or _default_runs(folder)
  if not runs_paths:
    raise PageError(f"{folder}: no metrics.jsonl to compare")
  runs = {label: results.read_jsonl(os.path.join(folder, p)) for label, p in runs_paths.items()}
  out = [results.comparison_table(runs)]
  committed = os.path.join(folder, "comparison.md")
  if "runs" not in meta and os.path.exists(committed) and _read_text(committed) != out[0]:
    warn(f"{folder}: comparison.md differs from the table its metrics give today")
  timing = []
  for label, p in runs_paths.items():
    summary = os.path.join(folder, os.path.dirname(p), "summary.json")
    elapsed = (_read_json(summary).get("timing") or {}).get("elapsed_seconds") if (
        os.path.exists(summary)) else None
    if elapsed is not None:
      timing.append(f"{label} {_wall(elapsed)}")
  if timing:
    out.append(f"Time of each run (summary.json): {', '.join(timing)}.\n")
  norm = meta.get("normalise")
  if norm:
    ref = reference.lookup(norm["env"], norm["episode_length"],
                           reference.REFERENCE_SCORES)
    if ref is None:
      raise PageError(f"{folder}: normalise asks for {norm['env']}/{norm['episode_length']}, "
                      "which reference_scores.json lacks")
    scored = {label: [{**r, "normalized_return": reference.normalize(r["return"], ref)}
                      for r in rows] for label, rows in runs.items()}
    out.append(f"The same runs in normalised return (R_random {ref['random']:.2f}, "
               f"R_reference {ref['reference']:.2f} from reference_scores.json, applied here: "
               "the runs predate the entry; "
               f"{reference.ceiling_text(norm['env'], norm['episode_length'], ref)}):\n")
    out.append(results.comparison_table(scored))
  st_path = os.path.join(folder, meta.get("steps_to_threshold", "steps_to_threshold.json"))
  if os.path.exists(st_path):
    st = steps_to_threshold_from_json(_read_json(st_path), list(runs))
    out.append("Steps to threshold (`experiments/postprocess.py thresholds`):\n")
    out.append(results.steps_to_threshold_table(st))
    _warn_if_stale(st_path, out[-1], folder, warn)
  sp_path = os.path.join(folder, meta.get("source_phase", "source_phase.json"))
  if os.path.exists(sp_path):
    out.append("PETS source phase (`experiments/diagnostics/source_phase.py`):\n")
    out.append(tables.source_phase_table(_read_json(sp_path)))
    _warn_if_stale(sp_path, out[-1], folder, warn)
  return "\n".join(out)


def _table_rows(md: str) -> list[list[str]]:
  """The cells of every table row of a markdown text (header and alignment rows included)."""
  return [[c.strip() for c in line.strip().strip("|").split("|")]
          for line in md.splitlines() if line.startswith("|")]


def render_figure(meta: Mapping[str, Any], folder: str, warn: Callable[[str], None]) -> str:
  runs = _read_json(os.path.join(folder, "runs.json"))
  table_md = _read_text(os.path.join(folder, "table.md"))
  out = []
  # table.md: one "### <env> (<unit>, ...)" block per env, rows in the figure's variant order.
  blocks = re.split(r"(?m)^### ", table_md)[1:]
  for block in blocks:
    env = block.split(" ", 1)[0]
    if env not in runs["runs"]:
      raise PageError(f"{folder}: table.md has env {env!r}, runs.json does not")
    rows = _table_rows(block)
    header, body = rows[0], rows[2:]
    lines = [f"{env} ({block.splitlines()[0].split('(', 1)[1]}", "",
             "| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    for cells in body:
      label = cells[0]
      s = runs["runs"][env].get(label)
      if s is None:
        raise PageError(f"{folder}: table.md has variant {label!r}, runs.json does not")
      mine = ([f"{s['final_mean']:.1f} ± {s['final_std']:.1f}",
               f"{s['auc_mean']:.1f} ± {s['auc_std']:.1f}", f"{s['n']}", f"{s['steps']}"]
              if s.get("n") else ["no evaluations", "", "0", ""])
      if cells[1:5] != mine:
        raise PageError(f"{folder}: table.md row {label!r} {cells[1:5]} disagrees with "
                        f"runs.json {mine}; redraw the figure with --draw_only")
      lines.append("| " + " | ".join([label] + mine + cells[5:]) + " |")
    missing = set(runs["runs"][env]) - {c[0] for c in body}
    if missing:
      raise PageError(f"{folder}: runs.json has variants {sorted(missing)} that table.md lacks")
    out.append("\n".join(lines) + "\n")
  return "\n".join(out)


def render_lower_bound(meta: Mapping[str, Any], folder: str, warn: Callable[[str], None]) -> str:
  d = _read_json(os.path.join(folder, "lower_bound.json"))
  md = tables.lower_bound_markdown(d["rows"], d["fraction_planned_x_penalised"], d["lambdas"],
                                   d["meta"])
  committed = os.path.join(folder, "lower_bound.md")
  if os.path.exists(committed) and _read_text(committed) != md:
    warn(f"{folder}: lower_bound.md differs from lower_bound.json rendered today")
  # Its title and command paragraphs repeat the section's heading and provenance.
  return "\n\n".join(para for para in md.split("\n\n")
                     if not para.startswith(("# ", "Command: ")))


# The only reader of printed progress lines: the committed output of runs made before runs wrote
# progress.jsonl (e.g. default_h200_64seeds/data_levers/*.log.txt). Everything newer is read
# from progress.jsonl (log_means).
_LEGACY_PROGRESS_LINE = re.compile(
    r"target steps (\d+)/\d+ \| return [^|]*\(normalised (-?[\d.]+)\)")


def legacy_log_means(text: str) -> dict[int, float]:
  """{target steps: mean normalised return} from the progress lines a run printed."""
  return {int(st): float(v) for st, v in _LEGACY_PROGRESS_LINE.findall(text)}


def log_means(path: str) -> dict[int, float]:
  """{target steps: mean normalised return} at each evaluation of a run: from its
  progress.jsonl (`path`, or a folder holding one; "#<algo>" after it picks the run), or from
  its printed output where it predates that file (legacy_log_means)."""
  from wombet_jax.harness import progress
  file, _, algo = path.partition("#")
  if os.path.isdir(file):
    file = os.path.join(file, progress.FILE)
  if file.endswith(".jsonl"):
    return progress.eval_means(progress.read_events(file), algo or None)
  return legacy_log_means(_read_text(file))


def render_log_means(meta: Mapping[str, Any], folder: str, warn: Callable[[str], None]) -> str:
  import numpy as np

  from wombet_jax.harness import results
  curves: dict[str, dict[int, float]] = {}
  for label, p in (meta.get("runs") or {}).items():
    by = results.by_step_and_seed(results.read_jsonl(os.path.join(folder, p)),
                                  "normalized_return")
    curves[label] = {st: float(np.mean(list(v.values()))) for st, v in by.items()}
  for label, p in meta["logs"].items():
    found = log_means(os.path.join(folder, p))
    if not found:
      raise PageError(f"{folder}: {p} holds no evaluation with a normalised return")
    curves[label] = found
  steps = sorted(set().union(*[set(c) for c in curves.values()]) - {0})
  lines = ["| variant | " + " | ".join(str(s) for s in steps) + " |",
           "| --- |" + " ---: |" * len(steps)]
  for label, c in curves.items():
    lines.append(f"| {label} | " + " | ".join(f"{c[s]:.1f}" if s in c else "" for s in steps)
                 + " |")
  return ("Mean normalised return over seeds at each evaluation (target env steps); the rows "
          "from logs are the progress lines' means.\n\n" + "\n".join(lines) + "\n")


def render_check_configs(meta: Mapping[str, Any], folder: str,
                         warn: Callable[[str], None]) -> str:
  d = _read_json(os.path.join(folder, meta.get("json", "check_configs.json")))
  flags = ", ".join(f"--{k}={v}" for k, v in sorted((d.get("flags") or {}).items()))
  head = f"Device: {d.get('device', '?')}, {d.get('cpu_count', '?')} CPU cores"
  return (f"{head}{'; flags ' + flags if flags else ''}.\n\n"
          + tables.check_configs_table(d["rows"]))


def render_transfer(meta: Mapping[str, Any], folder: str, warn: Callable[[str], None]) -> str:
  from wombet_jax.harness import transfer
  md = transfer.report_markdown(_read_json(os.path.join(folder, "report.json")))
  committed = os.path.join(folder, "report.md")
  if os.path.exists(committed) and _read_text(committed) != md:
    warn(f"{folder}: report.md differs from report.json rendered today")
  return md


def render_fault_check(meta: Mapping[str, Any], folder: str,
                       warn: Callable[[str], None]) -> str:
  d = _read_json(os.path.join(folder, meta.get("json", "fault_check.json")))
  return tables.fault_check_markdown(d) + "\n"


def render_picture(meta: Mapping[str, Any], folder: str, warn: Callable[[str], None]) -> str:
  if not meta.get("png"):
    raise PageError(f"{folder}: a render result needs its png")
  return ""


RENDER = {"comparison": render_comparison, "figure": render_figure,
          "lower_bound": render_lower_bound, "log_means": render_log_means,
          "check_configs": render_check_configs, "fault_check": render_fault_check,
          "transfer": render_transfer, "render": render_picture}
PNG = {"comparison": "comparison.png", "lower_bound": "lower_bound.png",
       "transfer": "curves.png"}


def _png(meta: Mapping[str, Any]) -> str | None:
  if "png" in meta:
    return meta["png"]
  if meta["kind"] == "figure":
    return f"figure{meta['figure']}.png"
  return PNG.get(meta["kind"])


def render_result(meta: dict, folder: str, rel: str, level: int, warn: Callable[[str], None],
                  root: str) -> list[str]:
  """One result's section: heading, provenance, PNG, tables, notes, then its subresults."""
  if meta["kind"] not in RENDER:
    raise PageError(f"{folder}: kind {meta['kind']!r} belongs in a benchmarks folder; a result "
                    f"section takes one of {list(RENDER)}")
  out = ["#" * level + " " + meta["title"], ""]
  out += _provenance(meta) + [""]
  png = _png(meta)
  if png:
    if not os.path.exists(os.path.join(folder, png)):
      raise PageError(f"{folder}: png {png!r} does not exist")
    out += [f"![{meta['title']}]({rel}/{png})", ""]
  meta = {**meta, "_root": root}
  out += [RENDER[meta["kind"]](meta, folder, warn).rstrip("\n"), ""]
  notes = os.path.join(folder, meta.get("notes", "notes.md"))
  if "notes" in meta or os.path.exists(notes):
    if not os.path.exists(notes):
      raise PageError(f"{folder}: notes {meta['notes']!r} does not exist")
    out += [_notes(notes, level, root), ""]
  for i, sub in enumerate(meta.get("subresults", ())):
    check_meta(sub, f"{folder} subresult {i}", sub=True)
    out += render_result(sub, os.path.normpath(os.path.join(folder, sub["dir"])),
                         posixpath.normpath(posixpath.join(rel, sub["dir"])), level + 1, warn,
                         root)
  return out


# ------------------------------------------------------------------------------- benchmarks


def _benchmark_tables(entry: Mapping[str, Any], folder: str) -> list[str]:
  from wombet_jax.harness import benchmarking
  d = _read_json(os.path.join(folder, entry["json"]))
  rename = entry.get("rename", {})
  title, device = d.get("title", ""), d.get("device", "?")
  out = [title if device in title else f"{title} ({device})", ""]
  if "transcribed" in d:
    out += [f"Transcribed: {d['transcribed']}", ""]
  for t in entry.get("tables", [{"key": "rows"}]):
    rows = [{k: (rename.get(v, v) if isinstance(v, str) else v) for k, v in r.items()}
            for r in d[t["key"]]]
    title = t.get("title") or d.get(t.get("title_key", ""))
    if title:
      out += [title, ""]
    out += [benchmarking.markdown_table(rows, t.get("columns")), ""]
  fields = [f"{k} = {_fmt_field(d[k])}" for k in entry.get("fields", ()) if k in d]
  if fields:
    out += ["; ".join(fields) + ".", ""]
  return out


def _fmt_field(v: Any) -> str:
  if isinstance(v, (list, tuple)):
    return "[" + ", ".join(_fmt_field(x) for x in v) + "]"
  if isinstance(v, float):
    return f"{v:.4g}" if math.isfinite(v) else str(v)
  if isinstance(v, int):
    return f"{v:,}"
  return str(v)


def render_benchmarks(meta: Mapping[str, Any], folder: str) -> str:
  out = ["# Benchmarks", "",
         "Generated by `python experiments/results_page.py` from the JSON files in this folder "
         "(written by the scripts in `experiments/benchmarks/` with `--json PATH`); do not edit "
         "by hand. Timings depend on the machine, its load and the library versions; each "
         "section names them. Back to [the results](../README.md).", ""]
  notes = os.path.join(folder, meta.get("notes", "notes.md"))
  if os.path.exists(notes):
    out += [_notes(notes, 1, folder), ""]
  for i, entry in enumerate(meta.get("subresults", ())):
    check_meta(entry, f"{folder} entry {i}", sub=True)
    out += [f"## {entry['title']}", ""] + _provenance(entry) + [""]
    out += _benchmark_tables(entry, folder)
    if "notes" in entry:
      out += [_notes(os.path.join(folder, entry["notes"]), 2, folder), ""]
  return "\n".join(out).rstrip("\n") + "\n"


# ------------------------------------------------------------------------------------- page


def _ceiling(entry: Mapping) -> str:
  """The analytic ceiling of an entry's target return and its normalised value, or "none"
  where the reward grows without bound."""
  from wombet_jax.envs import registry
  from wombet_jax.harness import reference
  top = registry.return_ceiling(entry["env"], entry["episode_length"])
  if top is None:
    return "none"
  return f"{top:.1f} ({reference.normalize(top, entry):.1f})"


def render_reference_scores(path: str) -> list[str]:
  if not os.path.exists(path):
    return []
  d = _read_json(path)
  out = ["## Reference scores", "",
         "`wombet_jax/harness/reference_scores.json`, written by "
         "`experiments/reference_scores.py`;"
         f" {d.get('formula', '')}. R_reference is the best point of the mean-over-seeds SAC "
         "curve (± std over seeds there; final: the last point). An entry is used only for "
         "runs with its episode length; other runs report raw returns.", "",
         "| pair / episode length | R_random | R_reference | analytic ceiling (normalised) "
         "| budget | command | date |",
         "| --- | ---: | ---: | ---: | --- | --- | --- |"]
  for key, e in sorted(d.get("scores", {}).items()):
    top = _ceiling(e)
    out.append(
        f"| {key} | {e['random']:.2f} | {e['reference']:.2f} (± {e['reference_std']:.2f} at "
        f"step {e['reference_at_step']}; final {e['reference_final']:.2f}) | {top} | "
        f"{e['reference_algo']} at scale {e['scale']}, {e['reference_steps']} steps, "
        f"{_seeds(e)}; random: {e['random_episodes']} episodes; "
        f"{e['seconds']:.0f} s | `{e['command']}` | {e['date']} |")
  return out + [""]


def _seeds(entry: dict) -> str:
  """Which seeds made a reference: its own (disjoint from compared runs when the first seed
  is chosen so), or a named run's, whose seeds it shares."""
  n, first = entry["reference_seeds"], entry.get("reference_first_seed")
  if entry.get("reference_run"):
    return f"{n} seeds of the run {entry['reference_run']}"
  if first is None:
    return f"{n} seeds"
  return f"seeds {first}-{first + n - 1}"


def folders(results_dir: str) -> list[str]:
  names = sorted(n for n in os.listdir(results_dir)
                 if os.path.isdir(os.path.join(results_dir, n)) and not n.startswith("."))
  return ([n for n in ORDER if n in names] + [n for n in names if n not in ORDER])


def render(results_dir: str = RESULTS, warn: Callable[[str], None] | None = None
           ) -> dict[str, str]:
  """{path: page text} of every page generated from `results_dir`."""
  from wombet_jax.harness import reference
  warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
  pages: dict[str, str] = {}
  sections: list[list[str]] = []
  toc = []
  for name in folders(results_dir):
    folder = os.path.join(results_dir, name)
    meta_path = os.path.join(folder, "result.json")
    if not os.path.exists(meta_path):
      warn(f"experiments/results/{name}/ has no result.json; left off the page")
      continue
    meta = _read_json(meta_path)
    check_meta(meta, name)
    if meta["kind"] == "benchmarks":
      pages[os.path.join(folder, PAGE)] = render_benchmarks(meta, folder)
      continue
    toc.append(f"- [{meta['title']}](#{_anchor(meta['title'])})")
    sections.append(render_result(meta, folder, name, 2, warn, results_dir))
  lines = [HEADER, "## Contents", "", "- [Reference scores](#reference-scores)"] + toc + [""]
  lines += render_reference_scores(reference.REFERENCE_SCORES)
  for s in sections:
    lines += s
  pages[os.path.join(results_dir, PAGE)] = "\n".join(lines).rstrip("\n") + "\n"
  return pages


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 if a committed page differs from its data")
  parser.add_argument("--results", default=RESULTS, help="the results folder")
  args = parser.parse_args(argv)
  stale = []
  for path, text in render(args.results).items():
    old = _read_text(path) if os.path.exists(path) else None
    if args.check:
      if old != text:
        stale.append(path)
    elif old != text:
      from wombet_jax.harness import results
      results.atomic_write_bytes(path, text.encode())
      print(f"wrote {os.path.relpath(path, ROOT)}")
  if stale:
    print("out of date (run python experiments/results_page.py): " + ", ".join(stale),
          file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
