"""Tests for wombet_jax.replay: circular writes, masked batch writes, uniform and mixed sampling."""
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wombet_jax import replay


@flax.struct.dataclass
class Tr:
  obs: jax.Array
  action: jax.Array
  reward: jax.Array
  next_obs: jax.Array
  terminal: jax.Array
  done: jax.Array


def _tr(i, obs_dim=3):
  """Transition whose every field encodes the float i, so rows can be identified."""
  i = jnp.asarray(i, jnp.float32)
  return Tr(obs=jnp.full((obs_dim,), i), action=jnp.full((2,), -i), reward=i,
            next_obs=jnp.full((obs_dim,), i + 0.5), terminal=jnp.zeros(()), done=jnp.zeros(()))


def _rows(n, start=0):
  return jax.vmap(_tr)(jnp.arange(start, start + n))


def test_init_shapes_and_dtypes():
  ex = dict(o=jnp.zeros((3,), jnp.float32), t=jnp.zeros((), jnp.int32))
  buf = replay.init_buffer(ex, 7)
  assert buf.data["o"].shape == (7, 3) and buf.data["o"].dtype == jnp.float32
  assert buf.data["t"].shape == (7,) and buf.data["t"].dtype == jnp.int32
  assert buf.capacity == 7 and int(buf.size) == 0 and int(buf.ptr) == 0
  with pytest.raises(ValueError, match="capacity"):
    replay.init_buffer(ex, 0)


def test_add_is_circular():
  buf = replay.init_buffer(_tr(0), 3)
  add = jax.jit(replay.add)
  for i in range(5):
    buf = add(buf, _tr(i + 1))
  # Items 1..5 into 3 slots: slot 0 <- 1, 4; slot 1 <- 2, 5; slot 2 <- 3.
  np.testing.assert_array_equal(buf.data.reward, [4.0, 5.0, 3.0])
  np.testing.assert_array_equal(buf.data.obs[:, 0], [4.0, 5.0, 3.0])
  assert int(buf.size) == 3 and int(buf.ptr) == 2


@pytest.mark.parametrize("jit", [False, True])
def test_add_batch_with_mask_matches_sequential_adds(jit):
  cap, n = 5, 8
  rows = _rows(n, start=10)
  mask = jnp.array([1, 0, 1, 1, 0, 1, 1, 1], bool)   # 6 kept rows > capacity
  start = replay.add(replay.add(replay.init_buffer(_tr(0), cap), _tr(1)), _tr(2))
  fn = jax.jit(replay.add_batch) if jit else replay.add_batch
  got = fn(start, rows, mask)
  want = start
  for i in np.flatnonzero(np.asarray(mask)):
    want = replay.add(want, jax.tree_util.tree_map(lambda x: x[i], rows))
  np.testing.assert_array_equal(got.data.reward, want.data.reward)
  np.testing.assert_array_equal(got.data.next_obs, want.data.next_obs)
  assert int(got.size) == int(want.size) == cap
  assert int(got.ptr) == int(want.ptr) == (2 + 6) % cap
  # Without a mask every row is written, contiguously from ptr.
  full = replay.add_batch(replay.init_buffer(_tr(0), 10), _rows(4, 1))
  np.testing.assert_array_equal(full.data.reward[:5], [1, 2, 3, 4, 0])
  assert int(full.size) == 4 and int(full.ptr) == 4


def test_sample_only_valid_rows_and_uniform():
  buf = replay.add_batch(replay.init_buffer(_tr(0), 100), _rows(4, 1))   # rewards 1..4
  batch = jax.jit(replay.sample, static_argnums=2)(buf, jax.random.PRNGKey(0), 4000)
  r = np.asarray(batch.reward)
  assert set(np.unique(r)) == {1.0, 2.0, 3.0, 4.0}
  counts = np.bincount(r.astype(int))[1:]
  np.testing.assert_allclose(counts / 4000, 0.25, atol=0.03)
  # rows stay consistent across fields
  np.testing.assert_array_equal(batch.obs[:, 0], batch.reward)
  np.testing.assert_array_equal(batch.next_obs[:, 1], batch.reward + 0.5)


def test_sample_mixed_row_split_and_no_retrace():
  off = replay.add_batch(replay.init_buffer(_tr(0), 50), _rows(20, 100))   # rewards >= 100
  on = replay.add_batch(replay.init_buffer(_tr(0), 50), _rows(20, 1))      # rewards < 100
  traces = []

  def fn(off, on, key, beta):
    traces.append(1)
    return replay.sample_mixed(off, on, key, 8, beta)

  jfn = jax.jit(fn)
  for beta, n_off in [(0.25, 2), (0.5, 4), (0.0, 0), (1.0, 8), (0.8, 6)]:   # round(6.4) = 6
    b = jfn(off, on, jax.random.PRNGKey(1), jnp.float32(beta))
    from_off = np.asarray(b.reward) >= 100
    np.testing.assert_array_equal(from_off, np.arange(8) < n_off)
    np.testing.assert_array_equal(b.obs[:, 0], b.reward)
  # new buffer contents, sizes and beta values: still one trace
  on2 = replay.add(on, _tr(7))
  jfn(off, on2, jax.random.PRNGKey(2), jnp.float32(0.3))
  assert len(traces) == 1


def test_sample_mixed_with_empty_buffer_falls_back():
  empty = replay.init_buffer(_tr(0), 10)
  full = replay.add_batch(replay.init_buffer(_tr(0), 10), _rows(5, 1))
  b = replay.sample_mixed(empty, full, jax.random.PRNGKey(0), 16, jnp.float32(0.75))
  assert np.all(np.asarray(b.reward) >= 1)      # no zero rows from the empty D_off
  b = replay.sample_mixed(full, empty, jax.random.PRNGKey(0), 16, jnp.float32(0.25))
  assert np.all(np.asarray(b.reward) >= 1)


def test_works_for_dict_pytrees_and_vmap_over_seeds():
  ex = dict(obs=jnp.zeros(2), reward=jnp.zeros(()))
  bufs = jax.vmap(lambda _: replay.init_buffer(ex, 4))(jnp.arange(3))
  items = dict(obs=jnp.ones((3, 2)), reward=jnp.arange(3.0))
  bufs = jax.vmap(replay.add)(bufs, items)
  assert bufs.data["obs"].shape == (3, 4, 2)
  np.testing.assert_array_equal(bufs.size, [1, 1, 1])
  np.testing.assert_array_equal(bufs.data["reward"][:, 0], [0.0, 1.0, 2.0])


@pytest.mark.parametrize("mode", ["jit", "disable_jit"])
def test_add_batch_masked_wrap_by_hand_jitted_and_eager(mode):
  """Capacity 3, one row already in (ptr 1), then rows 1..5 with row 2 masked out: the four
  kept rows overflow the buffer, so only the newest three (3, 4, 5) land, from slot 2 on."""
  def add_batch(buf, rows, mask):
    if mode == "jit":
      return jax.jit(replay.add_batch)(buf, rows, mask)
    with jax.disable_jit():
      return replay.add_batch(buf, rows, mask)

  start = replay.add(replay.init_buffer(_tr(0), 3), _tr(100))
  rows = _rows(5, start=1)
  got = add_batch(start, rows, jnp.array([1, 0, 1, 1, 1], bool))
  # Kept rows 1, 3, 4, 5 at ranks 0-3 go to (1 + rank) % 3; rank 0 (row 1) is dropped.
  np.testing.assert_array_equal(got.data.reward, [4.0, 5.0, 3.0])
  np.testing.assert_array_equal(got.data.action[:, 0], [-4.0, -5.0, -3.0])
  np.testing.assert_array_equal(got.data.next_obs[:, 2], [4.5, 5.5, 3.5])
  assert (int(got.size), int(got.ptr)) == (3, (1 + 4) % 3)
  # Two kept rows of five into an empty buffer: slots 0 and 1, slot 2 untouched.
  two = add_batch(replay.init_buffer(_tr(0), 3), rows, jnp.array([0, 1, 0, 0, 1], bool))
  np.testing.assert_array_equal(two.data.reward, [2.0, 5.0, 0.0])
  np.testing.assert_array_equal(two.data.obs[:, 0], [2.0, 5.0, 0.0])
  assert (int(two.size), int(two.ptr)) == (2, 2)
  # Nothing kept: contents, size and pointer stay as they were.
  none = add_batch(start, rows, jnp.zeros(5, bool))
  np.testing.assert_array_equal(none.data.reward, [100.0, 0.0, 0.0])
  assert (int(none.size), int(none.ptr)) == (1, 1)


def test_sample_mixed_takes_a_sampler_for_both_buffers():
  # A sampler that tags its rows with the buffer's size: rows from D_off (size 3) come first,
  # round(0.25 * 8) = 2 of them, then D_on's (size 5); each draw gets its own half of the key.
  example = {"x": jnp.zeros(())}
  off = replay.add_batch(replay.init_buffer(example, 10), {"x": jnp.arange(3.0)})
  on = replay.add_batch(replay.init_buffer(example, 10), {"x": jnp.arange(5.0)})
  keys = []

  def tagged(buf, key, n):
    keys.append(key)
    return {"x": jnp.full((n,), buf.size, jnp.float32)}

  key = jax.random.PRNGKey(0)
  got = replay.sample_mixed(off, on, key, 8, jnp.float32(0.25), sample_fn=tagged)
  np.testing.assert_array_equal(got["x"], [3, 3, 5, 5, 5, 5, 5, 5])
  np.testing.assert_array_equal(np.stack(keys), jax.random.split(key))
