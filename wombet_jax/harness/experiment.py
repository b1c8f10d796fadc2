"""What `experiments/run.py` does: validate, run the algorithm and its comparisons, plot.

Every run (the main one and each compared algorithm) is validated (once), built and checked
against its workdir before the first one starts, so a bad field or an occupied workdir of any
of them stops everything before any work or any write. One `progress.Progress` reports on all
of them: its events (<workdir>/progress.jsonl, the printed lines, `progress_fn`) count every
phase of every run in their remaining work and ETA.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from absl import logging as absl_logging

from wombet_jax.harness import config as config_lib
from wombet_jax.agents import registry
from wombet_jax.harness import plotting, progress, results, runner


def compare_algos(config) -> list[str]:
  return registry.compare_names(config)


def run(config, workdir: str, resume: bool = False, multihost: bool = False,
        verbose: bool = True, reference_table: str | None = None,
        progress_fn: Callable[[dict], Any] | None = None,
        pipelines: Mapping[str, Any] | None = None) -> dict:
  """Runs config.algo into `workdir`, then every algorithm of config.compare into
  <workdir>/compare/<algo>, and returns {algo: summary}. `reference_table`: the reference
  scores their normalised returns come from (None: not normalised). `progress_fn(event)` gets
  every progress event (`progress.py`), the ones <workdir>/progress.jsonl holds; their ETA spans
  every run. `pipelines`: {algo: loop.Pipeline} built beforehand (their compiled pieces are
  reused)."""
  # orbax logs every checkpoint step at INFO through absl; progress lines are ours.
  absl_logging.set_verbosity(absl_logging.WARNING)
  if multihost:
    import jax
    jax.distributed.initialize()
  others = compare_algos(config)
  configs = {config.algo: config}
  for a in others:
    c = config.copy_and_resolve_references()
    c.algo = a
    configs[a] = c
  for c in configs.values():  # fail on any bad value before building anything
    config_lib.validate(c)
  # Each Runner locks its workdir (one run per workdir) until closed: the main one's lock
  # covers the comparisons below it until the last of them has finished.
  runners, locks = {}, []
  try:
    for algo, c in configs.items():
      r = runner.Runner(c, workdir if algo == config.algo
                        else os.path.join(workdir, "compare", algo),
                        resume=resume, verbose=verbose, reference_table=reference_table,
                        resume_workdir=workdir, pipeline=(pipelines or {}).get(algo))
      runners[algo] = r
      locks.append(r.lock)
    prog = progress.Progress([r.plan() for r in runners.values()],
                             os.path.join(workdir, progress.FILE), progress_fn, verbose)
    summaries, runs = {}, {}
    for algo in list(runners):
      r = runners.pop(algo)  # dropped once done: its compiled pieces are not needed again
      summaries[algo] = r.run(prog)
      runs[algo] = results.read_jsonl(os.path.join(r.workdir, "metrics.jsonl"))
    outputs = [prog.path]
    if others:
      results.atomic_write_json(os.path.join(workdir, "comparison.json"), summaries)
      write_comparison(workdir, runs)
      outputs = [os.path.join(workdir, f"comparison.{ext}") for ext in ("md", "png", "json")
                 ] + outputs
    prog.finish(summaries, outputs)
    return summaries
  finally:
    for lock in reversed(locks):
      lock.release()


def write_comparison(workdir: str, runs: dict, title: str | None = None) -> None:
  """<workdir>/comparison.png and comparison.md of `runs` ({algo: metrics rows}, the main
  algorithm first): what a run with config.compare writes at its end, and
  `experiments/postprocess.py compare` rewrites from the runs' files. The default title: env,
  algorithms and seed count."""
  first = next(iter(runs.values()))
  seeds = len({r["seed"] for r in first})
  title = title or f"{first[0]['env']}: {', '.join(runs)} ({seeds} seeds)"
  plotting.learning_curves(runs, os.path.join(workdir, "comparison.png"), title=title)
  results.atomic_write_bytes(os.path.join(workdir, "comparison.md"),
                             results.comparison_table(runs).encode())
