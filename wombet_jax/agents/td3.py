"""TD3 (Fujimoto et al., 2018): the deterministic-policy online baseline of paper sec. 5.1.

Deterministic actor mu(s) = tanh(MLP(s)), twin critics (``config.baselines``), target actor and
target critics. Critic target with target-policy smoothing (clipped noise):

  a' = clip(mu'(s') + clip(eps, -c, c), -1, 1),  eps ~ N(0, sigma^2 I),
  y  = r + gamma (1 - terminal) min_i Q'_i(s', a'),
  L_Q = mean_i mean_batch (Q_i(s, a) - y)^2.

Delayed policy update: every ``td3.policy_delay``-th call of ``update`` the actor ascends
Q_1(s, mu(s)) and the target networks move by Polyak averaging (tau); on the other calls actor
and targets are untouched. Exploration adds N(0, (td3.exploration_noise)^2) to mu(s).
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
from wombet_jax.networks import Actor, apply_ensemble, hidden_dims, make_actor


@flax.struct.dataclass
class TD3State:
  actor: TrainState
  critic: TrainState            # params stacked (N_Q, ...)
  target_actor_params: Any
  target_critic_params: Any
  step: jax.Array               # () int32, calls of update so far


class Networks(NamedTuple):
  actor: Actor                  # "deterministic": mu(s) = tanh(MLP(s))
  critic: nn.Module             # one member; parameters stacked (N_Q, ...)


class Hyperparameters(NamedTuple):
  gamma: float
  tau: float
  policy_noise: float
  noise_clip: float
  policy_delay: int


def validate(cfg) -> None:
  s = Section(cfg.td3, "td3")
  for f in ("policy_noise", "noise_clip", "exploration_noise"):
    s.nonnegative(f)
  s.integer("policy_delay")


def make_networks(cfg, act_dim: int) -> Networks:
  """The networks of config ``cfg`` (agent, baselines and td3 sections)."""
  hid = hidden_dims(cfg.agent.hidden_size, cfg.agent.num_layers)
  return Networks(make_actor("deterministic", act_dim, hid, noise=cfg.td3.exploration_noise),
                  common.twin_critic(cfg)[0])


def hyperparameters(cfg) -> Hyperparameters:
  t = cfg.td3
  return Hyperparameters(gamma=float(cfg.agent.discount), tau=float(cfg.agent.tau),
                         policy_noise=t.policy_noise, noise_clip=t.noise_clip,
                         policy_delay=int(t.policy_delay))


def smoothed_target_action(mu_next: jax.Array, key: jax.Array, noise: float,
                           noise_clip: float) -> jax.Array:
  """a' = clip(mu'(s') + clip(sigma eps, -c, c), -1, 1) with eps = normal(key, mu.shape)."""
  eps = noise * jax.random.normal(key, mu_next.shape, mu_next.dtype)
  return jnp.clip(mu_next + jnp.clip(eps, -noise_clip, noise_clip), -1.0, 1.0)


def q_values(nets: Networks, critic_params, obs, action) -> jax.Array:
  return apply_ensemble(nets.critic, critic_params, obs, action)


def critic_target(nets: Networks, hp: Hyperparameters, target_actor_params,
                  target_critic_params, batch, key) -> jax.Array:
  """y of the module docstring (no gradient)."""
  a_next = smoothed_target_action(nets.actor.apply(target_actor_params, batch.next_obs), key,
                                  hp.policy_noise, hp.noise_clip)
  q_next = jnp.min(q_values(nets, target_critic_params, batch.next_obs, a_next), axis=0)
  return jax.lax.stop_gradient(batch.reward + hp.gamma * (1.0 - batch.terminal) * q_next)


def critic_loss(nets: Networks, critic_params, batch, y):
  """(mean over members and batch of (Q_i(s, a) - y)^2, Q (N_Q, B))."""
  q = q_values(nets, critic_params, batch.obs, batch.action)
  return jnp.mean((q - y) ** 2), q


def actor_loss(nets: Networks, actor_params, critic_params, obs) -> jax.Array:
  """-mean Q_1(s, mu(s)): the deterministic policy gradient uses the first critic."""
  q = q_values(nets, critic_params, obs, nets.actor.apply(actor_params, obs))[0]
  return -jnp.mean(q)


def update(nets: Networks, hp: Hyperparameters, txs, state: TD3State, key, batch):
  """The critic step; on every policy_delay-th call also the actor step and the targets."""
  actor_tx, critic_tx = txs
  y = critic_target(nets, hp, state.target_actor_params, state.target_critic_params, batch, key)
  (c_loss, q), g = jax.value_and_grad(lambda p: critic_loss(nets, p, batch, y), has_aux=True)(
      state.critic.params)
  critic = state.critic.apply_gradients(critic_tx, g)

  def actor_step(_):
    a_loss, ga = jax.value_and_grad(lambda p: actor_loss(nets, p, critic.params, batch.obs))(
        state.actor.params)
    actor = state.actor.apply_gradients(actor_tx, ga)
    return (actor, common.polyak(actor.params, state.target_actor_params, hp.tau),
            common.polyak(critic.params, state.target_critic_params, hp.tau), a_loss)

  def skip(_):
    return (state.actor, state.target_actor_params, state.target_critic_params,
            jnp.float32(jnp.nan))

  actor, tap, tcp, a_loss = jax.lax.cond(state.step % hp.policy_delay == 0, actor_step, skip,
                                         None)
  new = TD3State(actor=actor, critic=critic, target_actor_params=tap, target_critic_params=tcp,
                 step=state.step + 1)
  # nan on skipped steps; nanmean over a block of G updates gives the mean actor loss.
  return new, dict(critic_loss=c_loss, actor_loss=a_loss, q_mean=jnp.mean(q),
                   td_abs=common.td_abs(y, q))


def make_td3(ctx) -> Agent:
  """TD3 agent for ``ctx`` (protocol.AgentContext); sizes and rates from config.agent/td3."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  sac.check_agent(cfg.agent, obs_dim, act_dim)
  validate(cfg)
  nets, hp = make_networks(cfg, act_dim), hyperparameters(cfg)
  n_q = int(cfg.baselines.num_critics)
  txs = (optax.adam(cfg.agent.actor_lr), optax.adam(cfg.agent.critic_lr))

  def init(key):
    actor, critic = common.init_actor_critic(nets, txs, n_q, obs_dim, act_dim, key)
    return TD3State(actor=actor, critic=critic, target_actor_params=actor.params,
                    target_critic_params=critic.params, step=jnp.zeros((), jnp.int32))

  def update_fn(state, key, batch, aux):
    del aux
    common.check_batch(batch, obs_dim, act_dim)
    return update(nets, hp, txs, state, key, batch)

  def td_fn(state, key, batch, aux):
    del aux
    y = critic_target(nets, hp, state.target_actor_params, state.target_critic_params, batch,
                      key)
    return common.td_abs(y, q_values(nets, state.critic.params, batch.obs, batch.action))

  return common.assemble(
      cfg.agent, cfg.sampling, init=init, act=lambda s, k, o: nets.actor.sample(s.actor.params,
                                                                                 k, o),
      act_deterministic=lambda s, o: nets.actor.deterministic(s.actor.params, o),
      update=update_fn, td_fn=td_fn, actor=nets.actor, actor_params=lambda s: s.actor.params,
      optional_losses=("actor_loss",))  # nan on the skipped actor steps
