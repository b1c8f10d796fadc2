"""inverted_double_pendulum (brax, backend "mjx"): balance at the centre -> at cart x = 0.5.

Obs = brax's 8 (cart x, sin q1, sin q2, cos q1, cos q2, clip(qd, +-10)) + appended
[tip x, tip z, q1 dot, q2 dot] -> 12. Brax's reward reads the tip position of the body
transform and the unclipped joint velocities, neither of which its obs holds, hence the
appended features; with them reward and termination are exact functions of next_obs.

Source: brax's task, r = 10 (1 - d) - (0.01 tip_x^2 + (tip_z - 2)^2) - (1e-3 v1^2 + 5e-3 v2^2),
d = [tip_z <= 1], init cart x ~ U[-0.01, 0.01] (brax's reset).
Target: hold the cart at x = 0.5: the tip-x term is re-centred at 0.5 and -|cart_x - 0.5|
is added; init cart x ~ 0.25 + U[-0.1, 0.1] (shifted: the agent must move and balance).
Termination (both, brax's): tip_z <= 1.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from brax import base as brax_base
from brax.envs.base import State as BraxState
from brax.envs.inverted_double_pendulum import InvertedDoublePendulum

from wombet_jax.envs import base, mjx_tasks

OBS_DIM = 12
CART_X, TIP_X, TIP_Z, V1, V2 = 0, 8, 9, 10, 11
ALIVE_BONUS = 10.0
TARGET_CART_X = 0.5
CART_WEIGHT = 1.0
TARGET_INIT_SHIFT = 0.25
TARGET_INIT_HALF_WIDTH = 0.1
POLE_LENGTH = 0.6     # from brax's xml: the tip sits 0.6 above the second pole's frame


class ShiftedCartPendulum(InvertedDoublePendulum):
  """Brax's double pendulum whose reset adds a cart offset ~ shift + U[-half, half]."""

  def __init__(self, shift: float, half_width: float, **kwargs):
    super().__init__(**kwargs)
    self._shift = shift
    self._half_width = half_width

  def reset(self, rng: jax.Array) -> BraxState:
    # Same noise as brax's reset (q ~ U[-0.01, 0.01], qd ~ 0.01 N(0, 1)) plus the cart shift.
    rng_q, rng_qd, rng_cart = jax.random.split(rng, 3)
    q = self.sys.init_q + jax.random.uniform(rng_q, (self.sys.q_size(),), minval=-0.01,
                                             maxval=0.01)
    cart = self._shift + jax.random.uniform(rng_cart, (), minval=-self._half_width,
                                            maxval=self._half_width)
    q = q.at[0].add(cart)
    qd = 0.01 * jax.random.normal(rng_qd, (self.sys.qd_size(),))
    pipeline_state = self.pipeline_init(q, qd)
    zero = jnp.zeros(())
    return BraxState(pipeline_state, self._get_obs(pipeline_state), zero, zero, {})


def _extra(state: BraxState) -> jax.Array:
  ps = state.pipeline_state
  tip = ps.x.take(2).do(brax_base.Transform.create(pos=jnp.array([0.0, 0.0, POLE_LENGTH])))
  return jnp.stack([tip.pos[0], tip.pos[2], ps.qd[1], ps.qd[2]])


def idp_termination(obs, action, next_obs):
  """Brax's: the pendulum has fallen when the tip is at or below z = 1."""
  del obs, action
  return next_obs[..., TIP_Z] <= 1.0


def _balance_reward(next_obs: jax.Array, centre: float, cart_weight: float) -> jax.Array:
  fallen = idp_termination(None, None, next_obs).astype(jnp.float32)
  dist = 0.01 * (next_obs[..., TIP_X] - centre) ** 2 + (next_obs[..., TIP_Z] - 2.0) ** 2
  vel = 1e-3 * next_obs[..., V1] ** 2 + 5e-3 * next_obs[..., V2] ** 2
  cart = cart_weight * jnp.abs(next_obs[..., CART_X] - centre)
  return ALIVE_BONUS * (1.0 - fallen) - dist - vel - cart


def idp_source_reward(obs, action, next_obs):
  """Brax's reward: alive bonus - tip distance - joint-velocity penalty."""
  del obs, action
  return _balance_reward(next_obs, 0.0, 0.0)


def idp_target_reward(obs, action, next_obs):
  """Balance with the cart at 0.5: brax's terms with tip x re-centred, - |cart_x - 0.5|."""
  del obs, action
  return _balance_reward(next_obs, TARGET_CART_X, CART_WEIGHT)


def make_inverted_double_pendulum(episode_length: int) -> base.TaskPair:
  """inverted_double_pendulum: balance at x = 0 -> balance with the cart at x = 0.5."""
  return mjx_tasks.brax_pair(
      "inverted_double_pendulum", InvertedDoublePendulum(backend="mjx"),
      ShiftedCartPendulum(TARGET_INIT_SHIFT, TARGET_INIT_HALF_WIDTH, backend="mjx"), _extra,
      OBS_DIM, idp_source_reward, idp_target_reward, idp_termination, episode_length)
