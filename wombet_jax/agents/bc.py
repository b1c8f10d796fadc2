"""Behaviour cloning: the simplest offline-only baseline of paper sec. 5.2.

Policy pi(a|s) = N(mu(s), sigma^2), mu(s) = tanh(MLP(s)), sigma a learned state-independent
parameter (``networks.TanhMeanGaussianActor``). Loss on dataset pairs (s, a), ``bc.loss``:
  "nll": L = -mean log pi(a|s)          (maximum likelihood)
  "mse": L = mean ||mu(s) - a||^2        (deterministic regression; sigma is not trained)
Evaluation acts with mu(s); exploration samples pi(.|s) clipped to [-1, 1]. BC has no critic,
so no TD error: info["td_error"] is nan (``protocol.make_update_many`` without a ``td_fn``;
BC runs offline only, so the loop never calls ``update_many``, which runs G steps on mixed
batches like the other agents).
"""
import flax
import jax
import jax.numpy as jnp
import optax

from wombet_jax.agents import common, sac
from wombet_jax.agents.common import TrainState
from wombet_jax.agents.protocol import Agent
from wombet_jax.checks import Section
from wombet_jax.networks import Actor, gaussian_log_prob, hidden_dims, make_actor

LOSSES = ("nll", "mse")


@flax.struct.dataclass
class BCState:
  actor: TrainState
  step: jax.Array


def validate(cfg) -> None:
  Section(cfg.bc, "bc").choice("loss", LOSSES)


def bc_loss(actor: Actor, kind: str, actor_params, batch) -> jax.Array:
  """The ``bc.loss`` ``kind`` of the module docstring on the batch's (s, a)."""
  mean, log_std = actor.apply(actor_params, batch.obs)
  if kind == "nll":
    return -jnp.mean(gaussian_log_prob(mean, log_std, batch.action))
  return jnp.mean(jnp.sum((mean - batch.action) ** 2, axis=-1))


def update(actor: Actor, kind: str, tx, state: BCState, batch):
  value, g = jax.value_and_grad(lambda p: bc_loss(actor, kind, p, batch))(state.actor.params)
  return (BCState(actor=state.actor.apply_gradients(tx, g), step=state.step + 1),
          dict(bc_loss=value))


def make_bc(ctx) -> Agent:
  """BC agent for ``ctx`` (protocol.AgentContext); network sizes and actor_lr from config.agent."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  sac.check_agent(cfg.agent, obs_dim, act_dim)
  validate(cfg)
  kind = cfg.bc.loss
  actor = make_actor("tanh_mean_gaussian", act_dim, hidden_dims(cfg.agent.hidden_size,
                                                                cfg.agent.num_layers))
  tx = optax.adam(cfg.agent.actor_lr)

  def init(key):
    return BCState(actor=TrainState.create(tx, actor.init(key, jnp.zeros((1, obs_dim)))),
                   step=jnp.zeros((), jnp.int32))

  def update_fn(state, key, batch, aux):
    del key, aux
    common.check_batch(batch, obs_dim, act_dim)
    return update(actor, kind, tx, state, batch)

  return common.assemble(
      cfg.agent, cfg.sampling, init=init,
      act=lambda s, k, o: actor.sample(s.actor.params, k, o),
      act_deterministic=lambda s, o: actor.deterministic(s.actor.params, o),
      update=update_fn, td_fn=None, actor=actor, actor_params=lambda s: s.actor.params)
