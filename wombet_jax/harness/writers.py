"""Where a run's metrics go: `metrics.jsonl` always, and optionally a tracker.

`config.writers` is a comma-separated list of WRITERS; `jsonl` is always on (it is the
run-output contract of docs/method.md, which every other tool reads). The trackers:

  * `tensorboard`: event files in `<workdir>/tensorboard/` (tensorboardX; no tensorflow needed);
  * `wandb`: a Weights & Biases run in `<workdir>/wandb/`, offline unless WANDB_MODE says
    otherwise (the optional extra `pip install "wombet_jax[wandb]"`).

A tracker gets one run per wombet run, not per seed: for every group of rows (one evaluation,
or one source episode, of all seeds) it logs the mean, IQM and 95% bootstrap CI over seeds of
the returns (means only of the other per-seed fields) and a histogram of the returns over
seeds, at the group's step (target env steps; source env steps for source episodes), and the
config once as text. Each writer is handed all rows so far (`write(rows)`) and logs only what
its run does not hold yet, so a resumed run, which replays rows from its checkpoint, continues
the same tracker run without logging a point twice.

Neither tracker is imported unless selected: importing wombet_jax needs neither package.
"""
from __future__ import annotations

import abc
import importlib.util
import json
import os
import secrets
import time
from typing import Any, Mapping, Sequence

import numpy as np

from wombet_jax.errors import UserError
from wombet_jax.harness import results, stats
from wombet_jax.harness.tracker_files import (event_files, read_tensorboard, read_wandb,
                                              wandb_last_steps)

WRITERS = ("jsonl", "tensorboard", "wandb")
# The package each tracker imports, and how to install it.
PACKAGES = {"tensorboard": ("tensorboardX", "pip install tensorboardX"),
            "wandb": ("wandb", 'pip install "wombet_jax[wandb]"')}

# Fields with the full summary over seeds (mean, IQM, CI, histogram); every other numeric
# field of a row but the identifiers (results.METRIC_KEYS): the mean.
SUMMARY_KEYS = ("return", "normalized_return")
# A fixed, small bootstrap: trackers are for watching a run; the tables use stats' default.
BOOTSTRAP_REPS = 200
BOOTSTRAP_SEED = 0

TENSORBOARD_DIR = "tensorboard"
WANDB_STATE = "wandb_run.json"
CONFIG_TAG = "config"


# --- which writers ---------------------------------------------------------------------------
def names(value: str | Sequence[str]) -> tuple[str, ...]:
  """The writers `value` ("jsonl,tensorboard" or a sequence) selects, jsonl first, each
  once; unknown names are kept (for `check` to name)."""
  parts = value.split(",") if isinstance(value, str) else list(value)
  out = ["jsonl"]
  for p in (str(p).strip() for p in parts):
    if p and p not in out:
      out.append(p)
  return tuple(out)


def check(value: Any) -> None:
  """Raises UserError naming config.writers unless every writer is known and importable."""
  def fail(why: str):
    raise UserError(f"config.writers={value!r} is invalid: {why}")

  if not isinstance(value, str):
    fail(f"must be a comma-separated string of writers from {list(WRITERS)}")
  for name in names(value):
    if name not in WRITERS:
      fail(f"{name!r} is not a writer; allowed: {list(WRITERS)}")
  for name in names(value):
    module, install = PACKAGES.get(name, (None, None))
    if module and importlib.util.find_spec(module) is None:
      fail(f"the {name} writer needs the {module} package, which is not installed: {install}")


# --- what a tracker logs (pure) --------------------------------------------------------------
def row_groups(rows: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
  """Consecutive rows cut where a seed repeats: the runner appends one row per seed for
  every evaluation or source episode, so each group is one such point of all seeds."""
  groups: list[list[Mapping[str, Any]]] = []
  seen: set = set()
  for r in rows:
    if not groups or r["seed"] in seen:
      groups.append([])
      seen = set()
    groups[-1].append(r)
    seen.add(r["seed"])
  return groups


def group_step(group: Sequence[Mapping[str, Any]]) -> int:
  """A source episode is placed by source env steps (target steps are still 0 then)."""
  key = "source_env_steps" if group[0]["phase"] == "source" else "target_env_steps"
  return max(int(r[key]) for r in group)


def _values(group: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
  """The finite values of `key` over the group's seeds (null fields are skipped)."""
  v = np.array([r[key] for r in group if r.get(key) is not None], np.float64)
  return v[np.isfinite(v)]


def group_points(group: Sequence[Mapping[str, Any]]) -> tuple[dict, dict]:
  """({tag: scalar}, {tag: values over seeds}) of one group; tags are <phase>/<field>/<stat>
  (mean, iqm, iqm_ci95_low, iqm_ci95_high: the CI is the IQM's), histograms <phase>/<field>."""
  phase = group[0]["phase"]
  scalars: dict[str, float] = {}
  hists: dict[str, np.ndarray] = {}
  means = sorted(k for k in group[0] if k not in results.METRIC_KEYS)
  for key in SUMMARY_KEYS + tuple(means):
    v = _values(group, key)
    if not len(v):
      continue
    scalars[f"{phase}/{key}/mean"] = float(np.mean(v))
    if key in SUMMARY_KEYS:
      point, lo, hi = stats.iqm_ci(v, reps=BOOTSTRAP_REPS, seed=BOOTSTRAP_SEED)
      scalars.update({f"{phase}/{key}/iqm": point, f"{phase}/{key}/iqm_ci95_low": lo,
                      f"{phase}/{key}/iqm_ci95_high": hi})
      hists[f"{phase}/{key}"] = v
  return scalars, hists


# The metrics TensorBoard's HParams dashboard lists next to each run's config.
HPARAM_METRICS = tuple(f"eval/{key}/iqm" for key in SUMMARY_KEYS)


def hparams(config: Mapping[str, Any]) -> dict[str, str | bool | float]:
  """The config flattened to '.'-joined names of the scalar values HParams can show (str,
  bool, number); a list or an empty section becomes its JSON text."""
  out: dict[str, str | bool | float] = {}

  def visit(prefix: str, node: Any) -> None:
    if isinstance(node, Mapping) and node:
      for k in sorted(node):
        visit(f"{prefix}.{k}" if prefix else str(k), node[k])
    elif isinstance(node, (str, bool)):
      out[prefix] = node
    elif isinstance(node, (int, float)):
      out[prefix] = float(node)
    elif node is not None:
      out[prefix] = json.dumps(node, sort_keys=True)

  visit("", results.jsonable(config))
  return out


def config_text(config: Mapping[str, Any]) -> str:
  """The config as a markdown code block (four-space indent), which TensorBoard's text
  plugin shows verbatim."""
  text = json.dumps(results.jsonable(config), indent=2, sort_keys=True)
  return "\n".join("    " + line for line in text.splitlines())


# --- the writers -----------------------------------------------------------------------------
class JsonlWriter:
  """metrics.jsonl: the whole file rewritten atomically (results.write_jsonl)."""

  def __init__(self, path: str):
    self.path = path

  def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
    results.write_jsonl(self.path, rows)

  def close(self) -> None:
    pass


class _Tracker(abc.ABC):
  """Logs each new group's points whose step is beyond the last one its run holds for that
  tag (`self.last`, filled by the subclass from what is already on disk)."""

  def __init__(self):
    self.last: dict[str, int] = {}
    self._handed = 0  # rows of earlier `write` calls: already looked at

  def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
    new, self._handed = rows[self._handed:], len(rows)
    logged = False
    for group in row_groups(new):
      step = group_step(group)
      scalars, hists = group_points(group)
      scalars = {t: v for t, v in scalars.items() if step > self.last.get(t, -1)}
      hists = {t: v for t, v in hists.items() if step > self.last.get(t, -1)}
      if scalars or hists:
        self._log(group[0]["phase"], step, scalars, hists)
        self.last.update({t: step for t in list(scalars) + list(hists)})
        logged = True
    if logged:
      self._flush()

  @abc.abstractmethod
  def _log(self, phase: str, step: int, scalars: dict, hists: dict) -> None:
    """Send one group's points (tag -> value, tag -> per-seed values) to the tracker."""

  def _flush(self) -> None:
    pass

  def close(self) -> None:
    pass


class TensorBoardWriter(_Tracker):
  """Event files in `logdir`. What the run already logged is read back from the event files
  there, so a resume appends a new event file holding only the points after them."""

  def __init__(self, logdir: str, config: Mapping[str, Any]):
    super().__init__()
    self.logdir = logdir
    held = read_tensorboard(logdir)
    self.last = {tag: max(s for s, _ in points) for tag, points in held.items() if points}
    # The config (as text and as HParams) is written once, with the run's first points.
    self._config = None if CONFIG_TAG + "/text_summary" in held else config
    self._writer = None

  def _sink(self):
    # Opened on the first point, so a resume with nothing new leaves no empty event file.
    # tensorboardX's synchronous EventsWriter, not its SummaryWriter: the latter queues events
    # for a thread whose flush() does not wait for the queue, so a killed run could lose
    # points it reported as written.
    if self._writer is None:
      from tensorboardX.event_file_writer import EventsWriter
      os.makedirs(self.logdir, exist_ok=True)
      # Files are named by the second and host: a suffix keeps a resume started within the
      # same second from overwriting the previous file.
      self._writer = EventsWriter(os.path.join(self.logdir, "events"),
                                  f".{len(event_files(self.logdir))}")
      if self._config is not None:
        from tensorboardX import summary
        self._event(0, summary.text(CONFIG_TAG, config_text(self._config)))
        # HParams: the experiment (which hparams and metrics exist), this run's values and
        # its end, as tensorboardX's add_hparams writes them, but into the run's own event
        # file, so the dashboard reads the metrics from this run instead of a copy.
        for part in summary.hparams(hparams(self._config), dict.fromkeys(HPARAM_METRICS)):
          self._event(0, part)
        self._config = None
    return self._writer

  def _event(self, step: int, summary) -> None:
    from tensorboardX.proto import event_pb2
    self._writer.write_event(event_pb2.Event(wall_time=time.time(), step=step,
                                             summary=summary))

  def _log(self, phase, step, scalars, hists):
    from tensorboardX import summary
    self._sink()
    for tag, v in scalars.items():
      self._event(step, summary.scalar(tag, v))
    for tag, v in hists.items():
      self._event(step, summary.histogram(tag, v, bins="auto"))

  def _flush(self):
    # Written through (fsync) at every write: a killed run keeps what it logged, and its
    # resume skips it.
    self._writer.flush()

  def close(self):
    if self._writer is not None:
      self._writer.close()
      self._writer = None


def wandb_settings():
  """wandb's own console output reduced to where the run is saved: without it, every run
  ends with its history and summary (about 15 lines), which metrics.jsonl and the runner's
  closing line already hold. WANDB_QUIET or WANDB_SILENT in the environment take over."""
  import wandb
  if "WANDB_QUIET" in os.environ or "WANDB_SILENT" in os.environ:
    return wandb.Settings()
  return wandb.Settings(quiet=True)


class WandbWriter(_Tracker):
  """A W&B run in `<workdir>/wandb/`. Its id lives in `<workdir>/wandb_run.json`; what the run
  already logged is read back from its `.wandb` files (`read_wandb`), as TensorBoardWriter
  reads its event files: wandb writes records to disk some seconds after `log` returns, so a
  point counts as logged only once a file holds it, and a run killed before that logs it again
  when resumed. A resume reopens the same id (resume="allow") and logs at W&B steps that
  continue after the last one on disk, so the run's history (one folder per process when
  offline, synced in order by `wandb sync`) holds every point once, in order."""

  def __init__(self, workdir: str, config: Mapping[str, Any], name: str):
    super().__init__()
    self.workdir, self.config, self.name = workdir, config, name
    self.state_path = os.path.join(workdir, WANDB_STATE)
    if os.path.exists(self.state_path):
      with open(self.state_path) as f:
        self.run_id = json.load(f)["id"]
    else:
      self.run_id = secrets.token_hex(4)
    held = read_wandb(os.path.join(workdir, "wandb"), self.run_id)
    self.last = wandb_last_steps(held)
    self._step = max((int(row["_step"]) for row in held if "_step" in row), default=-1) + 1
    self._run = None
    self._phases: set[str] = set()

  def _sink(self):
    if self._run is None:
      import wandb
      self._save()  # the id first: a run killed right after init resumes the same W&B run
      self._run = wandb.init(
          project=os.environ.get("WANDB_PROJECT", "wombet_jax"), name=self.name,
          id=self.run_id, resume="allow", dir=self.workdir, config=dict(self.config),
          # Offline by default: a run never needs the network; `wandb sync` uploads it.
          mode=os.environ.get("WANDB_MODE", "offline"), settings=wandb_settings())
    return self._run

  def _log(self, phase, step, scalars, hists):
    import wandb
    run = self._sink()
    if phase not in self._phases:  # each phase on its own x axis (source vs target steps)
      run.define_metric(f"{phase}/step")
      run.define_metric(f"{phase}/*", step_metric=f"{phase}/step")
      self._phases.add(phase)
    data = {f"{phase}/step": step, **scalars}
    data.update({t: wandb.Histogram(v) for t, v in hists.items()})
    run.log(data, step=self._step)
    self._step += 1

  def _save(self):
    if not os.path.exists(self.state_path):
      results.atomic_write_json(self.state_path, {"id": self.run_id})

  def close(self):
    if self._run is not None:
      self._run.finish()  # writes everything logged to the run's files
      self._run = None


class Trackers:
  """The selected trackers behind one `write`/`close`."""

  def __init__(self, trackers: Sequence[_Tracker]):
    self.trackers = list(trackers)

  def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
    for t in self.trackers:
      t.write(rows)

  def close(self) -> None:
    for t in self.trackers:
      t.close()


def open_trackers(value: str | Sequence[str], workdir: str, config: Mapping[str, Any],
                  name: str) -> Trackers:
  """The trackers `value` selects (jsonl is the runner's own), for the run in `workdir`."""
  out: list[_Tracker] = []
  for n in names(value):
    if n == "tensorboard":
      out.append(TensorBoardWriter(os.path.join(workdir, TENSORBOARD_DIR), config))
    elif n == "wandb":
      out.append(WandbWriter(workdir, config, name))
  return Trackers(out)
