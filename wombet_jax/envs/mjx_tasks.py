"""Brax (backend "mjx") task pairs: the adapter and the four locomotion pairs.

The adapter appends to brax's observation whatever the reward or termination needs and brax
hides (e.g. the finite-difference x-velocity of brax's `metrics`), so that r and the
termination are exact pure functions of (obs, action, next_obs) (docs/method.md). Brax's
own observation always comes first, unchanged; appended features are listed per env.

Sources are brax's own tasks with brax's default weights (tests check the reward against
brax's to 1e-3); targets change the reward to a velocity-tracking or direction objective and
draw initial states with wider reset noise than the source (rho_T != rho_S).
"""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
from brax import envs as brax_envs
from brax.envs.base import PipelineEnv, State as BraxState

from wombet_jax.envs import base

ExtraObsFn = Callable[[BraxState], jax.Array]


def brax_task(env: PipelineEnv, extra_obs: ExtraObsFn, reward_fn: base.TransitionFn,
              termination_fn: base.TransitionFn, obs_dim: int,
              episode_length: int) -> base.Task:
  """Wraps a brax env as a Task: obs = concat(brax obs, extra_obs(state)).

  Brax's reward and done stay in the inner state (`inner.reward`, `inner.done`) for checks;
  the Task's reward and termination come from reward_fn / termination_fn only.
  """
  def observe(state: BraxState) -> jax.Array:
    return jnp.concatenate([state.obs, extra_obs(state)], axis=-1)

  def reset_inner(key: jax.Array) -> tuple[BraxState, jax.Array]:
    state = env.reset(key)
    return state, observe(state)

  def step_inner(state: BraxState, action: jax.Array) -> tuple[BraxState, jax.Array]:
    # Brax updates `metrics` in place; give it a copy so the caller's state is untouched.
    state = env.step(state.replace(metrics=dict(state.metrics)), action)
    return state, observe(state)

  return base.make_task(reset_inner, step_inner, reward_fn, termination_fn, obs_dim,
                        env.action_size, episode_length)


def brax_pair(name: str, source_env: PipelineEnv, target_env: PipelineEnv,
              extra_obs: ExtraObsFn, obs_dim: int, source_reward: base.TransitionFn,
              target_reward: base.TransitionFn, termination_fn: base.TransitionFn,
              episode_length: int) -> base.TaskPair:
  """A TaskPair from two brax envs sharing dynamics (they may differ only in reset)."""
  if source_env.action_size != target_env.action_size:
    raise ValueError(f"{name}: source and target action sizes differ "
                     f"({source_env.action_size} vs {target_env.action_size})")
  return base.TaskPair(
      name=name, obs_dim=obs_dim, act_dim=source_env.action_size,
      episode_length=episode_length,
      source=brax_task(source_env, extra_obs, source_reward, termination_fn, obs_dim,
                       episode_length),
      target=brax_task(target_env, extra_obs, target_reward, termination_fn, obs_dim,
                       episode_length))


def _x_velocity(state: BraxState) -> jax.Array:
  return state.metrics["x_velocity"][None]


def _in_open_interval(x: jax.Array, low: float, high: float) -> jax.Array:
  return jnp.logical_and(x > low, x < high)


# ---------------------------------------------------------------------------------------------
# halfcheetah: obs = brax's 17 (q[1:], qd) + [x_velocity] -> 18.
HALFCHEETAH_VX = 17
HALFCHEETAH_TARGET_SPEED = 2.0
HALFCHEETAH_CTRL = 0.1
HALFCHEETAH_NOISE = 0.1          # brax's reset_noise_scale (source)
HALFCHEETAH_TARGET_NOISE = 0.3   # x3 for the target


def halfcheetah_source_reward(obs, action, next_obs):
  """Brax's run-forward reward: x_vel - 0.1 ||a||^2."""
  del obs
  return next_obs[..., HALFCHEETAH_VX] - base.ctrl_cost(action, HALFCHEETAH_CTRL)


def halfcheetah_target_reward(obs, action, next_obs):
  """Track 2 m/s: -|x_vel - 2| - 0.1 ||a||^2 (best per-step value 0)."""
  del obs
  speed_error = jnp.abs(next_obs[..., HALFCHEETAH_VX] - HALFCHEETAH_TARGET_SPEED)
  return -speed_error - base.ctrl_cost(action, HALFCHEETAH_CTRL)


def make_halfcheetah(episode_length: int) -> base.TaskPair:
  """halfcheetah: run forward -> run at 2 m/s; target reset noise x3. No termination."""
  def env(noise):
    return brax_envs.get_environment("halfcheetah", backend="mjx", reset_noise_scale=noise)
  return brax_pair("halfcheetah", env(HALFCHEETAH_NOISE), env(HALFCHEETAH_TARGET_NOISE),
                   _x_velocity, 18, halfcheetah_source_reward, halfcheetah_target_reward,
                   base.never_terminates, episode_length)


# ---------------------------------------------------------------------------------------------
# hopper / walker2d: brax's obs starts with torso height z (x.pos) and torso angle q[2].
HOP_Z, HOP_ANGLE = 0, 1
HOPPER_VX, HOPPER_ABS_QD = 11, 12  # appended: x_velocity, max |qd| (obs clips qd to +-10)
WALKER_VX = 17                     # appended: x_velocity
HEALTHY_REWARD = 1.0
HOP_CTRL = 1e-3
HOP_TARGET_SPEED = 1.0
HOP_NOISE = 5e-3                   # brax's reset_noise_scale (source)
HOP_TARGET_NOISE = 2e-2            # x4 for the target


def _hopper_extra(state: BraxState) -> jax.Array:
  qd_abs_max = jnp.max(jnp.abs(state.pipeline_state.qd))
  return jnp.stack([state.metrics["x_velocity"], qd_abs_max])


def hopper_termination(obs, action, next_obs):
  """Brax's unhealthy test: |q[2:]|, |qd| >= 100, or z <= 0.7, or |angle| >= 0.2."""
  del obs, action
  healthy = jnp.all(jnp.abs(next_obs[..., 1:5]) < 100.0, axis=-1)
  healthy &= next_obs[..., HOPPER_ABS_QD] < 100.0
  healthy &= next_obs[..., HOP_Z] > 0.7
  healthy &= _in_open_interval(next_obs[..., HOP_ANGLE], -0.2, 0.2)
  return jnp.logical_not(healthy)


def walker2d_termination(obs, action, next_obs):
  """Brax's unhealthy test: z outside (0.8, 2.0) or angle outside (-1, 1)."""
  del obs, action
  healthy = _in_open_interval(next_obs[..., HOP_Z], 0.8, 2.0)
  healthy &= _in_open_interval(next_obs[..., HOP_ANGLE], -1.0, 1.0)
  return jnp.logical_not(healthy)


def _forward_reward(vx_index):
  def reward_fn(obs, action, next_obs):
    """Brax's reward: x_vel + healthy bonus - 1e-3 ||a||^2 (bonus paid on every step)."""
    del obs
    return next_obs[..., vx_index] + HEALTHY_REWARD - base.ctrl_cost(action, HOP_CTRL)
  return reward_fn


def _speed_reward(vx_index):
  def reward_fn(obs, action, next_obs):
    """Run at 1 m/s: -|x_vel - 1| + healthy bonus - 1e-3 ||a||^2."""
    del obs
    speed_error = jnp.abs(next_obs[..., vx_index] - HOP_TARGET_SPEED)
    return -speed_error + HEALTHY_REWARD - base.ctrl_cost(action, HOP_CTRL)
  return reward_fn


hopper_source_reward = _forward_reward(HOPPER_VX)
hopper_target_reward = _speed_reward(HOPPER_VX)
walker2d_source_reward = _forward_reward(WALKER_VX)
walker2d_target_reward = _speed_reward(WALKER_VX)


def make_hopper(episode_length: int) -> base.TaskPair:
  """hopper: run forward -> run at 1 m/s; obs 11 + [x_vel, max|qd|]; target noise x4."""
  def env(noise):
    return brax_envs.get_environment("hopper", backend="mjx", reset_noise_scale=noise)
  return brax_pair("hopper", env(HOP_NOISE), env(HOP_TARGET_NOISE), _hopper_extra, 13,
                   hopper_source_reward, hopper_target_reward, hopper_termination,
                   episode_length)


def make_walker2d(episode_length: int) -> base.TaskPair:
  """walker2d: run forward -> run at 1 m/s; obs 17 + [x_vel]; target noise x4."""
  def env(noise):
    return brax_envs.get_environment("walker2d", backend="mjx", reset_noise_scale=noise)
  return brax_pair("walker2d", env(HOP_NOISE), env(HOP_TARGET_NOISE), _x_velocity, 18,
                   walker2d_source_reward, walker2d_target_reward, walker2d_termination,
                   episode_length)


# ---------------------------------------------------------------------------------------------
# ant: obs = brax's 27 (q[2:], qd) + [x_vel, y_vel, torso z] -> 30. The torso z is appended
# because brax's health test reads the body position x.pos, which under MJX lags q by one
# physics substep, so obs[0] = q[2] is not it.
ANT_VX, ANT_VY, ANT_Z = 27, 28, 29
ANT_CTRL = 0.5
ANT_HEALTHY_Z = (0.2, 1.0)
ANT_TARGET_ANGLE = math.radians(60.0)
ANT_NOISE = 0.1                    # brax's reset_noise_scale (source)
ANT_TARGET_NOISE = 0.2             # x2 for the target


def _ant_extra(state: BraxState) -> jax.Array:
  return jnp.stack([state.metrics["x_velocity"], state.metrics["y_velocity"],
                    state.pipeline_state.x.pos[0, 2]])


def ant_source_reward(obs, action, next_obs):
  """Brax's reward: x_vel + 1 - 0.5 ||a||^2.

  Brax 0.14 fixes the contact cost to 0 (use_contact_forces is not implemented there), so it
  is 0 in both tasks here as well.
  """
  del obs
  return next_obs[..., ANT_VX] + HEALTHY_REWARD - base.ctrl_cost(action, ANT_CTRL)


def ant_target_reward(obs, action, next_obs):
  """Run along 60 degrees: (v_x cos 60 + v_y sin 60) + 1 - 0.5 ||a||^2."""
  del obs
  along = (math.cos(ANT_TARGET_ANGLE) * next_obs[..., ANT_VX]
           + math.sin(ANT_TARGET_ANGLE) * next_obs[..., ANT_VY])
  return along + HEALTHY_REWARD - base.ctrl_cost(action, ANT_CTRL)


def ant_termination(obs, action, next_obs):
  """Brax's unhealthy test: torso z < 0.2 or z > 1.0."""
  del obs, action
  z = next_obs[..., ANT_Z]
  return jnp.logical_or(z < ANT_HEALTHY_Z[0], z > ANT_HEALTHY_Z[1])


def make_ant(episode_length: int) -> base.TaskPair:
  """ant: run along +x -> run along 60 degrees; target reset noise x2."""
  def env(noise):
    return brax_envs.get_environment("ant", backend="mjx", reset_noise_scale=noise)
  return brax_pair("ant", env(ANT_NOISE), env(ANT_TARGET_NOISE), _ant_extra, 30,
                   ant_source_reward, ant_target_reward, ant_termination, episode_length)
