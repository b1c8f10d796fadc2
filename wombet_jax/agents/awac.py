"""AWAC (Nair et al., 2020): offline-to-online baseline of paper sec. 5.3.

Critic (twin, Polyak targets Q'), no entropy term:
  y = r + gamma (1 - terminal) min_i Q'_i(s', a'),  a' ~ pi(.|s'),
  L_Q = mean_i mean (Q_i(s, a) - y)^2.
Actor: advantage-weighted maximum likelihood on the batch's actions,
  A(s, a) = min_i Q_i(s, a) - min_i Q_i(s, a~),  a~ ~ pi(.|s)  (one-sample estimate of V^pi),
  w = min(exp(A / lambda), w_max),  L_pi = -mean w log pi(a|s),
with lambda = ``awac.temperature`` and the freshly updated critic (update order: critic, actor,
targets). Policy: ``networks.TanhMeanGaussianActor``; samples are clipped to [-1, 1].

Offline pretraining runs ``update`` on D_off; online fine-tuning the same updates on batches of
round(beta B) rows of D_off and the rest of D_on (``replay.sample_mixed``, beta fixed at 0.5 by
the registry) instead of AWAC's single growing buffer: same data, symmetric weighting.
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
from wombet_jax.agents.iql import awr_weights
from wombet_jax.agents.protocol import Agent
from wombet_jax.checks import Section
from wombet_jax.networks import (Actor, apply_ensemble, gaussian_log_prob, hidden_dims,
                                 make_actor)


@flax.struct.dataclass
class AWACState:
  actor: TrainState
  critic: TrainState             # params stacked (N_Q, ...)
  target_critic_params: Any
  step: jax.Array


class Networks(NamedTuple):
  actor: Actor                   # "tanh_mean_gaussian"
  critic: nn.Module              # one member; parameters stacked (N_Q, ...)


class Hyperparameters(NamedTuple):
  gamma: float
  tau: float
  inv_lambda: float              # 1 / awac.temperature
  max_weight: float


def validate(cfg) -> None:
  s = Section(cfg.awac, "awac")
  for f in ("temperature", "max_weight"):
    s.number(f, 0.0, float("inf"), lo_open=True)


def make_networks(cfg, act_dim: int) -> Networks:
  """The networks of config ``cfg`` (agent and baselines sections)."""
  hid = hidden_dims(cfg.agent.hidden_size, cfg.agent.num_layers)
  return Networks(make_actor("tanh_mean_gaussian", act_dim, hid), common.twin_critic(cfg)[0])


def hyperparameters(cfg) -> Hyperparameters:
  return Hyperparameters(gamma=float(cfg.agent.discount), tau=float(cfg.agent.tau),
                         inv_lambda=1.0 / float(cfg.awac.temperature),
                         max_weight=cfg.awac.max_weight)


def q_values(nets: Networks, critic_params, obs, action) -> jax.Array:
  return apply_ensemble(nets.critic, critic_params, obs, action)


def q_min(nets: Networks, critic_params, obs, action) -> jax.Array:
  return jnp.min(q_values(nets, critic_params, obs, action), axis=0)


def critic_target(nets: Networks, hp: Hyperparameters, actor_params, target_critic_params,
                  batch, key) -> jax.Array:
  """y = r + gamma (1 - terminal) min_i Q'_i(s', a'), a' ~ pi(.|s'); no gradient."""
  q_next = q_min(nets, target_critic_params, batch.next_obs,
                 nets.actor.sample(actor_params, key, batch.next_obs))
  return jax.lax.stop_gradient(batch.reward + hp.gamma * (1.0 - batch.terminal) * q_next)


def critic_loss(nets: Networks, critic_params, batch, y):
  """(mean over members and batch of (Q_i(s, a) - y)^2, Q (N_Q, B))."""
  q = q_values(nets, critic_params, batch.obs, batch.action)
  return jnp.mean((q - y) ** 2), q


def advantage(nets: Networks, critic_params, actor_params, key, batch) -> jax.Array:
  """A(s, a) = min_i Q_i(s, a) - min_i Q_i(s, a~), a~ ~ pi(.|s) from key; no gradient."""
  return jax.lax.stop_gradient(
      q_min(nets, critic_params, batch.obs, batch.action)
      - q_min(nets, critic_params, batch.obs, nets.actor.sample(actor_params, key, batch.obs)))


def actor_loss(nets: Networks, hp: Hyperparameters, actor_params, adv, batch) -> jax.Array:
  """L_pi = -mean w log pi(a|s), w = min(exp(A / lambda), w_max)."""
  mean, log_std = nets.actor.apply(actor_params, batch.obs)
  w = awr_weights(adv, hp.inv_lambda, hp.max_weight)
  return -jnp.mean(w * gaussian_log_prob(mean, log_std, batch.action))


def losses(nets: Networks, hp: Hyperparameters, state: AWACState, key, batch) -> dict:
  """Both losses at ``state`` (the actor's with the critic of ``state``), keys as update."""
  k_t, k_a = jax.random.split(key)
  adv = advantage(nets, state.critic.params, state.actor.params, k_a, batch)
  y = critic_target(nets, hp, state.actor.params, state.target_critic_params, batch, k_t)
  return dict(critic_loss=critic_loss(nets, state.critic.params, batch, y)[0],
              actor_loss=actor_loss(nets, hp, state.actor.params, adv, batch))


def update(nets: Networks, hp: Hyperparameters, txs, state: AWACState, key, batch):
  """Critic, actor (with the updated critic), then the targets; k_t, k_a = split(key)."""
  actor_tx, critic_tx = txs
  k_t, k_a = jax.random.split(key)
  y = critic_target(nets, hp, state.actor.params, state.target_critic_params, batch, k_t)
  (c_loss, q), gc = jax.value_and_grad(lambda cp: critic_loss(nets, cp, batch, y),
                                       has_aux=True)(state.critic.params)
  critic = state.critic.apply_gradients(critic_tx, gc)
  adv = advantage(nets, critic.params, state.actor.params, k_a, batch)
  a_loss, ga = jax.value_and_grad(lambda ap: actor_loss(nets, hp, ap, adv, batch))(
      state.actor.params)
  actor = state.actor.apply_gradients(actor_tx, ga)
  new = AWACState(actor=actor, critic=critic,
                  target_critic_params=common.polyak(critic.params, state.target_critic_params,
                                                     hp.tau),
                  step=state.step + 1)
  return new, dict(critic_loss=c_loss, actor_loss=a_loss, q_mean=jnp.mean(q),
                   adv_mean=jnp.mean(adv), td_abs=common.td_abs(y, q))


def make_awac(ctx) -> Agent:
  """AWAC agent for ``ctx`` (protocol.AgentContext): sizes/rates config.agent, rest config.awac."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  sac.check_agent(cfg.agent, obs_dim, act_dim)
  validate(cfg)
  nets, hp = make_networks(cfg, act_dim), hyperparameters(cfg)
  n_q = int(cfg.baselines.num_critics)
  txs = (optax.adam(cfg.agent.actor_lr), optax.adam(cfg.agent.critic_lr))

  def init(key):
    actor, critic = common.init_actor_critic(nets, txs, n_q, obs_dim, act_dim, key)
    return AWACState(actor=actor, critic=critic, target_critic_params=critic.params,
                     step=jnp.zeros((), jnp.int32))

  def update_fn(state, key, batch, aux):
    del aux
    common.check_batch(batch, obs_dim, act_dim)
    return update(nets, hp, txs, state, key, batch)

  def td_fn(state, key, batch, aux):
    del aux
    y = critic_target(nets, hp, state.actor.params, state.target_critic_params, batch, key)
    return common.td_abs(y, q_values(nets, state.critic.params, batch.obs, batch.action))

  return common.assemble(
      cfg.agent, cfg.sampling, init=init,
      act=lambda s, k, o: nets.actor.sample(s.actor.params, k, o),
      act_deterministic=lambda s, o: nets.actor.deterministic(s.actor.params, o),
      update=update_fn, td_fn=td_fn, actor=nets.actor, actor_params=lambda s: s.actor.params)
