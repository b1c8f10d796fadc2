"""A run's progress as structured events: appended to <workdir>/progress.jsonl, handed to an
optional callback (`progress_fn(event)`, as brax's training loops take one) and printed as one
line each (`format_event`, the only formatter).

An experiment (`experiment.run`: the main algorithm, then each compared one) makes one
`Progress` that knows every run's task list (`schedule.py`), so the remaining work and the ETA
of every event span every phase of every run, not only the current one's training steps.

Every event is a JSON object with

  type             "run" (a run starts), "phase" (a phase starts), "task" (a task ended) or
                   "summary" (the last event: everything ended)
  time             ISO-8601 UTC, e.g. "2026-12-03T08:05:31.042Z"
  elapsed_seconds  wall seconds since the report began (once every run was built and checked)
  algo, env        the run it is about (the main run's for "summary"); run (1-based, null for
                   "summary") of runs
  tasks_done, tasks_total, tasks_remaining   over all runs (tasks restored from a checkpoint
                   count as done)
  remaining        {algo: {task kind: count}} of the tasks not done yet
  eta_seconds      the expected seconds of the remaining tasks (`estimate`); eta_partial: some
                   remaining kind has not been measured yet, so eta_seconds counts only the
                   measured ones (printed as "ETA >...")

and, by type:

  run       workdir, tasks (the run's task count), start (the first task this process runs:
            > 0 after a resume)
  phase     phase (schedule.phase), phase_tasks ({kind: count} of the phase's tasks from here)
  task      phase, task (its kind), index (in its run), seconds, compile_seconds (the part of
            them jax spent tracing and compiling: the first call of each jitted piece), steps
            (env steps it took: source steps of a source episode, target steps of a chunk, or
            null), rate (steps per second excluding compilation, or null), metrics (what its
            line shows: returns, losses, accept rate, ...)
  summary   wall_seconds, compile_seconds, results ({algo: workdir, complete, return_mean,
            return_std, normalized_return_mean, target_env_steps}), outputs (paths)

Nothing here imports jax but `CompileTimer`, which reads jax.monitoring's compile events.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

from wombet_jax.harness import results, schedule

FILE = "progress.jsonl"
# A task's line names its compilation from this many seconds on (tiny host-side jits are noise).
SHOW_COMPILE_SECONDS = 0.1
_NOUNS = {"source": "source episode", "fit": "model fit", "regenerate": "regeneration",
          "pretrain": "pretraining piece", "eval": "evaluation", "chunk": "chunk"}


@dataclasses.dataclass(frozen=True)
class Plan:
  """One run an experiment performs: its algorithm, env, workdir and task list."""
  algo: str
  env: str
  workdir: str
  tasks: Sequence[schedule.Task]


def counts(tasks: Iterable[schedule.Task]) -> dict[str, int]:
  """{kind: number of tasks of that kind}, in order of first appearance."""
  out: dict[str, int] = {}
  for t in tasks:
    out[t.kind] = out.get(t.kind, 0) + 1
  return out


def _mean(values: Sequence[float]) -> float | None:
  return sum(values) / len(values) if values else None


def estimate(remaining: Mapping[str, Mapping[str, int]],
             steady: Mapping[tuple[str, str], Sequence[float]],
             compiled: Mapping[tuple[str, str], float],
             ran: Iterable[tuple[str, str]]) -> tuple[float, bool]:
  """(seconds, partial): what the `remaining` tasks ({algo: {kind: count}}) should take.

  A task costs the mean of `steady` (seconds excluding compilation, by (algo, kind)) of its
  algorithm's tasks of its kind, or where that algorithm has run none yet, of the other
  algorithms'. A kind that an algorithm has not run in this process (not in `ran`) compiles
  first: it adds the mean over the other algorithms of `compiled` (the seconds their tasks of
  that kind spent compiling). `partial` is True when some remaining kind has no measurement of
  either; those tasks add nothing."""
  ran = set(ran)
  seconds, partial = 0.0, False
  for algo, kinds in remaining.items():
    for kind, n in kinds.items():
      if not n:
        continue
      cost = _mean(steady.get((algo, kind), ()))
      if cost is None:
        cost = _mean([s for (a, k), v in steady.items() if k == kind and a != algo for s in v])
      compile_cost = 0.0 if (algo, kind) in ran else _mean(
          [c for (a, k), c in compiled.items() if k == kind and a != algo])
      if cost is None or compile_cost is None:
        partial = True
        continue
      seconds += n * cost + compile_cost
  return seconds, partial


def iso_time(t: float) -> str:
  """Seconds since the epoch as ISO-8601 UTC with milliseconds and a Z."""
  stamp = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
  return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fmt_duration(seconds: float | None) -> str:
  if seconds is None or not math.isfinite(seconds):
    return "?"
  m, s = divmod(int(seconds), 60)
  h, m = divmod(m, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Progress:
  """The progress of the runs of `plans`, in order. The runner calls `start_run` when a run
  starts (after its restore), `begin` before each task (announcing a phase when it starts),
  `task_done` after it, and `log` for its other lines; the experiment calls `finish` last.

  path: progress.jsonl (None: no file); progress_fn: called with every event; verbose: print
  the lines; clock: seconds since the epoch (time.time; tests pass a fake one)."""

  def __init__(self, plans: Sequence[Plan], path: str | None = None,
               progress_fn: Callable[[dict], Any] | None = None, verbose: bool = True,
               clock: Callable[[], float] = time.time):
    self.plans, self.path, self.progress_fn = list(plans), path, progress_fn
    self.verbose, self.clock = verbose, clock
    self.t0 = clock()
    self.done = [0] * len(self.plans)  # tasks of each run done, restored ones included
    self.steady: dict[tuple[str, str], list[float]] = {}  # seconds excluding compilation
    self.compiled: dict[tuple[str, str], float] = {}  # seconds spent compiling
    self.ran: set[tuple[str, str]] = set()  # (algo, kind) this process has run
    self.compile_seconds = 0.0
    self._phase: tuple[int, str] | None = None  # the phase announced last

  def _index(self, algo: str) -> int:
    return next(i for i, p in enumerate(self.plans) if p.algo == algo)

  def remaining(self) -> dict[str, dict[str, int]]:
    return {p.algo: counts(p.tasks[d:]) for p, d in zip(self.plans, self.done)}

  # --- what the runner reports ---------------------------------------------------------------
  def start_run(self, algo: str, start: int = 0) -> dict:
    """Run `algo` starts at task `start` (its earlier tasks restored from a checkpoint)."""
    r = self._index(algo)
    self.done[r], self._phase = start, None
    plan = self.plans[r]
    return self._emit("run", r, workdir=plan.workdir, tasks=len(plan.tasks), start=start)

  def begin(self, algo: str, index: int) -> dict | None:
    """Task `index` of run `algo` starts: the "phase" event when its phase starts here."""
    r = self._index(algo)
    tasks = self.plans[r].tasks
    phase = schedule.phase(tasks[index])
    if self._phase == (r, phase):
      return None
    self._phase = (r, phase)
    rest = [t for t in tasks[index:] if schedule.phase(t) == phase]
    return self._emit("phase", r, phase=phase, phase_tasks=counts(rest))

  def task_done(self, algo: str, index: int, seconds: float, compile_seconds: float = 0.0,
                steps: int | None = None, metrics: Mapping[str, Any] | None = None) -> dict:
    """Task `index` of run `algo` ended after `seconds`, `compile_seconds` of them compiling;
    it took `steps` env steps (or None) and its line shows `metrics`."""
    r = self._index(algo)
    task = self.plans[r].tasks[index]
    key = (algo, task.kind)
    steady = max(seconds - compile_seconds, 0.0)
    self.steady.setdefault(key, []).append(steady)
    self.compiled[key] = self.compiled.get(key, 0.0) + compile_seconds
    self.ran.add(key)
    self.compile_seconds += compile_seconds
    self.done[r] = index + 1
    return self._emit("task", r, phase=schedule.phase(task), task=task.kind, index=index,
                      seconds=seconds, compile_seconds=compile_seconds, steps=steps,
                      rate=steps / steady if steps and steady > 0 else None,
                      metrics=dict(metrics or {}))

  def finish(self, summaries: Mapping[str, Mapping[str, Any]], outputs: Sequence[str]) -> dict:
    """Everything ended: `summaries` ({algo: the run's summary.json}) and the output paths."""
    res = {}
    for p in self.plans:
      s = summaries.get(p.algo)
      if s is not None:
        res[p.algo] = {"workdir": p.workdir, "complete": s.get("complete"),
                       "return_mean": s["return"]["mean"], "return_std": s["return"]["std"],
                       "normalized_return_mean": s["normalized_return"]["mean"],
                       "target_env_steps": s.get("target_env_steps")}
    return self._emit("summary", None, wall_seconds=self.clock() - self.t0,
                      compile_seconds=self.compile_seconds, results=res, outputs=list(outputs))

  def log(self, algo: str, text: str) -> None:
    """A line that is no event (checkpoints, resumes, files written), with its time."""
    if self.verbose:
      env = self.plans[self._index(algo)].env
      print(f"{iso_time(self.clock())[11:19]} [{algo} {env}] {text}", flush=True)

  # --- events ----------------------------------------------------------------------------------
  def _emit(self, kind: str, r: int | None, **fields) -> dict:
    plan = self.plans[0 if r is None else r]
    remaining = self.remaining()
    total = sum(len(p.tasks) for p in self.plans)
    done = sum(self.done)
    eta, partial = estimate(remaining, self.steady, self.compiled, self.ran)
    now = self.clock()
    event = results.jsonable({
        "type": kind, "time": iso_time(now), "elapsed_seconds": now - self.t0,
        "algo": plan.algo, "env": plan.env, "run": None if r is None else r + 1,
        "runs": len(self.plans), "tasks_done": done, "tasks_total": total,
        "tasks_remaining": total - done, "remaining": remaining, "eta_seconds": eta,
        "eta_partial": partial, **fields})
    if self.path is not None:
      with open(self.path, "a") as f:
        f.write(json.dumps(event, allow_nan=False) + "\n")
        f.flush()
    if self.progress_fn is not None:
      self.progress_fn(event)
    if self.verbose:
      print(format_event(event), flush=True)
    return event


# --- the printed line ----------------------------------------------------------------------------
def _f(x: float | None, spec: str) -> str:
  return "nan" if x is None else format(x, spec)


def _task_text(e: Mapping[str, Any]) -> str:
  m, kind = e["metrics"], e["task"]
  if kind == "source":
    return (f"source episode {m['episode']} ({'MPC' if m['planner'] else 'random'}): source "
            f"return {_f(m['return_mean'], '.2f')} ± {_f(m['return_std'], '.2f')}")
  if kind == "fit":
    return f"iteration {m['iteration']}: model fit, holdout loss {_f(m['holdout_loss'], '.4f')}"
  if kind == "regenerate" and "dataset" in m:
    return (f"iteration {m['iteration']}: D_off from {m['dataset']} ({m['rows_used']} "
            f"transitions, {m['trajectories']} trajectories, source return "
            f"{m['source_return_mean']:.2f} [{m['source_return_min']:.2f}, "
            f"{m['source_return_max']:.2f}]), |D_off| = {m['n_offline']}")
  if kind == "regenerate":
    return (f"iteration {m['iteration']}: generated {m['trajectories']} trajectories, accept "
            f"rate {_f(m['accept_rate'], '.2f')}, |D_off| = {m['n_offline']}")
  if kind == "pretrain":
    return (f"offline pretraining: {m['updates']}/{m['updates_total']} updates "
            f"({e['seconds']:.1f} s)")
  ret = f"return {_f(m['return_mean'], '.2f')} ± {_f(m['return_std'], '.2f')}"
  if kind == "eval":
    return f"initial evaluation: {ret}"
  norm = m.get("normalized_return_mean")
  parts = [f"iter {m['iteration'] + 1}/{m['iterations']}",
           f"target steps {m['target_steps']}/{m['target_steps_total']}",
           ret + (f" (normalised {norm:.1f})" if norm is not None else "")]
  if m.get("beta") is not None:
    parts.append(f"beta {m['beta']:.2f}")
  parts += [f"{name} {_f(v, '.3f')}" for name, v in m.get("agent", {}).items()]
  parts.append(f"{e['rate']:.0f} steps/s" if e["rate"] is not None else "? steps/s")
  return " | ".join(parts)


def _summary_text(e: Mapping[str, Any]) -> str:
  lines = [f"done in {fmt_duration(e['wall_seconds'])} ({fmt_duration(e['compile_seconds'])} "
           "of it compiling)"]
  for algo, s in e["results"].items():
    norm = s["normalized_return_mean"]
    lines.append(f"  {algo}: final return {_f(s['return_mean'], '.2f')} ± "
                 f"{_f(s['return_std'], '.2f')}"
                 + (f" (normalised {norm:.1f})" if norm is not None else "")
                 + f" at {s['target_env_steps']} target steps; outputs in {s['workdir']}")
  if e["outputs"]:
    lines.append("  also: " + ", ".join(e["outputs"]))
  return "\n".join(lines)


def format_event(e: Mapping[str, Any]) -> str:
  """The printed form of an event: its time (UTC), the run, what happened, and for all but
  the summary the ETA of everything left (all phases of all runs)."""
  head = f"{e['time'][11:19]} [{e['algo']} {e['env']}] "
  if e["type"] == "summary":
    return head + _summary_text(e)
  if e["type"] == "run":
    text = (f"run {e['run']}/{e['runs']}: {e['algo']} on {e['env']} into {e['workdir']}, "
            f"{e['tasks']} tasks" + (f", resumed at task {e['start']}" if e["start"] else ""))
  elif e["type"] == "phase":
    text = f"{e['phase']} starts: " + ", ".join(
        f"{n} {_NOUNS.get(k, k)}{'s' if n != 1 else ''}" for k, n in e["phase_tasks"].items())
  else:
    text = _task_text(e)
    if e["compile_seconds"] >= SHOW_COMPILE_SECONDS:
      text += f" | compiling {e['compile_seconds']:.1f} s"
  left = e["tasks_remaining"]
  return head + text + f" | ETA {fmt_eta(e['eta_seconds'], e['eta_partial'])} ({left} task" + (
      "s" if left != 1 else "") + " left)"


def fmt_eta(seconds: float, partial: bool) -> str:
  """"1m05s"; ">1m05s" where it counts only the measured kinds; "?" where none is measured."""
  if partial:
    return ">" + fmt_duration(seconds) if seconds >= 1 else "?"
  return fmt_duration(seconds)


# --- reading it back -----------------------------------------------------------------------------
def read_events(path: str) -> list[dict]:
  """The events of a progress.jsonl (a resumed run's file holds every attempt's)."""
  return results.read_jsonl(path)


def eval_means(events: Iterable[Mapping[str, Any]], algo: str | None = None,
               key: str = "normalized_return_mean") -> dict[int, float]:
  """{target steps: mean over seeds of `key`} at each evaluation of run `algo` (default: the
  first run's), from its "task" events; a later event of the same step (a resumed run's)
  wins."""
  out: dict[int, float] = {}
  for e in events:
    if e["type"] != "task" or e["task"] not in ("eval", "chunk"):
      continue
    algo = algo or e["algo"]
    if e["algo"] == algo and e["metrics"].get(key) is not None:
      out[int(e["metrics"]["target_steps"])] = float(e["metrics"][key])
  return out


# --- compilation time ----------------------------------------------------------------------------
_SPANS: list[tuple[float, float]] = []
_ACTIVE = [0, False]  # timers open, listener registered
COMPILE_EVENT_PREFIX = "/jax/core/compile/"


def _on_span(event: str, start: float, end: float, **kwargs) -> None:
  if _ACTIVE[0] and event.startswith(COMPILE_EVENT_PREFIX):
    _SPANS.append((start, end))


def covered_seconds(spans: Iterable[tuple[float, float]], lo: float, hi: float) -> float:
  """The length of the union of `spans` within [lo, hi] (nested traces count once)."""
  total, reach = 0.0, lo
  for s, e in sorted((max(s, lo), min(e, hi)) for s, e in spans):
    if e > reach:
      total += e - max(s, reach)
      reach = e
  return total


class CompileTimer:
  """`with CompileTimer() as t: ...`; then t.seconds: the wall seconds within the block that jax
  spent tracing, lowering and compiling (jax.monitoring's compile events, time.time clock)."""

  def __enter__(self) -> "CompileTimer":
    if not _ACTIVE[1]:
      import jax
      jax.monitoring.register_event_time_span_listener(_on_span)
      _ACTIVE[1] = True
    _ACTIVE[0] += 1
    self.start, self.seconds = time.time(), 0.0
    return self

  def __exit__(self, *exc) -> None:
    end = time.time()
    self.seconds = covered_seconds(list(_SPANS), self.start, end)
    _ACTIVE[0] -= 1
    if not _ACTIVE[0]:
      _SPANS.clear()
