"""Orbax checkpoints of the full batched run state plus a small JSON of host-side progress.

Orbax writes each step into a temporary directory and renames it when complete, so a run
killed mid-save keeps its previous checkpoint. Saving is synchronous: the next chunk must not
start mutating buffers that an async writer is still reading, and a SIGKILL must never leave
a checkpoint that looks complete but is not.
"""
from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp


def _manager(directory: str, max_to_keep: int = 2) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def _payload(state: Any) -> dict:
  # Orbax refuses zero-size arrays, and MJX pipeline states hold some (e.g. `act` for
  # models without actuator activations). They carry no data: restore takes them from `like`.
  leaves = jax.tree_util.tree_leaves(state)
  return {str(i): leaf for i, leaf in enumerate(leaves) if leaf.size > 0}


def save(directory: str, step: int, state: Any, meta: dict) -> None:
  with _manager(directory) as mngr:
    mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(_payload(state)),
                                            meta=ocp.args.JsonSave(meta)))
    mngr.wait_until_finished()


def latest_step(directory: str) -> int | None:
  if not os.path.isdir(directory):
    return None
  with _manager(directory) as mngr:
    return mngr.latest_step()


def restore(directory: str, step: int, like: Any) -> tuple[Any, dict]:
  """Restores `step`; `like` gives the tree structure, shapes, dtypes and shardings."""
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, _payload(like))
  with _manager(directory) as mngr:
    out = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                     meta=ocp.args.JsonRestore()))
  leaves, treedef = jax.tree_util.tree_flatten(like)
  restored = [out["state"].get(str(i), leaf) for i, leaf in enumerate(leaves)]
  return jax.tree_util.tree_unflatten(treedef, restored), dict(out["meta"])
