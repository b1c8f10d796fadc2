"""A run's workdir: one run at a time, what another run left in it, and the temporary files
of interrupted writes.

The lock is an advisory `flock` on the workdir directory itself rather than on a lock file:
taking it writes nothing, so a run that is then refused (another run's outputs, a bad
--resume) leaves the workdir exactly as it was, and the operating system drops it when the
holder dies, so a SIGKILLed run never blocks its own --resume. The holder's PID is read from
/proc/locks (Linux) for the message of a refused second process.
"""
from __future__ import annotations

import fcntl
import glob
import os
import shutil

from wombet_jax import errors
from wombet_jax.harness import results

# What a run writes into its workdir besides checkpoints/ (docs/method.md, "What a run
# writes"): a fresh run refuses a workdir that holds any of them.
RUN_OUTPUTS = ("config.json", "metrics.jsonl", "summary.json", "learning_curve.png",
               "policy", "datasets", "tensorboard", "wandb", "wandb_run.json",
               "checkpoints_corrupt", "compare", "comparison.png", "comparison.json",
               "comparison.md", "offline_dataset.json", "dataset.npz")
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
