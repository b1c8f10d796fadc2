"""Orbax checkpoints of the full batched run state plus a small JSON of host-side progress.

Orbax writes each step into a temporary directory and renames it when complete, so a run
killed mid-save keeps its previous checkpoint. Saving is synchronous: the next chunk must not
start mutating buffers that an async writer is still reading, and a SIGKILL must never leave
a checkpoint that looks complete but is not.

Orbax does not check the bytes it reads back, so every checkpoint's JSON carries a sha256 of
its arrays and of the rest of its JSON (`checksum`); `restore` recomputes it. A checkpoint
that cannot be read or does not match is corrupt, and `restore_newest_intact` falls back to
the next older one.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from wombet_jax import errors
from wombet_jax.harness import results

CHECKSUM_KEY = "checksum"


def _manager(directory: str, max_to_keep: int = 2,
             read_only: bool = False) -> ocp.CheckpointManager:
  # A manager for reading writes nothing (no directory creation, no clean-up of orbax's
  # temporary directories), so a run that is then refused leaves the workdir as it was.
  # (orbax's own read_only option logs three warnings per manager.)
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=not read_only,
                                         cleanup_tmp_directories=not read_only,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def _payload(state: Any) -> dict:
  # Orbax refuses zero-size arrays, and MJX pipeline states hold some (e.g. `act` for
  # models without actuator activations). They carry no data: restore takes them from `like`.
  leaves = jax.tree_util.tree_leaves(state)
  return {str(i): leaf for i, leaf in enumerate(leaves) if leaf.size > 0}


def checksum(payload: dict, meta: dict) -> str:
  """sha256 over every array of `payload` (key, dtype, shape and bytes, in key order) and
  the canonical JSON of `meta`."""
  h = hashlib.sha256()
  host = jax.device_get(payload)
  for k in sorted(host, key=lambda k: (len(k), k)):
    a = np.asarray(host[k])
    h.update(f"{k}:{a.dtype.str}:{a.shape};".encode())
    h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
  h.update(json.dumps(meta, sort_keys=True, allow_nan=False).encode())
  return h.hexdigest()


def save(directory: str, step: int, state: Any, meta: dict) -> None:
  """Writes checkpoint `step`; raises if orbax skipped it (a step at or below its latest).
  `meta` is stored as strict JSON (NaN/inf become null) with the checksum added."""
  payload = _payload(state)
  meta = results.jsonable(meta)
  meta = {**meta, CHECKSUM_KEY: checksum(payload, meta)}
  with _manager(directory) as mngr:
    saved = mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(payload),
                                                    meta=ocp.args.JsonSave(meta)))
    mngr.wait_until_finished()
    latest = mngr.latest_step()
  if not saved:
    raise RuntimeError(f"orbax did not write checkpoint {step} into {directory!r}: its newest "
                       f"step is already {latest}")


def all_steps(directory: str) -> list[int]:
  """The finished checkpoint steps in `directory`, newest first (none if it does not exist)."""
  if not os.path.isdir(directory):
    return []
  with _manager(directory, read_only=True) as mngr:
    return sorted(mngr.all_steps(), reverse=True)


def latest_step(directory: str) -> int | None:
  steps = all_steps(directory)
  return steps[0] if steps else None


def read_meta(directory: str, step: int) -> dict:
  """The JSON of checkpoint `step` (no arrays are read)."""
  with _manager(directory, read_only=True) as mngr:
    out = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
  return dict(out["meta"])


def restore(directory: str, step: int, like: Any) -> tuple[Any, dict]:
  """Restores `step` and verifies its checksum; `like` gives the tree structure, shapes,
  dtypes and shardings. Raises errors.CheckpointError naming the step when it cannot be read,
  has no checksum or does not match it."""
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, _payload(like))
  try:
    with _manager(directory, read_only=True) as mngr:
      out = mngr.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
  except Exception as e:  # orbax/tensorstore raise many types for unreadable files
    _quiet_failed_reads()
    raise errors.CheckpointError(f"checkpoint {step} is unreadable: {_first_line(e)}") from e
  meta = dict(out["meta"])
  expected = meta.pop(CHECKSUM_KEY, None)
  if expected is None:
    raise errors.CheckpointError(f"checkpoint {step} has no checksum")
  if checksum(out["state"], meta) != expected:
    raise errors.CheckpointError(f"checkpoint {step} does not match its checksum")
  leaves, treedef = jax.tree_util.tree_flatten(like)
  restored = [out["state"].get(str(i), leaf) for i, leaf in enumerate(leaves)]
  return jax.tree_util.tree_unflatten(treedef, restored), meta


def restore_newest_intact(directory: str, like: Any, check_meta: Callable[[dict], None],
                          ) -> tuple[int, Any, dict, list[tuple[int, str]]]:
  """Restores the newest checkpoint that reads back and matches its checksum.

  `check_meta(meta)` runs on each candidate's JSON before its arrays are read and may raise
  (e.g. a checkpoint of another config); that error propagates. Returns (step, state, meta,
  [(step, why it was skipped)] for the newer checkpoints). Raises errors.CheckpointError
  listing every checkpoint's fault when none is intact.
  """
  skipped = []
  for step in all_steps(directory):
    try:
      meta = read_meta(directory, step)
    except Exception as e:  # missing or unparsable JSON: an incomplete checkpoint
      _quiet_failed_reads()
      skipped.append((step, f"checkpoint {step} has no readable metadata: {_first_line(e)}"))
      continue
    check_meta(meta)
    try:
      state, meta = restore(directory, step, like)
    except errors.CheckpointError as e:
      skipped.append((step, str(e)))
      continue
    return step, state, meta, skipped
  faults = "; ".join(why for _, why in skipped)
  raise errors.CheckpointError(f"no intact checkpoint in {directory!r}"
                               + (f" ({faults})" if faults else "")
                               + ": start the run again in a new --workdir")


def set_aside(directory: str, step: int) -> str:
  """Moves checkpoint `step` out of `directory` (into `<directory>_corrupt/`), so that new
  checkpoints may reuse its step number; returns where it went."""
  target_dir = directory.rstrip(os.sep) + "_corrupt"
  os.makedirs(target_dir, exist_ok=True)
  target, n = os.path.join(target_dir, str(step)), 1
  while os.path.exists(target):
    target, n = os.path.join(target_dir, f"{step}.{n}"), n + 1
  os.replace(os.path.join(directory, str(step)), target)
  return target


def _first_line(e: BaseException) -> str:
  """`e` in one short line; orbax's read errors end in a TensorStore spec of many lines,
  and name what failed (e.g. DATA_LOSS) only in their cause."""
  text = (str(e).strip().splitlines() or [""])[0]
  text = text.split(" See full TensorStore details")[0]
  cause = e.__cause__ if e.__cause__ is not None else e.__context__
  if cause is not None and "Encountered error while reading" in text:
    text += f" ({_first_line(cause)})"
  return f"{type(e).__name__}: {text[:300]}".rstrip(": ")


def _is_read_aftermath(unraisable) -> bool:
  """An 'Event loop is closed' of a read still in flight, or one of orbax's read coroutines
  closed unfinished, which reports its TensorStore spec: hundreds of lines per array."""
  error = unraisable.exc_value
  if isinstance(error, RuntimeError) and str(error) == "Event loop is closed":
    return True
  return ("Encountered error while reading array" in str(error)
          or "_read_array_index" in repr(unraisable.object))


class _DropUnretrievedReads(logging.Filter):
  """asyncio's 'Task exception was never retrieved' for orbax's other reads of a restore
  that already failed (and was reported)."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not (record.getMessage().startswith("Task exception was never retrieved")
                and "orbax" in str(getattr(record, "future", "")) + record.getMessage())


_QUIET = []


def _quiet_failed_reads() -> None:
  """When one read of a restore fails, orbax closes its event loop while tensorstore's other
  reads are in flight; each then reports 'Event loop is closed' or, closed unfinished, its
  whole TensorStore spec (through sys.unraisablehook, possibly after the restore returned)
  and asyncio logs its unretrieved error: hundreds of lines that bury the one error the
  restore raises. From the first failed read on, those kinds of report are dropped; every
  other one goes to the previous hook/handlers."""
  if _QUIET:
    return
  previous = sys.unraisablehook

  def hook(unraisable):
    if not _is_read_aftermath(unraisable):
      previous(unraisable)

  sys.unraisablehook = hook
  logging.getLogger("asyncio").addFilter(_DropUnretrievedReads())
  _QUIET.append(True)
