"""Checkpoints restore the exact state, including trees with zero-size arrays (MJX)."""
import jax
import jax.numpy as jnp
import numpy as np

from wombet_jax.harness import checkpointing


def test_roundtrip_with_zero_size_leaves_and_keeps_two(tmp_path):
  d = str(tmp_path / "ckpt")
  state = {"a": jnp.arange(6.0).reshape(2, 3), "empty": jnp.zeros((2, 0)),
           "k": jax.random.split(jax.random.PRNGKey(0), 2), "n": jnp.int32(7)}
  for step in (1, 2, 3):
    state = {**state, "n": jnp.int32(step)}
    checkpointing.save(d, step, state, {"next_task": step, "rows": [{"x": step}]})
  assert checkpointing.latest_step(d) == 3
  like = jax.tree_util.tree_map(jnp.zeros_like, state)
  got, meta = checkpointing.restore(d, 3, like)
  assert meta == {"next_task": 3, "rows": [{"x": 3}]}
  assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(state)
  for x, y in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(state)):
    np.testing.assert_array_equal(x, y)
    assert x.dtype == y.dtype
  assert checkpointing.latest_step(str(tmp_path / "missing")) is None
