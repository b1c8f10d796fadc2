"""Metric writers: metrics.jsonl, TensorBoard event files that read back to the
metrics' numbers and continue without duplicates after a resume, W&B resuming its run, and
one-line errors for a bad config.writers."""
import json
import os
import subprocess
import sys
import time
import types

import numpy as np
import pytest

import helpers
from wombet_jax.harness import results, stats, tracker_files, writers
from wombet_jax.harness.config import validate
from wombet_jax.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rows(steps=(0, 100, 200), seeds=(0, 1, 2, 3), phase="eval"):
  """Rows as the runner appends them: per step, one per seed, returns that differ by seed."""
  out = []
  for i, st in enumerate(steps):
    for s in seeds:
      out.append({"algo": "wombet", "env": "pointmass", "seed": s, "phase": phase,
                  "iteration": 0, "source_env_steps": 50, "target_env_steps": st,
                  "return": float(s * s + i), "normalized_return": float(10 * s + i),
                  "beta": 0.5, "td_error": 0.1 * s, "accept_rate": None, "n_offline": None,
                  "penalty": None if st == 0 else 0.2, "train_return": -1.0})
  return out


def _steps(events, tag):
  return [s for s, _ in events.get(tag, [])]


# --- what is logged ---------------------------------------------------------------------------
def test_groups_are_one_point_of_all_seeds_and_sources_use_source_steps():
  src = _rows(steps=(0, 0), phase="source")
  for i, r in enumerate(src):
    r["source_env_steps"] = 50 * (i // 4 + 1)
  groups = writers.row_groups(src + _rows())
  assert [len(g) for g in groups] == [4] * 5
  assert [writers.group_step(g) for g in groups] == [50, 100, 0, 100, 200]


def test_points_are_mean_iqm_and_bootstrap_ci_over_seeds_skipping_nulls():
  group = writers.row_groups(_rows())[0]
  scalars, hists = writers.group_points(group)
  ret = np.array([0.0, 1.0, 4.0, 9.0])
  assert scalars["eval/return/mean"] == np.mean(ret)
  iqm, lo, hi = stats.iqm_ci(ret, reps=writers.BOOTSTRAP_REPS, seed=writers.BOOTSTRAP_SEED)
  assert (scalars["eval/return/iqm"], scalars["eval/return/iqm_ci95_low"],
          scalars["eval/return/iqm_ci95_high"]) == (iqm, lo, hi)
  assert iqm == 2.5 and lo <= iqm <= hi  # the middle two of four
  assert scalars["eval/td_error/mean"] == pytest.approx(0.15)
  assert "eval/beta/iqm" not in scalars  # other fields: the mean only
  # Null fields (no D_off, no penalty before the first update) are not logged at all.
  assert not any(t.startswith(("eval/accept_rate", "eval/penalty")) for t in scalars)
  assert sorted(hists) == ["eval/normalized_return", "eval/return"]
  np.testing.assert_array_equal(hists["eval/return"], ret)
  again, _ = writers.group_points(group)  # a fixed bootstrap seed: the same CI every time
  assert again == scalars


def test_jsonl_writer_is_the_contract_byte_for_byte(tmp_path):
  rows = _rows()
  writers.JsonlWriter(str(tmp_path / "a.jsonl")).write(rows)
  results.write_jsonl(str(tmp_path / "b.jsonl"), rows)
  assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


# --- TensorBoard ------------------------------------------------------------------------------
def test_tensorboard_reads_back_and_a_resume_appends_only_new_steps(tmp_path):
  logdir = str(tmp_path / "tb")
  rows = _rows(steps=(0, 100, 200, 300))
  first = writers.TensorBoardWriter(logdir, {"seed": 0})
  first.write(rows[:12])  # three evaluations, then the run is "killed": never closed
  # A resume from an older checkpoint replays rows the first writer already logged.
  second = writers.TensorBoardWriter(logdir, {"seed": 0})
  second.write(rows[:8])
  assert second._writer is None  # nothing new: no empty event file either
  second.write(rows)
  second.close()
  first.close()
  ev = tracker_files.read_tensorboard(logdir)
  assert len(tracker_files.event_files(logdir)) == 2
  for tag in ("eval/return/mean", "eval/return/iqm", "eval/return/iqm_ci95_low", "eval/return",
              "eval/beta/mean"):
    assert _steps(ev, tag) == [0, 100, 200, 300], tag
  assert _steps(ev, "eval/penalty/mean") == [100, 200, 300]
  means = [np.float32(np.mean([r["return"] for r in rows if r["target_env_steps"] == st]))
           for st in (0, 100, 200, 300)]
  assert [v for _, v in ev["eval/return/mean"]] == means
  assert [v["num"] for _, v in ev["eval/return"]] == [4] * 4
  [(step, text)] = ev["config/text_summary"]  # the config once, not again on resume
  assert step == 0 and '"seed": 0' in text
  [start] = _hparams(logdir, "session_start_info")  # HParams once too
  assert dict(start.hparams)["seed"].number_value == 0


def _hparams(logdir, field):
  """The HParams plugin records of kind `field` (experiment, session_start_info) that the
  event files in `logdir` hold, decoded as TensorBoard's hparams plugin decodes them."""
  from tensorboardX.proto import event_pb2, plugin_hparams_pb2
  out = []
  for path in tracker_files.event_files(logdir):
    for record in tracker_files.read_records(path):
      for v in event_pb2.Event.FromString(record).summary.value:
        if v.metadata.plugin_data.plugin_name == "hparams":
          data = plugin_hparams_pb2.HParamsPluginData.FromString(
              v.metadata.plugin_data.content)
          if data.WhichOneof("data") == field:
            out.append(getattr(data, field))
  return out


def test_hparams_flatten_the_config_and_name_the_iqm_metrics(tmp_path):
  config = {"env": "halfcheetah", "num_seeds": 5, "agent": {"utd": 20, "layer_norm": True,
            "hidden": [256, 256]}, "offline": {"dataset": None}, "empty": {}}
  assert writers.hparams(config) == {
      "env": "halfcheetah", "num_seeds": 5.0, "agent.utd": 20.0, "agent.layer_norm": True,
      "agent.hidden": "[256, 256]", "empty": "{}"}
  logdir = str(tmp_path / "tb")
  w = writers.TensorBoardWriter(logdir, config)
  w.write(_rows())
  w.close()
  [exp] = _hparams(logdir, "experiment")
  assert [m.name.tag for m in exp.metric_infos] == ["eval/return/iqm",
                                                    "eval/normalized_return/iqm"]
  assert sorted(h.name for h in exp.hparam_infos) == sorted(writers.hparams(config))
  [start] = _hparams(logdir, "session_start_info")
  assert start.hparams["agent.utd"].number_value == 20.0
  assert start.hparams["env"].string_value == "halfcheetah"
  assert start.hparams["agent.layer_norm"].bool_value is True


def test_a_torn_last_record_is_ignored_when_resuming(tmp_path):
  logdir = str(tmp_path / "tb")
  rows = _rows()
  w = writers.TensorBoardWriter(logdir, {})
  w.write(rows[:8])
  w.close()
  [path] = tracker_files.event_files(logdir)
  data = open(path, "rb").read()
  open(path, "ab").write(data[-30:-5])  # half a record, as a kill in mid-write leaves
  again = writers.TensorBoardWriter(logdir, {})
  again.write(rows)
  again.close()
  assert _steps(tracker_files.read_tensorboard(logdir), "eval/return/mean") == [0, 100, 200]


def test_smoke_run_events_equal_the_means_of_metrics_jsonl(full_run, config):
  """conftest's smoke run (smoke.py selects tensorboard): every evaluation and source
  episode in <workdir>/tensorboard/, at its step, with the mean over seeds of the metrics."""
  wd, _ = full_run
  assert "tensorboard" in writers.names(config.writers)
  rows = results.read_jsonl(os.path.join(wd, "metrics.jsonl"))
  ev = tracker_files.read_tensorboard(os.path.join(wd, writers.TENSORBOARD_DIR))
  for phase, step_key in (("eval", "target_env_steps"), ("source", "source_env_steps")):
    by = {}
    for r in rows:
      if r["phase"] == phase:
        by.setdefault(r[step_key], []).append(r["return"])
    assert sorted(by) and all(len(v) == config.num_seeds for v in by.values())
    assert ev[f"{phase}/return/mean"] == [(st, np.float32(np.mean(by[st]))) for st in sorted(by)]
    assert [(s, h["num"]) for s, h in ev[f"{phase}/return"]] == [
        (st, config.num_seeds) for st in sorted(by)]
  assert "eval/normalized_return/iqm" not in ev  # pointmass has no reference score
  [(_, text)] = ev["config/text_summary"]
  assert '"env": "pointmass"' in text


# --- W&B (a stand-in module here; the real package, an optional extra, below) ----------------
def _fake_wandb(calls):
  class Run:
    def define_metric(self, name, step_metric=None):
      calls.append(("define", name, step_metric))

    def log(self, data, step=None):
      calls.append(("log", data, step))

    def finish(self):
      calls.append(("finish",))

  def init(**kw):
    calls.append(("init", kw))
    return Run()

  return types.SimpleNamespace(init=init, Histogram=lambda v: ("histogram", list(v)),
                               Settings=lambda **kw: ("settings", kw))


def test_wandb_counts_as_logged_only_what_its_files_hold(tmp_path, monkeypatch):
  """The stand-in writes no files: a second writer reopens the same run id and logs every
  point again, from W&B step 0 (the real package's files are read in the test below)."""
  calls = []
  monkeypatch.setitem(sys.modules, "wandb", _fake_wandb(calls))
  wd, rows = str(tmp_path), _rows()
  w = writers.WandbWriter(wd, {"seed": 0}, "wombet-pointmass")
  w.write(rows[:8])
  w.close()
  again = writers.WandbWriter(wd, {"seed": 0}, "wombet-pointmass")
  again.write(rows)
  again.close()
  inits = [c[1] for c in calls if c[0] == "init"]
  assert len(inits) == 2 and inits[0]["id"] == inits[1]["id"] == w.run_id
  assert all(kw["resume"] == "allow" and kw["mode"] == "offline" and kw["dir"] == wd
             for kw in inits)
  logged = [(c[1], c[2]) for c in calls if c[0] == "log"]
  assert [(d["eval/step"], step) for d, step in logged] == [(0, 0), (100, 1), (0, 0), (100, 1),
                                                            (200, 2)]
  assert logged[1][0]["eval/return/mean"] == np.mean([r["return"] for r in rows[4:8]])
  assert logged[4][0]["eval/return"] == ("histogram", [2.0, 3.0, 6.0, 11.0])
  assert ("define", "eval/*", "eval/step") in calls


_WANDB_CHILD = """
import json, sys, time
from wombet_jax.harness import writers
wd, rows_file, stop = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(rows_file) as f:
  rows = json.load(f)
w = writers.WandbWriter(wd, {"seed": 0}, "wombet-pointmass")
groups = writers.row_groups(rows)
for k in range(1, len(groups) + 1):
  w.write([r for g in groups[:k] for r in g])
  print("wrote", k, flush=True)
  if k == stop:
    time.sleep(600)  # killed here
w.close()
print("closed", flush=True)
"""


def _wandb_process(wd, rows_file, stop):
  """Runs _WANDB_CHILD; with `stop`, SIGKILLs its process group (wandb's service included)
  once it reported `stop` groups written. Returns what it printed."""
  import signal
  env = {k: v for k, v in os.environ.items() if k not in ("WANDB_SILENT", "WANDB_QUIET")}
  p = subprocess.Popen([sys.executable, "-c", _WANDB_CHILD, wd, rows_file, str(stop)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       start_new_session=True, env=dict(env, WANDB_MODE="offline"))
  out, line = [], ""
  for line in p.stdout:
    out.append(line)
    if line.strip() in (f"wrote {stop}", "closed"):
      break
  if line.strip() == f"wrote {stop}":
    os.killpg(p.pid, signal.SIGKILL)
  p.wait(timeout=120)
  time.sleep(1)
  assert line.strip() in (f"wrote {stop}", "closed"), "".join(out)[-3000:]
  return "".join(out)


def test_real_wandb_killed_twice_and_resumed_holds_every_step_once(tmp_path):
  """The real wandb package, offline: a run killed (with wandb's service) after its 3rd and,
  resumed, after its 5th evaluation, then resumed to the end, leaves one run id whose
  history, read from its .wandb files, holds each of the 7 evaluations exactly once, in order,
  at W&B steps that continue across the processes, with the numbers of the rows."""
  pytest.importorskip("wandb", reason="the wandb extra is not installed "
                      '(pip install "wombet_jax[wandb]")')
  wd = str(tmp_path / "run")
  os.makedirs(wd)
  steps = tuple(range(0, 700, 100))
  rows = _rows(steps=steps)
  rows_file = str(tmp_path / "rows.json")
  results.atomic_write_json(rows_file, rows)
  _wandb_process(wd, rows_file, 3)
  _wandb_process(wd, rows_file, 5)
  finished = _wandb_process(wd, rows_file, 0)
  # wandb's end-of-run history and summary are off by default (the child's environment sets
  # neither WANDB_QUIET nor WANDB_SILENT); where the run is saved is still said.
  assert "Run summary" not in finished and "Run history" not in finished, finished
  assert "Run data is saved locally" in finished, finished
  with open(os.path.join(wd, writers.WANDB_STATE)) as f:
    run_id = json.load(f)["id"]
  files = tracker_files.wandb_run_files(os.path.join(wd, "wandb"), run_id)
  assert len(files) == 3  # one per process, all of the same run id
  held = [r for r in tracker_files.read_wandb(os.path.join(wd, "wandb"), run_id) if "eval/step" in r]
  assert [r["eval/step"] for r in held] == list(steps)
  w_steps = [r["_step"] for r in held]
  assert w_steps == sorted(set(w_steps))  # W&B steps continue: none repeats or goes back
  for i, r in enumerate(held):
    want = [x["return"] for x in rows[4 * i:4 * i + 4]]
    assert r["eval/return/mean"] == pytest.approx(np.mean(want))


# --- config.writers ---------------------------------------------------------------------------
def test_writer_names_keep_jsonl_first_and_once():
  assert writers.names("tensorboard") == ("jsonl", "tensorboard")
  assert writers.names(" jsonl, tensorboard,,jsonl ") == ("jsonl", "tensorboard")
  assert writers.names(("wandb",)) == ("jsonl", "wandb")


def test_an_unknown_writer_is_one_line_naming_the_value_and_the_allowed_ones():
  c = helpers.make_config(writers="jsonl,tensorbord")
  with pytest.raises(UserError) as e:
    validate(c)
  assert str(e.value) == ("config.writers='jsonl,tensorbord' is invalid: 'tensorbord' is not "
                          "a writer; allowed: ['jsonl', 'tensorboard', 'wandb']")


def test_wandb_without_its_package_is_one_line_before_any_work(tmp_path, monkeypatch):
  from wombet_jax import loop
  from wombet_jax.harness import experiment
  monkeypatch.setitem(sys.modules, "wandb", None)  # find_spec says: not installed

  def build(*args, **kwargs):
    raise AssertionError("the pipeline was built before config.writers was checked")

  monkeypatch.setattr(loop, "make_pipeline", build)
  c = helpers.make_config(writers="jsonl,wandb")
  wd = str(tmp_path / "wd")
  with pytest.raises(UserError) as e:
    experiment.run(c, wd, verbose=False)
  msg = str(e.value)
  assert "\n" not in msg and msg.startswith("config.writers='jsonl,wandb' is invalid: "), msg
  assert msg.endswith('pip install "wombet_jax[wandb]"'), msg
  assert not os.path.exists(wd)


def test_importing_the_package_needs_no_tracker():
  code = ("import sys; sys.modules['wandb'] = sys.modules['tensorboardX'] = None; "
          "import wombet_jax.harness.runner, wombet_jax.harness.writers, "
          "wombet_jax.harness.experiment")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]


def test_writers_do_not_change_a_figure_runs_directory():
  from wombet_jax.harness import figures
  c = helpers.make_config()
  before = figures.config_hash(c)
  c.writers = "jsonl"
  assert figures.config_hash(c) == before
