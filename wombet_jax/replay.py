"""Fixed-capacity replay buffers as pure functions over a pytree state.

A buffer holds any pytree of transitions whose leaves carry a leading ``capacity`` axis, plus
two traced int32 scalars: ``size`` (valid rows, saturating at capacity) and ``ptr`` (next row to
write). Writes are circular, so the oldest rows are overwritten first. Sizes are static (they
shape the compiled program); contents, ``size``, ``ptr`` and the mixing ratio ``beta`` are traced,
so filling a buffer or changing beta never recompiles. The state is a pytree, so a seed axis can
be added with ``jax.vmap``.

Mixed sampling (step 5): each batch takes round(beta * B) rows from D_off and the rest
from D_on. To keep shapes static when beta changes, B rows are drawn from each buffer and row i
comes from D_off iff i < round(beta * B).
"""
from typing import Any, Optional

import chex
import flax
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class Buffer:
  """Replay buffer state.

  data: pytree; every leaf has shape (capacity, ...).
  size: () int32, number of valid rows (<= capacity).
  ptr: () int32, row the next item is written to.
  """
  data: Any
  size: jax.Array
  ptr: jax.Array

  @property
  def capacity(self) -> int:
    """Static capacity, read from the leading axis of the first leaf."""
    return jax.tree_util.tree_leaves(self.data)[0].shape[0]


def init_buffer(example: Any, capacity: int) -> Buffer:
  """Empty buffer whose rows have the shapes and dtypes of ``example`` (one item, no batch axis)."""
  if not isinstance(capacity, int) or capacity < 1:
    raise ValueError(f"capacity={capacity!r}: must be a positive int")
  leaves = jax.tree_util.tree_leaves(example)
  if not leaves:
    raise ValueError("example has no array leaves; a buffer needs at least one field")
  data = jax.tree_util.tree_map(
      lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype), example)
  return Buffer(data=data, size=jnp.zeros((), jnp.int32), ptr=jnp.zeros((), jnp.int32))


def add(buf: Buffer, item: Any) -> Buffer:
  """Write one item at ``ptr`` (overwriting the oldest row once full)."""
  chex.assert_trees_all_equal_structs(buf.data, item)
  data = jax.tree_util.tree_map(lambda d, x: d.at[buf.ptr].set(x), buf.data, item)
  cap = buf.capacity
  return Buffer(data=data, size=jnp.minimum(buf.size + 1, cap).astype(jnp.int32),
                ptr=((buf.ptr + 1) % cap).astype(jnp.int32))


def add_batch(buf: Buffer, items: Any, mask: Optional[jax.Array] = None) -> Buffer:
  """Write the rows of ``items`` (leading axis n) whose ``mask`` is True, contiguously from ``ptr``.

  Used to append filtered trajectories (flattened to (M*T, ...) rows with an (M*T,) mask) without
  a Python loop. If more than ``capacity`` rows are selected only the last ``capacity`` are kept,
  which is what writing them one by one would leave behind.
  """
  chex.assert_trees_all_equal_structs(buf.data, items)
  leaves = jax.tree_util.tree_leaves(items)
  n = leaves[0].shape[0]
  chex.assert_tree_shape_prefix(items, (n,))
  if mask is None:
    mask = jnp.ones((n,), bool)
  mask = jnp.asarray(mask).astype(bool)
  chex.assert_shape(mask, (n,))
  cap = buf.capacity
  rank = jnp.cumsum(mask) - 1                    # position of each kept row among kept rows
  n_kept = jnp.sum(mask).astype(jnp.int32)
  # Only the newest `cap` kept rows survive; dropping the rest makes scatter indices unique,
  # so the result does not depend on XLA's order for duplicate indices.
  keep = mask & (rank >= n_kept - cap)
  idx = jnp.where(keep, (buf.ptr + rank) % cap, cap)   # cap = out of bounds -> dropped
  data = jax.tree_util.tree_map(
      lambda d, x: d.at[idx].set(x, mode="drop"), buf.data, items)
  return Buffer(data=data, size=jnp.minimum(buf.size + n_kept, cap).astype(jnp.int32),
                ptr=((buf.ptr + n_kept) % cap).astype(jnp.int32))


def sample_indices(buf: Buffer, key: jax.Array, batch_size: int) -> jax.Array:
  """The rows ``sample`` draws: ``batch_size`` indices, uniform with replacement over the valid
  rows. The caller guarantees ``size > 0``; an empty buffer gives row 0 rather than failing,
  because a traced size cannot raise."""
  return jax.random.randint(key, (batch_size,), 0, jnp.maximum(buf.size, 1))


def rows(buf: Buffer, idx: jax.Array) -> Any:
  """The rows ``idx`` of the buffer's data."""
  return jax.tree_util.tree_map(lambda d: d[idx], buf.data)


def sample(buf: Buffer, key: jax.Array, batch_size: int) -> Any:
  """``batch_size`` rows drawn uniformly, with replacement, from the valid rows
  (``sample_indices``)."""
  return rows(buf, sample_indices(buf, key, batch_size))


def offline_count(beta: jax.Array, batch_size: int, offline_size: jax.Array,
                  online_size: jax.Array) -> jax.Array:
  """Number of rows of a mixed batch taken from D_off: round(beta * B).

  An empty buffer contributes nothing (an empty D_off gives an online-only batch, an empty
  D_on an offline-only one), so a run whose filter rejected every trajectory still trains.
  """
  n_off = jnp.round(jnp.clip(beta, 0.0, 1.0) * batch_size).astype(jnp.int32)
  n_off = jnp.where(offline_size > 0, n_off, 0)
  return jnp.where(online_size > 0, n_off, batch_size).astype(jnp.int32)


def sample_mixed(offline: Buffer, online: Buffer, key: jax.Array, batch_size: int,
                 beta: jax.Array, sample_fn: Any = None) -> Any:
  """Batch with round(beta * B) rows from ``offline`` then the rest from ``online`` (step 5).

  ``beta`` is traced: B rows are drawn from each buffer and row i is taken from the offline
  draw iff i < round(beta * B), so the shapes never depend on beta. Both buffers must hold the
  same pytree structure and row shapes. ``sample_fn(buffer, key, batch_size)`` draws each
  buffer's B rows (default: ``sample``; Cal-QL's adds the rows' Monte-Carlo returns).
  """
  chex.assert_trees_all_equal_structs(offline.data, online.data)
  sample_fn = sample if sample_fn is None else sample_fn
  k_off, k_on = jax.random.split(key)
  off = sample_fn(offline, k_off, batch_size)
  on = sample_fn(online, k_on, batch_size)
  n_off = offline_count(beta, batch_size, offline.size, online.size)
  take_off = jnp.arange(batch_size) < n_off

  def select(a, b):
    cond = take_off.reshape((batch_size,) + (1,) * (a.ndim - 1))
    return jnp.where(cond, a, b)

  return jax.tree_util.tree_map(select, off, on)
