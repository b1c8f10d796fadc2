"""IQL (Kostrikov et al., 2022): offline-only (``iql``) and offline-to-online (``iql_ft``)
baseline of paper sec. 5.2-5.3. One agent serves both; the registry decides the phases.

Losses per update, in the reference code's order (value, actor, critic, then targets):
  V:  L_V = mean L_2^tau(min_i Q'_i(s, a) - V(s)),   L_2^tau(u) = |tau - 1(u < 0)| u^2
  pi: L_pi = -mean w log pi(a|s),  w = min(exp(beta (min_i Q'_i(s, a) - V(s))), w_max)   (AWR)
  Q:  L_Q = mean_i mean (Q_i(s, a) - y)^2,  y = r + gamma (1 - terminal) V(s')
Q' are Polyak-averaged target critics; the actor and critic steps use the freshly updated V.
tau = ``iql.expectile``, beta = ``iql.temperature``, w_max = ``iql.max_weight``.
Policy: ``networks.TanhMeanGaussianActor`` as in the reference code (acting deterministically
with tanh(mean) for evaluation).

Online fine-tuning (``iql_ft``): the same updates on batches of round(beta B) rows from D_off
and the rest from D_on (``replay.sample_mixed``); the registry fixes beta = 0.5.
info["td_error"] = mean |y - Q_i(s, a)| on a D_on batch where it can move beta; with the
registry's fixed beta it is nan (``protocol.make_update_many``).
"""
from typing import Any, NamedTuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from wombet_jax.agents import common, sac
from wombet_jax.agents.common import TrainState
from wombet_jax.agents.protocol import Agent
from wombet_jax.checks import Section
from wombet_jax.networks import (Actor, ValueNet, apply_ensemble, gaussian_log_prob, hidden_dims,
                                 init_ensemble, make_actor)


@flax.struct.dataclass
class IQLState:
  actor: TrainState
  critic: TrainState             # params stacked (N_Q, ...)
  target_critic_params: Any
  value: TrainState
  step: jax.Array


class Networks(NamedTuple):
  actor: Actor                   # "tanh_mean_gaussian"
  critic: nn.Module              # one member; parameters stacked (N_Q, ...)
  value: nn.Module               # V(s)


class Hyperparameters(NamedTuple):
  gamma: float
  tau: float
  expectile: float
  temperature: float             # beta of the AWR weights
  max_weight: float


def validate(cfg) -> None:
  s = Section(cfg.iql, "iql")
  s.number("expectile", 0.0, 1.0, lo_open=True, hi_open=True)
  for f in ("temperature", "max_weight"):
    s.number(f, 0.0, float("inf"), lo_open=True)


def make_networks(cfg, act_dim: int) -> Networks:
  """The networks of config ``cfg`` (agent and baselines sections)."""
  hid = hidden_dims(cfg.agent.hidden_size, cfg.agent.num_layers)
  return Networks(make_actor("tanh_mean_gaussian", act_dim, hid), common.twin_critic(cfg)[0],
                  ValueNet(hid, layer_norm=bool(cfg.baselines.layer_norm)))


def hyperparameters(cfg) -> Hyperparameters:
  i = cfg.iql
  return Hyperparameters(gamma=float(cfg.agent.discount), tau=float(cfg.agent.tau),
                         expectile=i.expectile, temperature=i.temperature,
                         max_weight=i.max_weight)


def expectile_loss(u: jax.Array, tau: float) -> jax.Array:
  """mean |tau - 1(u < 0)| u^2 (asymmetric L2; tau > 0.5 fits an upper expectile)."""
  weight = jnp.where(u < 0, 1.0 - tau, tau)
  return jnp.mean(weight * u ** 2)


def awr_weights(adv: jax.Array, temperature: float, max_weight: float) -> jax.Array:
  """min(exp(temperature * adv), max_weight); no gradient (weights are targets)."""
  return jax.lax.stop_gradient(jnp.minimum(jnp.exp(temperature * adv), max_weight))


def q_values(nets: Networks, critic_params, obs, action) -> jax.Array:
  return apply_ensemble(nets.critic, critic_params, obs, action)


def value_loss(nets: Networks, hp: Hyperparameters, value_params, obs, q_target) -> jax.Array:
  """L_V = mean L_2^tau(q_target - V(s)), q_target = min_i Q'_i(s, a)."""
  return expectile_loss(q_target - nets.value.apply(value_params, obs), hp.expectile)


def actor_loss(nets: Networks, hp: Hyperparameters, actor_params, batch, adv) -> jax.Array:
  """L_pi = -mean w log pi(a|s), w = min(exp(beta adv), w_max)."""
  mean, log_std = nets.actor.apply(actor_params, batch.obs)
  w = awr_weights(adv, hp.temperature, hp.max_weight)
  return -jnp.mean(w * gaussian_log_prob(mean, log_std, batch.action))


def critic_loss(nets: Networks, critic_params, batch, y):
  """(mean over members and batch of (Q_i(s, a) - y)^2, Q (N_Q, B))."""
  q = q_values(nets, critic_params, batch.obs, batch.action)
  return jnp.mean((q - y) ** 2), q


def critic_target(nets: Networks, hp: Hyperparameters, value_params, batch) -> jax.Array:
  """y = r + gamma (1 - terminal) V(s'); no gradient."""
  v_next = nets.value.apply(value_params, batch.next_obs)
  return jax.lax.stop_gradient(batch.reward + hp.gamma * (1.0 - batch.terminal) * v_next)


def losses(nets: Networks, hp: Hyperparameters, state: IQLState, batch) -> dict:
  """The three losses at ``state`` (each with the V of ``state``, i.e. before V's step)."""
  q_t = jnp.min(q_values(nets, state.target_critic_params, batch.obs, batch.action), axis=0)
  adv = q_t - nets.value.apply(state.value.params, batch.obs)
  return dict(value_loss=value_loss(nets, hp, state.value.params, batch.obs, q_t),
              actor_loss=actor_loss(nets, hp, state.actor.params, batch, adv),
              critic_loss=critic_loss(nets, state.critic.params, batch,
                                      critic_target(nets, hp, state.value.params, batch))[0])


def update(nets: Networks, hp: Hyperparameters, txs, state: IQLState, batch):
  """Value, actor, critic steps (that order), then the target critics."""
  actor_tx, critic_tx, value_tx = txs
  obs = batch.obs
  q_t = jax.lax.stop_gradient(
      jnp.min(q_values(nets, state.target_critic_params, obs, batch.action), axis=0))
  v_loss, gv = jax.value_and_grad(lambda vp: value_loss(nets, hp, vp, obs, q_t))(
      state.value.params)
  value = state.value.apply_gradients(value_tx, gv)

  adv = q_t - nets.value.apply(value.params, obs)
  a_loss, ga = jax.value_and_grad(lambda ap: actor_loss(nets, hp, ap, batch, adv))(
      state.actor.params)
  actor = state.actor.apply_gradients(actor_tx, ga)

  y = critic_target(nets, hp, value.params, batch)
  (c_loss, q), gc = jax.value_and_grad(lambda cp: critic_loss(nets, cp, batch, y),
                                       has_aux=True)(state.critic.params)
  critic = state.critic.apply_gradients(critic_tx, gc)
  new = IQLState(actor=actor, critic=critic,
                 target_critic_params=common.polyak(critic.params, state.target_critic_params,
                                                    hp.tau),
                 value=value, step=state.step + 1)
  return new, dict(value_loss=v_loss, actor_loss=a_loss, critic_loss=c_loss,
                   q_mean=jnp.mean(q), adv_mean=jnp.mean(adv), td_abs=common.td_abs(y, q))


def make_iql(ctx) -> Agent:
  """IQL agent for ``ctx`` (protocol.AgentContext): sizes and rates from config.agent, the
  rest from config.iql."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  sac.check_agent(cfg.agent, obs_dim, act_dim)
  validate(cfg)
  nets, hp = make_networks(cfg, act_dim), hyperparameters(cfg)
  n_q = int(cfg.baselines.num_critics)
  txs = (optax.adam(cfg.agent.actor_lr), optax.adam(cfg.agent.critic_lr),
         optax.adam(cfg.agent.critic_lr))

  def init(key):
    k_a, k_c, k_v = jax.random.split(key, 3)
    obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
    ap, vp = nets.actor.init(k_a, obs), nets.value.init(k_v, obs)
    cp = init_ensemble(nets.critic, k_c, n_q, obs, act)
    return IQLState(actor=TrainState.create(txs[0], ap), critic=TrainState.create(txs[1], cp),
                    target_critic_params=cp, value=TrainState.create(txs[2], vp),
                    step=jnp.zeros((), jnp.int32))

  def update_fn(state, key, batch, aux):
    del key, aux
    common.check_batch(batch, obs_dim, act_dim)
    return update(nets, hp, txs, state, batch)

  def td_fn(state, key, batch, aux):
    del key, aux
    y = critic_target(nets, hp, state.value.params, batch)
    return common.td_abs(y, q_values(nets, state.critic.params, batch.obs, batch.action))

  return common.assemble(
      cfg.agent, cfg.sampling, init=init,
      act=lambda s, k, o: nets.actor.sample(s.actor.params, k, o),
      act_deterministic=lambda s, o: nets.actor.deterministic(s.actor.params, o),
      update=update_fn, td_fn=td_fn, actor=nets.actor, actor_params=lambda s: s.actor.params)
