"""Finiteness of every gradient update, checked without leaving the device.

The loop's scans carry a `Health` per seed: the first bad step and which quantities were bad
there, computed from values the update has already produced; the runner reads it once per
piece and stops the run in one line naming the seeds and quantities.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

# Info entries with these suffixes are checked after every update: the losses and gradient
# norms the agents report.
CHECKED_SUFFIXES = ("_loss", "_norm")
# The flag for the agent's parameters and optimiser state as a whole: a non-finite gradient
# of any agent (whether or not it reports a norm) reaches the optimiser's moments here.
STATE_FLAG = "agent_state"


class Health(NamedTuple):
  """Per seed: the first step whose update produced a non-finite value, and what was bad."""
  step: jax.Array  # int32, -1 while every update was finite
  flags: dict      # name -> bool, the quantities that were not finite at `step`


def _tree_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def health_flags(agent, info: dict, agent_state) -> dict:
  """name -> True where it is not finite: every checked entry of one update's `info`, and
  the agent state after it. Entries an agent leaves nan on updates without that loss
  (`agent.optional_losses`, e.g. TD3's delayed actor) count only when infinite."""
  optional = agent.optional_losses
  flags = {name: (jnp.isinf(v) if name in optional else ~jnp.isfinite(v))
           for name, v in info.items() if name.endswith(CHECKED_SUFFIXES)}
  flags[STATE_FLAG] = ~_tree_finite(agent_state)
  return flags


def no_flags(flags_like) -> dict:
  return jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, bool), flags_like)


def init_health(flags_like, batch_shape: tuple = ()) -> Health:
  return Health(step=jnp.full(batch_shape, -1, jnp.int32), flags=no_flags(flags_like))


def record_health(h: Health, step: jax.Array, flags: dict) -> Health:
  """Keeps the first bad step (and its flags); later ones change nothing."""
  first = (h.step < 0) & jnp.any(jnp.stack(jax.tree_util.tree_leaves(flags)), axis=0)
  return Health(step=jnp.where(first, step, h.step),
                flags={k: h.flags[k] | (first & v) for k, v in flags.items()})
