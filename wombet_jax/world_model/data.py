"""Fixed-capacity buffer of real transitions that the world model is fitted on.

Shapes never depend on how much data there is (rows [0, size) are valid), so a fit compiles
once for the whole run. Appends are circular: once full, the oldest rows are overwritten.
"""
import flax
import jax
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class Data:
  """Real transitions (s, a, s'); rows [0, size) are valid."""
  obs: jax.Array       # (capacity, obs_dim)
  action: jax.Array    # (capacity, act_dim)
  next_obs: jax.Array  # (capacity, obs_dim)
  size: jax.Array      # int32 (), number of valid rows
  # int32 (), next slot to overwrite once the buffer is full. Only read when size == capacity;
  # the default 0 is right for a buffer filled in order from slot 0, so Data(obs, action,
  # next_obs, size) built from arrays works as expected.
  ptr: jax.Array = np.int32(0)

  @property
  def capacity(self) -> int:
    return self.obs.shape[-2]


def _positive_int(name: str, value) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ValueError(f"{name} must be a positive int, got {value!r}")
  return int(value)


def make_data(capacity: int, obs_dim: int, act_dim: int) -> Data:
  """An empty buffer of `capacity` float32 rows."""
  capacity = _positive_int("capacity", capacity)
  obs_dim = _positive_int("obs_dim", obs_dim)
  act_dim = _positive_int("act_dim", act_dim)
  return Data(obs=jnp.zeros((capacity, obs_dim), jnp.float32),
              action=jnp.zeros((capacity, act_dim), jnp.float32),
              next_obs=jnp.zeros((capacity, obs_dim), jnp.float32),
              size=jnp.int32(0), ptr=jnp.int32(0))


def add_to_data(data: Data, obs: jax.Array, action: jax.Array, next_obs: jax.Array,
                mask: jax.Array | None = None) -> Data:
  """Appends the rows of (obs, action, next_obs) (n, dim) selected by `mask` (n,) bool.

  Selected rows are written contiguously (in order) after the last valid row, wrapping around
  and overwriting the oldest rows once the buffer is full. Pure and jittable; n is static.
  """
  capacity = data.capacity
  n = obs.shape[0]
  expected = {"obs": (n, data.obs.shape[1]), "action": (n, data.action.shape[1]),
              "next_obs": (n, data.next_obs.shape[1])}
  for name, value in (("obs", obs), ("action", action), ("next_obs", next_obs)):
    if value.shape != expected[name]:
      raise ValueError(f"add_to_data: {name} has shape {value.shape}, expected {expected[name]} "
                       "(rows, dim) matching the buffer")
  if n > capacity:
    # Two rows of one batch would land on the same slot and the scatter order is unspecified.
    raise ValueError(f"add_to_data: batch of {n} rows exceeds capacity {capacity}")
  if mask is None:
    mask = jnp.ones((n,), bool)
  elif mask.shape != (n,):
    raise ValueError(f"add_to_data: mask has shape {mask.shape}, expected ({n},)")
  mask = mask.astype(bool)
  count = jnp.sum(mask, dtype=jnp.int32)
  # Before the buffer is full we append after row size-1; afterwards at the overwrite pointer.
  start = jnp.where(data.size < capacity, data.size, data.ptr).astype(jnp.int32)
  slots = (start + jnp.cumsum(mask, dtype=jnp.int32) - 1) % capacity
  slots = jnp.where(mask, slots, capacity)  # out of range: dropped by the scatter

  def put(buf, rows):
    return buf.at[slots].set(rows.astype(buf.dtype), mode="drop")

  return Data(obs=put(data.obs, obs), action=put(data.action, action),
              next_obs=put(data.next_obs, next_obs),
              size=jnp.minimum(data.size + count, capacity).astype(jnp.int32),
              ptr=((start + count) % capacity).astype(jnp.int32))


def validate_data(data: Data, obs_dim: int, act_dim: int, min_size: int = 1) -> None:
  """Host-side check before a fit: shapes, size range and finite values in the valid rows.

  Raises ValueError naming the field, and for non-finite values the first bad row. Accepts a
  leading seed axis (then checks every seed).
  """
  obs = np.asarray(jax.device_get(data.obs))
  lead = obs.shape[:-2]
  capacity = obs.shape[-2]
  for name, dim in (("obs", obs_dim), ("action", act_dim), ("next_obs", obs_dim)):
    shape = np.shape(getattr(data, name))
    if shape != lead + (capacity, dim):
      raise ValueError(f"Data.{name} has shape {shape}, expected {lead + (capacity, dim)}")
  sizes = np.asarray(jax.device_get(data.size))
  if sizes.shape != lead:
    raise ValueError(f"Data.size has shape {sizes.shape}, expected {lead}")
  if np.any(sizes < min_size) or np.any(sizes > capacity):
    raise ValueError(f"Data.size must lie in [{min_size}, {capacity}] (the capacity), "
                     f"got {sizes.tolist()}")
  for name, dim in (("obs", obs_dim), ("action", act_dim), ("next_obs", obs_dim)):
    arr = np.asarray(jax.device_get(getattr(data, name))).reshape((-1, capacity, dim))
    for seed, (rows, size) in enumerate(zip(arr, sizes.reshape(-1))):
      bad = ~np.all(np.isfinite(rows[:size]), axis=-1)
      if np.any(bad):
        seed_txt = f" (seed index {seed})" if lead else ""
        raise ValueError(f"Data.{name} has non-finite values (NaN/inf) in valid row "
                         f"{int(np.argmax(bad))}{seed_txt}; all rows [0, size) must be finite")
