"""A run's workdir under faults (wombet_jax/harness/workdir.py and the runner's use of it):
one run per workdir, SIGTERM and SIGINT, what a run stopped before its first checkpoint
leaves, a full disk, and workdirs that cannot be used.

Like tests/test_faults.py these copy the session's finished smoke run (conftest.full_run) and
reuse its compiled pipeline; resuming from checkpoint 11 reruns the last chunk, which must
write the bytes of the uninterrupted run.
"""
import errno
import os
import shutil
import signal
import subprocess
import sys
import types

import pytest

import helpers
from wombet_jax import errors
from wombet_jax.harness import checkpointing, results, runner, workdir


def _metrics(wd: str) -> bytes:
  with open(os.path.join(wd, "metrics.jsonl"), "rb") as f:
    return f.read()


def _copy_at_11(full_run, tmp_path) -> str:
  """A copy whose newest checkpoint is 11: a resume reruns the last chunk."""
  wd = helpers.copy_run(full_run, tmp_path)
  shutil.rmtree(os.path.join(wd, "checkpoints", "12"))
  return wd


# --- one run per workdir -------------------------------------------------------------------------
def test_a_second_process_is_refused_while_the_first_finishes_identically(full_run, config, pipe,
                                                                          tmp_path):
  wd = _copy_at_11(full_run, tmp_path)
  first = runner.Runner(config, wd, resume=True, verbose=False, pipeline=pipe)  # takes the lock
  try:
    before = helpers.file_tree(wd)
    for args in (["--resume"], []):  # a second resume, and a fresh run
      out = helpers.run_cli("--workdir=" + wd, *args)
      assert out.returncode == 2, out.stderr[-3000:]
      assert "Traceback" not in out.stderr
      [line] = helpers.error_lines(out.stderr)
      assert line == (f"error: --workdir={wd!r} is in use: process {os.getpid()} is running in "
                      "it; wait for it to end or choose another --workdir (nothing was written)")
    assert helpers.file_tree(wd) == before
    first.run()
  finally:
    first.close()
  assert _metrics(wd) == _metrics(full_run[0])
  # Released: the next run (here a refused fresh one) gets past the lock.
  with pytest.raises(errors.UserError, match="already holds a run"):
    runner.Runner(config, wd, verbose=False, pipeline=pipe)


def test_the_lock_names_its_holder_and_is_released_on_close(tmp_path):
  wd = str(tmp_path / "new")
  lock = workdir.acquire(wd)
  assert workdir.holder_pid(wd) == os.getpid()
  with pytest.raises(errors.UserError, match=f"process {os.getpid()} is running in it"):
    workdir.acquire(wd)
  lock.release()
  assert not os.path.exists(wd)  # created by the lock, left empty: removed
  workdir.acquire(str(tmp_path)).release()
  assert os.path.isdir(tmp_path)


# --- SIGTERM and SIGINT --------------------------------------------------------------------------
def test_sigterm_and_sigint_stop_in_one_line_and_the_run_resumes_identically(full_run, config,
                                                                              pipe, tmp_path):
  wd = str(tmp_path / "stopped")
  for sig, status, args in ((signal.SIGTERM, 143, []), (signal.SIGINT, 130, ["--resume"])):
    proc = subprocess.Popen(
        [sys.executable, os.path.join(helpers.ROOT, "experiments", "run.py"),
         "--config=" + helpers.SMOKE_PY, "--workdir=" + wd, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=helpers.ROOT)
    for line in proc.stdout:
      if "checkpoint saved" in line:
        proc.send_signal(sig)
        break
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == status, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    [line] = helpers.error_lines(err)
    assert line.startswith(f"error: interrupted by {sig.name} after "), line
    assert line.endswith(f"is kept and --resume --workdir={wd} continues from it"), line
  runner.run(config, wd, resume=True, verbose=False, pipeline=pipe)
  assert _metrics(wd) == _metrics(full_run[0])


def test_a_run_stopped_in_the_source_phase_resumes_from_its_source_checkpoint(
    full_run, config, pipe, tmp_path, monkeypatch):
  """With the save interval at 0 the state after every source-phase fit is saved; a SIGTERM
  during the second fit (task 3) keeps the checkpoint after the first (task 2), and the resume
  reruns the second episode and its fit into the uninterrupted run's bytes."""
  from wombet_jax.harness import handlers, schedule
  monkeypatch.setattr(schedule, "SAVE_SECONDS", 0.0)
  fit, calls = handlers.HANDLERS[schedule.FitModel], []

  def fit_then_signal(run, states, task):
    calls.append(task.iteration)
    done = fit(run, states, task)
    if len(calls) == 2:
      errors.signal_pending(errors.Interrupted("interrupted by SIGTERM", 143))
    return done

  monkeypatch.setitem(handlers.HANDLERS, schedule.FitModel, fit_then_signal)
  wd = str(tmp_path / "source")
  with pytest.raises(errors.Interrupted) as e:
    runner.run(config, wd, verbose=False, pipeline=pipe)
  assert str(e.value).startswith("interrupted by SIGTERM after 4/"), str(e.value)
  assert calls == [0, 0]
  assert str(e.value).endswith(f"checkpoint (task 2) is kept and --resume --workdir={wd} "
                               "continues from it"), str(e.value)
  assert os.listdir(os.path.join(wd, "checkpoints")) == ["2"]
  resumed = []
  monkeypatch.setitem(handlers.HANDLERS, schedule.FitModel,
                      lambda run, states, task: resumed.append(task.iteration)
                      or fit(run, states, task))
  runner.run(config, wd, resume=True, verbose=False, pipeline=pipe)
  assert resumed == [0, 1]  # the second source fit and iteration 1's: not the first again
  assert _metrics(wd) == _metrics(full_run[0])


def test_a_signal_lost_in_a_callback_stops_the_run_at_the_next_task(config, pipe, tmp_path):
  """A handler's exception raised inside a garbage-collection callback is swallowed by Python;
  the handler has recorded it, so the run stops at its next task boundary in one line, and the
  unraisable hook stays quiet about it (and only about it)."""
  from wombet_jax.harness import cli
  lost = errors.signal_pending(errors.Interrupted("interrupted by SIGTERM", 143))
  wd = str(tmp_path / "lost")
  with pytest.raises(errors.Interrupted) as e:
    runner.run(config, wd, verbose=False, pipeline=pipe)
  assert e.value.status == 143
  assert str(e.value).startswith("interrupted by SIGTERM after 1/"), str(e.value)
  errors.raise_pending()  # cleared: nothing left to raise
  seen = []
  hook = cli._unraisable(seen.append)
  errors.signal_pending(lost)
  hook(types.SimpleNamespace(exc_value=lost))
  other = types.SimpleNamespace(exc_value=ValueError("x"))
  hook(other)
  errors.clear_pending()
  assert seen == [other]


# --- what a run stopped before its first checkpoint leaves ---------------------------------------
def test_a_killed_runs_leftovers_never_reach_a_fresh_run(full_run, config, pipe, tmp_path):
  wd = helpers.copy_run(full_run, tmp_path)
  shutil.rmtree(os.path.join(wd, "checkpoints"))  # as if killed before its first checkpoint
  before = helpers.file_tree(wd)
  with pytest.raises(errors.UserError) as e:
    runner.Runner(config, wd, verbose=False, pipeline=pipe)
  for name in ("config.json", "metrics.jsonl", "policy", "datasets", "tensorboard"):
    assert name in str(e.value).split("holds a run (")[1], str(e.value)
  assert helpers.file_tree(wd) == before
  # --resume finds no checkpoint: it starts again after removing the stopped run's outputs.
  r = runner.Runner(config, wd, resume=True, verbose=False, pipeline=pipe)
  try:
    removed = []
    workdir.prepare(wd, [], clear=True, log=removed.append)
    runner.write_config(wd, pipe, None)
  finally:
    r.close()
  assert os.listdir(wd) == ["config.json"]
  assert removed and "progress.jsonl" in removed[0] and "metrics.jsonl" in removed[0]


def test_a_symlinked_policy_folder_is_refused(full_run, config, pipe, tmp_path):
  wd = helpers.copy_run(full_run, tmp_path)
  elsewhere = str(tmp_path / "elsewhere")
  os.rename(os.path.join(wd, "policy"), elsewhere)
  os.symlink(elsewhere, os.path.join(wd, "policy"))
  with pytest.raises(errors.UserError, match="policy is a symbolic link"):
    runner.Runner(config, wd, resume=True, verbose=False, pipeline=pipe)


# --- a full disk ---------------------------------------------------------------------------------
def _orbax_full(ckpt_dir, step, state, meta):
  os.makedirs(os.path.join(ckpt_dir, f"{step}.orbax-checkpoint-tmp-1733000000", "state"))
  raise ValueError("RESOURCE_EXHAUSTED: Error writing local file \"/x/d/1a2b\": "
                   "[OS error 28: No space left on device]")


def _write_full(path, data):
  raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


@pytest.mark.parametrize("target,fake", [(checkpointing, "save"), (results, "atomic_write_bytes")])
def test_a_full_disk_stops_in_one_line_and_the_run_resumes_identically(full_run, config, pipe,
                                                                       tmp_path, monkeypatch,
                                                                       target, fake):
  wd = _copy_at_11(full_run, tmp_path)
  metrics = _metrics(wd)
  monkeypatch.setattr(target, fake, _orbax_full if fake == "save" else _write_full)
  with pytest.raises(errors.RunError) as e:
    runner.run(config, wd, resume=True, verbose=False, pipeline=pipe)
  msg = str(e.value)
  assert "\n" not in msg and errors.exit_status(e.value) == 1
  assert msg.startswith(f"cannot write into {wd}: ") and "No space left on device" in msg, msg
  assert msg.endswith(f"its last checkpoint (task 11) is kept and --resume --workdir={wd} "
                      "continues from it"), msg
  assert not [p for p in os.listdir(os.path.join(wd, "checkpoints")) if "tmp" in p]
  assert _metrics(wd) == metrics
  monkeypatch.undo()  # space freed
  runner.run(config, wd, resume=True, verbose=False, pipeline=pipe)
  assert _metrics(wd) == _metrics(full_run[0])


# --- workdirs that cannot be used ----------------------------------------------------------------
@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_an_unusable_workdir_is_one_input_error_naming_it(tmp_path, monkeypatch, code):
  wd = str(tmp_path / "denied")

  def refuse(path, *args, **kwargs):
    raise OSError(code, os.strerror(code), path)

  monkeypatch.setattr(os, "makedirs", refuse)
  with pytest.raises(errors.UserError) as e:
    workdir.acquire(wd)
  assert str(e.value) == (f"--workdir={wd!r} is invalid: {wd}: {os.strerror(code)} "
                          "(nothing was written)")


def test_a_workdir_that_is_a_file_is_refused(tmp_path):
  path = tmp_path / "file"
  path.write_text("x")
  for wd in (str(path), str(path / "below")):
    with pytest.raises(errors.UserError, match=f"--workdir={wd!r} is invalid: "):
      workdir.acquire(wd)
  assert path.read_text() == "x"
