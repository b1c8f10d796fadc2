"""Task-pair containers and the generic auto-resetting step shared by every environment.

A WOMBET problem is a pair of tasks with shared dynamics P that differ in reward and initial
distribution: T_S = (r_S, rho_S) and T_T = (r_T, rho_T) (paper sec. 3; docs/method.md "The
problem"). Rewards and terminations are pure functions of (obs, action, next_obs) so that
imagined transitions can be relabelled with r_T without a simulator (step 4 of the loop); the
env's reported reward is *computed by* that function, so relabelling is exact.

Everything here is for one unbatched env; callers `jax.vmap` over envs.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import chex
import flax
import jax
import jax.numpy as jnp

# (obs, action, next_obs) -> reward or bool termination; broadcasts over leading axes.
TransitionFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


@flax.struct.dataclass
class EnvState:
  """One unbatched environment between steps."""
  inner: Any                 # simulator state: a brax State, or the tiny env's own pytree
  obs: jax.Array             # (obs_dim,) observation of the current state
  t: jax.Array               # () int32, steps taken in the current episode
  key: jax.Array             # PRNG key, consumed only by (auto-)resets
  episode_return: jax.Array  # () float32, running return of the current episode


@flax.struct.dataclass
class Transition:
  """(s, a, r, s') with the episode-end flags; what replay buffers store."""
  obs: jax.Array       # (obs_dim,)
  action: jax.Array    # (act_dim,) the action actually applied, clipped to [-1, 1]
  reward: jax.Array    # () float32, == reward_fn(obs, action, next_obs)
  next_obs: jax.Array  # (obs_dim,) true last observation, taken before any auto-reset
  terminal: jax.Array  # () float32, 1.0 iff the episode ended by termination (bootstrap with 0)
  done: jax.Array      # () float32, 1.0 iff terminal or truncated at episode_length


@dataclasses.dataclass(frozen=True)
class Task:
  """One of source / target: its own rho (reset) and r (reward_fn); dynamics are shared.

  `step` auto-resets: when a step ends the episode, the returned state is a fresh random
  reset (drawn from this task's rho with the state's key), while the Transition keeps the true
  last observation. The completed episode's return is `state.episode_return + tr.reward`
  of the done step; the returned state starts a new return at 0.
  """
  reset: Callable[[jax.Array], EnvState]
  step: Callable[[EnvState, jax.Array], tuple[EnvState, Transition]]
  reward_fn: TransitionFn
  termination_fn: TransitionFn


@dataclasses.dataclass(frozen=True)
class TaskPair:
  """A source/target pair with shared dynamics; actions live in [-1, 1]^act_dim."""
  name: str
  obs_dim: int
  act_dim: int
  episode_length: int
  source: Task
  target: Task


def l2_norm(x: jax.Array) -> jax.Array:
  """Euclidean norm over the last axis, with a finite (zero) gradient at x = 0."""
  sq = jnp.sum(jnp.square(x), axis=-1)
  positive = sq > 0.0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def ctrl_cost(action: jax.Array, weight: float) -> jax.Array:
  """weight * ||a||^2 over the last axis (the MuJoCo tasks' control penalty)."""
  return weight * jnp.sum(jnp.square(action), axis=-1)


def never_terminates(obs: jax.Array, action: jax.Array, next_obs: jax.Array) -> jax.Array:
  """Termination function of tasks that only end by the time limit."""
  del obs, action
  return jnp.zeros(next_obs.shape[:-1], dtype=bool)


def make_task(
    reset_inner: Callable[[jax.Array], tuple[Any, jax.Array]],
    step_inner: Callable[[Any, jax.Array], tuple[Any, jax.Array]],
    reward_fn: TransitionFn,
    termination_fn: TransitionFn,
    obs_dim: int,
    act_dim: int,
    episode_length: int,
) -> Task:
  """Builds a Task with clipping, exact rewards, time limit and random auto-reset.

  Args:
    reset_inner: key -> (inner state, obs) drawn from this task's initial distribution rho.
    step_inner: (inner, clipped action) -> (inner, next_obs); the shared dynamics P.
    reward_fn, termination_fn: this task's r and termination, pure in (obs, action, next_obs).
    obs_dim, act_dim: static sizes, checked at the boundary.
    episode_length: time limit; done = terminal or t + 1 >= episode_length.
  """
  if episode_length < 1:
    raise ValueError(f"episode_length must be a positive int, got {episode_length!r}")

  def reset(key: jax.Array) -> EnvState:
    key, inner_key = jax.random.split(key)
    inner, obs = reset_inner(inner_key)
    chex.assert_shape(obs, (obs_dim,))
    return EnvState(inner=inner, obs=obs, t=jnp.zeros((), jnp.int32), key=key,
                    episode_return=jnp.zeros((), jnp.float32))

  def step(state: EnvState, action: jax.Array) -> tuple[EnvState, Transition]:
    chex.assert_shape(action, (act_dim,))
    action = jnp.clip(action, -1.0, 1.0)
    inner, next_obs = step_inner(state.inner, action)
    reward = reward_fn(state.obs, action, next_obs).astype(jnp.float32)
    terminal = termination_fn(state.obs, action, next_obs)
    t = state.t + 1
    done = jnp.logical_or(terminal, t >= episode_length)
    transition = Transition(obs=state.obs, action=action, reward=reward, next_obs=next_obs,
                            terminal=terminal.astype(jnp.float32),
                            done=done.astype(jnp.float32))
    running = EnvState(inner=inner, obs=next_obs, t=t, key=state.key,
                       episode_return=state.episode_return + reward)
    # A fresh draw from rho, not brax's reset-to-first-state: every episode gets a new start.
    # Under vmap a lax.cond would evaluate both branches anyway, so select explicitly.
    fresh = reset(state.key)
    new_state = jax.tree_util.tree_map(lambda f, r: jnp.where(done, f, r), fresh, running)
    return new_state, transition

  return Task(reset=reset, step=step, reward_fn=reward_fn, termination_fn=termination_fn)
