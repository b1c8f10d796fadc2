"""A run's workdir: one run at a time, what another run left in it, the temporary files of
interrupted writes, and whether a run may start (or resume) in it.

The lock is an advisory `flock` on the workdir directory itself rather than on a lock file:
taking it writes nothing, so a run that is then refused (another run's outputs, a bad
--resume) leaves the workdir exactly as it was, and the operating system drops it when the
holder dies, so a SIGKILLed run never blocks its own --resume. The holder's PID is read from
/proc/locks (Linux) for the message of a refused second process.

The decisions whether a run may proceed (`check_start`: is the workdir free, does the
checkpoint belong to this config and task list) read and write nothing but raise UserError, so
a refused run leaves the workdir exactly as it was; `prepare` then cleans up for a run that
may proceed.
"""
from __future__ import annotations

import fcntl
import glob
import os
import shutil

from wombet_jax import errors
from wombet_jax.errors import UserError
from wombet_jax.harness import checkpointing, results, schedule
from wombet_jax.harness import config as config_lib

# What a run writes into its workdir besides checkpoints/ (docs/method.md, "What a run
# writes"): a fresh run refuses a workdir that holds any of them.
RUN_OUTPUTS = ("config.json", "metrics.jsonl", "summary.json", "learning_curve.png",
               "policy", "datasets", "tensorboard", "wandb", "wandb_run.json",
               "checkpoints_corrupt", "compare", "comparison.png", "comparison.json",
               "comparison.md", "offline_dataset.json", "dataset.npz", "progress.jsonl")
# Folders whose files are written by results.atomic_write_bytes (temporary `.<name>.*.partial`).
ATOMIC_DIRS = ("", "policy", "datasets")
ORBAX_TMP = ".orbax-checkpoint-tmp"


class Lock:
  """The exclusive lock of one workdir, held from `acquire` until `release` (or death)."""

  def __init__(self, workdir: str, fd: int, created: bool):
    self.workdir, self.fd, self.created = workdir, fd, created

  def __del__(self):  # a Runner dropped without `close` (tests) still frees its workdir
    self.release()

  def release(self) -> None:
    """Drops the lock; removes the workdir if this lock created it and it is still empty
    (a run refused after taking the lock leaves no trace)."""
    if self.fd is None:
      return
    os.close(self.fd)  # closing the last descriptor drops the flock
    self.fd = None
    if self.created:
      try:
        os.rmdir(self.workdir)
      except OSError:  # not empty: the run wrote into it
        pass


def acquire(workdir: str) -> Lock:
  """Locks `workdir` (created if missing) for this process. Raises UserError naming the
  holder's PID when another process holds it, or the path and reason when the workdir cannot
  be created or opened (a file, no permission, a read-only file system)."""
  created = not os.path.lexists(workdir)
  if not created and not os.path.isdir(workdir):
    raise errors.UserError(f"--workdir={workdir!r} is invalid: it is a file, not a folder "
                           "(nothing was written)")
  try:
    os.makedirs(workdir, exist_ok=True)
    fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
  except OSError as e:
    raise errors.UserError(f"--workdir={workdir!r} is invalid: {errors.os_error(e)} "
                           "(nothing was written)") from None
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    pid = holder_pid(workdir)
    os.close(fd)
    who = f"process {pid}" if pid is not None else "another process"
    raise errors.UserError(f"--workdir={workdir!r} is in use: {who} is running in it; wait for "
                           "it to end or choose another --workdir (nothing was written)") from None
  return Lock(workdir, fd, created)


def holder_pid(path: str) -> int | None:
  """The PID holding a flock on `path` according to /proc/locks, or None (not Linux, or the
  holder ended meanwhile)."""
  try:
    st = os.stat(path)
    with open("/proc/locks") as f:
      lines = f.read().splitlines()
  except OSError:
    return None
  want = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
  for line in lines:
    parts = line.split()
    # "1: FLOCK  ADVISORY  WRITE 4142 fe:00:2146834 0 EOF"; waiters carry a "->" field.
    if len(parts) < 6 or parts[1] != "FLOCK" or "->" in parts:
      continue
    try:
      major, minor, inode = parts[5].split(":")
      if (int(major, 16), int(minor, 16), int(inode)) == want:
        return int(parts[4])
    except ValueError:
      continue
  return None


def outputs(workdir: str) -> list[str]:
  """The run outputs (RUN_OUTPUTS) present in `workdir`."""
  return [n for n in RUN_OUTPUTS if os.path.lexists(os.path.join(workdir, n))]


def remove_outputs(workdir: str) -> list[str]:
  """Deletes the run outputs of `workdir` (a run that left no checkpoint to resume from)
  except compare/, whose runs are resumed (and cleared) on their own; returns their names."""
  gone = [n for n in outputs(workdir) if n != "compare"]
  for name in gone:
    path = os.path.join(workdir, name)
    if os.path.isdir(path) and not os.path.islink(path):
      shutil.rmtree(path)
    else:
      os.unlink(path)
  return gone


def remove_temp_files(workdir: str) -> list[str]:
  """Deletes what interrupted writes left in `workdir`: results.atomic_write_bytes' temporary
  files (in the workdir, policy/ and datasets/) and orbax's temporary checkpoint folders;
  returns their paths."""
  gone = []
  for sub in ATOMIC_DIRS:
    d = os.path.join(workdir, sub)
    if os.path.isdir(d) and not os.path.islink(d):
      gone += results.remove_temp_files(d)
  gone += remove_orbax_temp(os.path.join(workdir, "checkpoints"))
  return gone


def remove_orbax_temp(ckpt_dir: str) -> list[str]:
  """Deletes orbax's temporary folders of unfinished saves (`<step>.orbax-checkpoint-tmp*`)."""
  stale = sorted(glob.glob(os.path.join(glob.escape(ckpt_dir), "*" + ORBAX_TMP + "*")))
  for path in stale:
    shutil.rmtree(path, ignore_errors=True)
  return stale


# --- may a run start here? (nothing is written) ----------------------------------------------
def check_start(workdir: str, resume: bool, identity: dict, tasks: list[schedule.Task]) -> None:
  """A fresh run needs a free workdir; a resumed one a newest readable checkpoint of the
  same `identity` (config.identity) and task list (checked again, with fallback to older
  checkpoints, when the run restores). Raises UserError."""
  policy_dir = os.path.join(workdir, "policy")
  if os.path.islink(policy_dir):
    raise UserError(f"--workdir={workdir!r} is invalid: {policy_dir} is a symbolic link; "
                    "a run writes (and deletes old files in) its own policy/ folder only "
                    "(nothing was changed)")
  ckpt_dir = os.path.join(workdir, "checkpoints")
  steps = checkpointing.all_steps(ckpt_dir)
  if not resume:
    check_free(workdir, steps, outputs(workdir))
    return
  for step in steps:
    try:
      meta = checkpointing.read_meta(ckpt_dir, step)
    except Exception:  # an incomplete checkpoint: the restore reports it and falls back
      continue
    check_meta(meta, workdir, identity, tasks)
    return


def check_free(workdir: str, steps: list[int], held_outputs: list[str]) -> None:
  """A fresh run needs a workdir without another run's outputs (`held_outputs`: the names of
  RUN_OUTPUTS found there) or checkpoints (`steps`: the checkpoint steps found there);
  raises UserError naming what it holds."""
  held = list(held_outputs) + ([f"checkpoints {sorted(steps)}"] if steps else [])
  if held:
    raise UserError(f"--workdir={workdir!r} is invalid: it already holds a run "
                    f"({', '.join(held)}); pass --resume to continue it or choose another "
                    "--workdir (nothing was changed)")


def check_meta(meta: dict, workdir: str, identity: dict, tasks: list[schedule.Task]) -> None:
  """Raises UserError unless the checkpoint `meta` was written by a config of this `identity`
  (config.identity) and this task list."""
  missing = [k for k in ("config", "tasks") if k not in meta]
  if missing:
    raise UserError(f"--resume of {workdir!r} is invalid: its checkpoint records no "
                    f"{' or '.join(missing)} to compare this run with; start a new "
                    "--workdir; nothing was changed.")
  diffs = config_lib.identity_differences(meta["config"], identity)
  if diffs:
    raise UserError(
        f"--resume of {workdir!r} is invalid: its checkpoints belong to another config "
        f"({'; '.join(diffs)}). Resume with the config that started the run (only "
        f"{', '.join('config.' + f for f in config_lib.RESUME_SAFE_FIELDS)} may change) or "
        "choose another --workdir; nothing was changed.")
  check_same_tasks(meta["tasks"], tasks, workdir)


def check_same_tasks(saved: list[list], tasks: list[schedule.Task], workdir: str) -> None:
  """A checkpoint stores the index of the next task; it only means the same thing under the
  task list it was written with (`saved`, its JSON form; a changed config or code version
  shifts the indices). Raises UserError naming the first differing task."""
  now = schedule.to_json(tasks)
  if saved != now:
    diff = next((i for i, (a, b) in enumerate(zip(saved, now)) if a != b),
                min(len(saved), len(now)))
    raise UserError(
        f"cannot resume {workdir!r}: its checkpoint was written for a different task "
        f"list ({len(saved)} tasks, this config/code gives {len(now)}; first difference at "
        f"task {diff}: {saved[diff] if diff < len(saved) else None} vs "
        f"{now[diff] if diff < len(now) else None}). Resume with the config and code that "
        "started the run, or start a new --workdir; nothing was changed.")


# --- the run may proceed ---------------------------------------------------------------------
def prepare(workdir: str, skipped: list[tuple[int, str]], clear: bool, log) -> None:
  """Sets corrupt checkpoints aside (`skipped`: [(step, why)] from the restore), removes the
  temporary files of interrupted writes and, when `clear` (a --resume that found no
  checkpoint), what the stopped run wrote (its rows and datasets would otherwise mix with this
  run's); reports each with `log(message)`."""
  ckpt_dir = os.path.join(workdir, "checkpoints")
  for step, reason in skipped:
    where = checkpointing.set_aside(ckpt_dir, step)
    log(f"{reason}; moved it to {where} and fell back to an older checkpoint")
  os.makedirs(workdir, exist_ok=True)
  for path in remove_temp_files(workdir):
    log(f"removed {path}, left by an interrupted write")
  if clear:
    gone = remove_outputs(workdir)
    if gone:
      log(f"removed {', '.join(gone)} of the run that stopped before its first checkpoint")
