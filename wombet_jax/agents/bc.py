"""Behaviour cloning: the simplest offline-only baseline of paper sec. 5.2.

Policy pi(a|s) = N(mu(s), sigma^2), mu(s) = tanh(MLP(s)), sigma a learned state-independent
parameter (``common.TanhMeanGaussianActor``). Loss on dataset pairs (s, a), ``bc.loss``:
  "nll": L = -mean log pi(a|s)          (maximum likelihood)
  "mse": L = mean ||mu(s) - a||^2        (deterministic regression; sigma is not trained)
Evaluation acts with mu(s); exploration samples pi(.|s) clipped to [-1, 1]. BC has no critic:
info["td_error"] is nan. ``update_many`` (never called by the loop for an offline-only
algorithm) runs G steps on mixed batches like the other agents.
"""
import flax
import jax
import jax.numpy as jnp
import optax

from wombet_jax.agents import common
from wombet_jax.agents.protocol import Agent
from wombet_jax.networks import hidden_dims

LOSSES = ("nll", "mse")


@flax.struct.dataclass
class BCState:
  actor_params: object
  actor_opt: object
  step: jax.Array


def bc_loss(mean, log_std, action, kind: str):
  """The ``bc.loss`` of the module docstring from the policy's (mean, log_std)."""
  if kind == "nll":
    return -jnp.mean(common.gaussian_log_prob(mean, log_std, action))
  return jnp.mean(jnp.sum((mean - action) ** 2, axis=-1))


def validate(cfg) -> None:
  common.require(cfg.bc.loss in LOSSES, "bc.loss", cfg.bc.loss, f"must be one of {LOSSES}")


def make_bc(ctx) -> Agent:
  """BC agent for ``ctx`` (protocol.AgentContext); network sizes and actor_lr from config.agent."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  common.check_agent(cfg.agent, obs_dim, act_dim)
  validate(cfg)
  kind = cfg.bc.loss
  actor = common.TanhMeanGaussianActor(act_dim, hidden_dims(cfg.agent.hidden_size,
                                                            cfg.agent.num_layers))
  tx = optax.adam(cfg.agent.actor_lr)

  def init(key):
    params = actor.init(key, jnp.zeros((1, obs_dim)))
    return BCState(actor_params=params, actor_opt=tx.init(params), step=jnp.zeros((), jnp.int32))

  def act(state, key, obs):
    return common.gaussian_sample(key, *actor.apply(state.actor_params, obs))

  def act_deterministic(state, obs):
    return actor.apply(state.actor_params, obs)[0]

  def loss(params, batch):
    mean, log_std = actor.apply(params, common.field(batch, "obs"))
    return bc_loss(mean, log_std, common.field(batch, "action"), kind)

  def update(state, key, batch, aux):
    del key, aux
    common.check_batch(batch, obs_dim, act_dim)
    value, g = jax.value_and_grad(loss)(state.actor_params, batch)
    params, opt = common.apply_grads(tx, g, state.actor_opt, state.actor_params)
    return BCState(actor_params=params, actor_opt=opt, step=state.step + 1), dict(bc_loss=value)

  def td_abs(state, key, batch, aux):
    del state, key, batch, aux
    return jnp.float32(jnp.nan)  # no value function

  def losses(state, key, batch, aux):
    del key, aux
    return dict(bc_loss=loss(state.actor_params, batch))

  return common.assemble(
      cfg, init=init, act=act, act_deterministic=act_deterministic, update=update,
      td_abs=td_abs, losses=losses,
      extras=dict(policy=lambda s, o: actor.apply(s.actor_params, o)))
