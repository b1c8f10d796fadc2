"""Point mass: a tiny pure-JAX task pair that compiles in about a second, for tests.

Dynamics (shared): a 2-D damped double integrator with semi-implicit Euler, dt = 0.1,
  v' = v + dt * (FORCE * a - DAMPING * v),   p' = p + dt * v',
obs = (px, py, vx, vy), action = 2-D force in [-1, 1]^2, no termination, 50-step episodes.

Source T_S: reach g_S = (1, 0) from near the origin, p0 ~ U[-0.1, 0.1]^2, v0 ~ U[-0.05, 0.05]^2.
Target T_T: reach g_T = (1, 0.5) from a wider start, p0 ~ U[-0.5, 0.5]^2, v0 ~ U[-0.2, 0.2]^2.
Reward (both): r = -||p' - g|| - 0.01 ||a||^2, a function of next_obs and action only.
Source data is useful for the target (same dynamics, nearby goal) but not identical to it.

Return scale over 50 steps (1000 episodes; checked in tests/test_envs.py): a saturated PD
controller a = clip(6 (g - p) - 4 v, -1, 1) gets about -11 on the source and -13 on the
target (near-optimal: the first ~15 steps are spent travelling); uniform-random actions get
about -54 (source) and -63 (target); the source's PD controller run on the target (steering to
g_S) gets about -32.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from wombet_jax.envs import base

DT = 0.1
FORCE = 1.0         # acceleration per unit action
DAMPING = 0.5       # velocity damping rate (1/s); terminal speed FORCE / DAMPING = 2 m/s
CTRL_WEIGHT = 0.01
EPISODE_LENGTH = 50
OBS_DIM = 4
ACT_DIM = 2
SOURCE_GOAL = (1.0, 0.0)
TARGET_GOAL = (1.0, 0.5)


def dynamics(obs: jax.Array, action: jax.Array) -> jax.Array:
  """Shared P: next (p, v) from (p, v) and a clipped action; broadcasts over leading axes."""
  p, v = obs[..., :2], obs[..., 2:]
  v_next = v + DT * (FORCE * action - DAMPING * v)
  return jnp.concatenate([p + DT * v_next, v_next], axis=-1)


def goal_reward_fn(goal: tuple[float, float]) -> base.TransitionFn:
  """r = -||p' - goal|| - 0.01 ||a||^2."""
  g = jnp.asarray(goal, jnp.float32)

  def reward_fn(obs: jax.Array, action: jax.Array, next_obs: jax.Array) -> jax.Array:
    del obs
    return -base.l2_norm(next_obs[..., :2] - g) - base.ctrl_cost(action, CTRL_WEIGHT)

  reward_fn.__doc__ = f"r = -||p' - g|| - 0.01 ||a||^2, g = {tuple(float(x) for x in goal)}."
  return reward_fn


def uniform_reset(pos_scale: float, vel_scale: float):
  """rho: p0 ~ U[-pos_scale, pos_scale]^2, v0 ~ U[-vel_scale, vel_scale]^2."""
  scale = jnp.asarray([pos_scale, pos_scale, vel_scale, vel_scale], jnp.float32)

  def reset_inner(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    obs = scale * jax.random.uniform(key, (OBS_DIM,), minval=-1.0, maxval=1.0)
    return obs, obs  # the state is the observation

  return reset_inner


def _step_inner(inner: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
  next_obs = dynamics(inner, action)
  return next_obs, next_obs


def make_pair(episode_length: int = EPISODE_LENGTH) -> base.TaskPair:
  """The pointmass source/target pair (module docstring)."""
  def task(goal, pos_scale, vel_scale):
    return base.make_task(uniform_reset(pos_scale, vel_scale), _step_inner,
                          goal_reward_fn(goal), base.never_terminates,
                          OBS_DIM, ACT_DIM, episode_length)

  return base.TaskPair(name="pointmass", obs_dim=OBS_DIM, act_dim=ACT_DIM,
                       episode_length=episode_length,
                       source=task(SOURCE_GOAL, 0.1, 0.05),
                       target=task(TARGET_GOAL, 0.5, 0.2))
