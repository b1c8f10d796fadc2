"""Orbax save/restore of a trained `ModelState` (any pytree of arrays works the same)."""
import os

import jax
import orbax.checkpoint as ocp


def save(path: str, state) -> None:
  """Writes `state` to the directory `path` (absolute or relative), replacing what is there."""
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(os.path.abspath(path), state, force=True)
  checkpointer.wait_until_finished()


def restore(path: str, like_state):
  """Reads a state saved by `save`; `like_state` (e.g. `wm.init(key)`) gives structure and
  shapes, so the result is a `ModelState` again, not a dict."""
  if not os.path.isdir(path):
    raise ValueError(f"restore: no checkpoint directory at {path!r}")
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like_state)
  return ocp.StandardCheckpointer().restore(os.path.abspath(path), abstract)
