"""reacher (brax, backend "mjx"): reach goals in one half-plane -> goals in the other.

Obs is brax's 11-vector, unchanged: cos q (2), sin q (2), goal (x, y) (2), fingertip velocity
(2), fingertip - goal (3). The goal is part of the simulator state (two slide joints), so the
dynamics are shared and the tasks differ only in rho: the source draws goals with y >= 0, the
target with y <= 0 (brax's disc of radius 0.2, each half). The reward is brax's for both,
-||tip - goal|| - ||a||^2, read from next_obs; the target therefore asks the learner to
generalise across goal positions it never saw in source data. No termination.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from brax.envs.reacher import Reacher

from wombet_jax.envs import base, mjx_tasks

OBS_DIM = 11
GOAL_X, GOAL_Y = 4, 5
TIP_TO_GOAL = slice(8, 11)
CTRL_WEIGHT = 1.0
GOAL_RADIUS = 0.2       # brax's goal disc


class HalfPlaneReacher(Reacher):
  """Brax's Reacher whose goals are drawn from one half of brax's disc.

  Overrides brax's goal sampler `_random_target` (radius 0.2 * U, angle uniform); `upper`
  picks angles in [0, pi) (y >= 0) or [pi, 2 pi) (y <= 0).
  """

  def __init__(self, upper: bool, **kwargs):
    super().__init__(**kwargs)
    self._angle_offset = 0.0 if upper else jnp.pi

  def _random_target(self, rng: jax.Array) -> tuple[jax.Array, jax.Array]:
    rng, rng_dist, rng_angle = jax.random.split(rng, 3)
    dist = GOAL_RADIUS * jax.random.uniform(rng_dist)
    angle = self._angle_offset + jnp.pi * jax.random.uniform(rng_angle)
    return rng, jnp.array([dist * jnp.cos(angle), dist * jnp.sin(angle)])


def reacher_reward(obs, action, next_obs):
  """Brax's reward: -||tip - goal|| - ||a||^2 (the same function for source and target)."""
  del obs
  return -base.l2_norm(next_obs[..., TIP_TO_GOAL]) - base.ctrl_cost(action, CTRL_WEIGHT)


def _no_extra(state) -> jax.Array:
  return jnp.zeros((0,), state.obs.dtype)


def make_reacher(episode_length: int) -> base.TaskPair:
  """reacher: goals with y >= 0 (source) -> goals with y <= 0 (target)."""
  return mjx_tasks.brax_pair(
      "reacher", HalfPlaneReacher(upper=True, backend="mjx"),
      HalfPlaneReacher(upper=False, backend="mjx"), _no_extra, OBS_DIM, reacher_reward,
      reacher_reward, base.never_terminates, episode_length)
