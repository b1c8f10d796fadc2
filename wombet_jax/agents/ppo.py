"""PPO (Schulman et al., 2017): the on-policy online baseline of paper sec. 5.1.

Tanh-Gaussian actor and a state-value net V(s), one Adam optimiser (with global-norm clipping)
on the summed loss of each minibatch (advantages normalised per minibatch):

  L = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)) + c_v mean((V(s) - R)^2) - c_e H,
  rho = pi(a|s) / pi_old(a|s),  R = A + V_old(s),
  H = entropy of the pre-tanh Gaussian (the tanh-squashed one has no closed form).

GAE over a time-ordered rollout, with episode ends handled exactly because every transition
stores its true next observation:
  delta_t = r_t + gamma (1 - terminal_t) V(s'_t) - V(s_t),
  A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}   (A after the last step = 0).

How on-policy learning fits the shared loop (one env per seed, ``update_many`` every env step):
the agent counts its ``update_many`` calls; on every ``ppo.rollout_length``-th call (lax.cond)
it reads the LAST rollout_length transitions of D_on by the buffer's ``ptr``, recomputes the
old log-probs and values with the current parameters (they are the behaviour parameters: they
only change at these updates) and runs ``num_epochs`` x ``num_minibatches`` gradient steps.
Other calls change nothing but the counter. Transitions from the loop's uniform-random warm-up
that fall into the first rollout are treated as if on-policy. ``update(state, key, rollout)``
is one full PPO iteration on a given time-ordered rollout (PPO has no offline pretraining).
info["td_error"] is mean |delta_t| of V on the last rollout (nan before the first update).
Network sizes and the discount come from config.agent; agent.batch_size and agent.utd are
not used (PPO's minibatches and epochs are config.ppo's).
"""
from typing import NamedTuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from wombet_jax.agents import common, sac
from wombet_jax.agents.common import TrainState
from wombet_jax.agents.protocol import Agent, jit_agent
from wombet_jax.checks import Section
from wombet_jax.networks import Actor, ValueNet, hidden_dims, make_actor, tanh_gaussian_log_prob

_HALF_LOG_2PI_E = 0.5 * (1.0 + jnp.log(2.0 * jnp.pi))
LOSSES = ("policy_loss", "value_loss")  # the losses update_many reports


@flax.struct.dataclass
class PPOState:
  # params {"actor": TanhGaussianActor params, "value": ValueNet params}: one optimiser on
  # the summed loss, its gradient clipped by the global norm over both networks.
  nets: TrainState
  count: jax.Array          # () int32, update_many calls so far
  last_td: jax.Array        # () float32, mean |delta| of the last rollout (nan before any)


class Networks(NamedTuple):
  actor: Actor              # "tanh_gaussian"
  value: nn.Module          # V(s)


class Hyperparameters(NamedTuple):
  gamma: float
  gae_lambda: float
  clip_eps: float
  value_coef: float
  entropy_coef: float


def validate(cfg) -> None:
  p = cfg.ppo
  s = Section(p, "ppo")
  for f in ("rollout_length", "num_epochs", "num_minibatches"):
    s.integer(f)
  for f in ("clip_eps", "learning_rate", "max_grad_norm"):
    s.number(f, 0.0, float("inf"), lo_open=True)
  if p.rollout_length % p.num_minibatches:
    s.fail("num_minibatches", f"must divide ppo.rollout_length={p.rollout_length}")
  if p.rollout_length > cfg.loop.online_capacity:
    s.fail("rollout_length", f"must be <= loop.online_capacity={cfg.loop.online_capacity}")
  s.number("gae_lambda", 0.0, 1.0)
  for f in ("value_coef", "entropy_coef"):
    s.nonnegative(f)


def make_networks(cfg, act_dim: int) -> Networks:
  hid = hidden_dims(cfg.agent.hidden_size, cfg.agent.num_layers)
  return Networks(make_actor("tanh_gaussian", act_dim, hid), ValueNet(hid, layer_norm=False))


def hyperparameters(cfg) -> Hyperparameters:
  p = cfg.ppo
  return Hyperparameters(gamma=float(cfg.agent.discount), gae_lambda=float(p.gae_lambda),
                         clip_eps=p.clip_eps, value_coef=p.value_coef,
                         entropy_coef=p.entropy_coef)


def gae(reward, terminal, done, value, next_value, gamma: float, lam: float):
  """(advantages, TD errors delta) of a time-ordered rollout, all (L,); see module doc."""
  delta = reward + gamma * (1.0 - terminal) * next_value - value

  def back(a_next, x):
    d, dn = x
    a = d + gamma * lam * (1.0 - dn) * a_next
    return a, a

  _, adv = jax.lax.scan(back, jnp.zeros_like(delta[0]), (delta, done), reverse=True)
  return adv, delta


def clipped_surrogate(logp, logp_old, adv, clip_eps: float):
  """-mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)), rho = exp(logp - logp_old)."""
  ratio = jnp.exp(logp - logp_old)
  return -jnp.mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv))


def prepare(nets: Networks, hp: Hyperparameters, params, rollout) -> dict:
  """Old log-probs, values, GAE advantages and returns of a time-ordered rollout (no
  gradient), at the behaviour parameters ``params``."""
  obs, action = rollout.obs, rollout.action
  mean, log_std = nets.actor.apply(params["actor"], obs)
  v = nets.value.apply(params["value"], obs)
  v_next = nets.value.apply(params["value"], rollout.next_obs)
  adv, delta = gae(rollout.reward, rollout.terminal, rollout.done, v, v_next, hp.gamma,
                   hp.gae_lambda)
  out = dict(obs=obs, action=action, logp_old=tanh_gaussian_log_prob(mean, log_std, action),
             adv=adv, ret=adv + v, delta=delta)
  return jax.tree_util.tree_map(jax.lax.stop_gradient, out)


def loss(nets: Networks, hp: Hyperparameters, params, mb: dict):
  """L of the module docstring on one minibatch of ``prepare``'s data; returns (L, parts)."""
  mean, log_std = nets.actor.apply(params["actor"], mb["obs"])
  logp = tanh_gaussian_log_prob(mean, log_std, mb["action"])
  adv = (mb["adv"] - jnp.mean(mb["adv"])) / (jnp.std(mb["adv"]) + 1e-8)
  pg = clipped_surrogate(logp, mb["logp_old"], adv, hp.clip_eps)
  v_loss = jnp.mean((nets.value.apply(params["value"], mb["obs"]) - mb["ret"]) ** 2)
  entropy = jnp.mean(jnp.sum(log_std + _HALF_LOG_2PI_E, axis=-1))
  total = pg + hp.value_coef * v_loss - hp.entropy_coef * entropy
  return total, dict(policy_loss=pg, value_loss=v_loss, entropy=entropy,
                     approx_kl=jnp.mean(mb["logp_old"] - logp))


def update(nets: Networks, hp: Hyperparameters, tx, state: PPOState, key, rollout, *,
           num_minibatches: int, num_epochs: int):
  """One PPO iteration: epochs x minibatches of Adam steps on a time-ordered rollout."""
  data = prepare(nets, hp, state.nets.params, rollout)
  n = data["adv"].shape[0]
  mb_size = n // num_minibatches
  train = {k: data[k] for k in ("obs", "action", "logp_old", "adv", "ret")}

  def mb_step(ts, mb):
    (_, parts), g = jax.value_and_grad(lambda p: loss(nets, hp, p, mb), has_aux=True)(ts.params)
    return ts.apply_gradients(tx, g), parts

  def epoch(ts, k):
    perm = jax.random.permutation(k, n)[: num_minibatches * mb_size].reshape(num_minibatches,
                                                                             mb_size)
    return jax.lax.scan(mb_step, ts, jax.tree_util.tree_map(lambda x: x[perm], train))

  ts, parts = jax.lax.scan(epoch, state.nets, jax.random.split(key, num_epochs))
  td = jnp.mean(jnp.abs(data["delta"]))
  new = state.replace(nets=ts, last_td=td)
  return new, dict(jax.tree_util.tree_map(jnp.mean, parts), td_abs=td)


def last_rollout(online, length: int):
  """The last ``length`` transitions of D_on in time order, read by its ptr."""
  idx = (online.ptr - length + jnp.arange(length)) % online.capacity
  return jax.tree_util.tree_map(lambda d: d[idx], online.data)


def make_ppo(ctx) -> Agent:
  """PPO agent for ``ctx`` (protocol.AgentContext); sizes from config.agent, rest config.ppo."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  sac.check_agent(cfg.agent, obs_dim, act_dim)
  validate(cfg)
  p = cfg.ppo
  nets, hp = make_networks(cfg, act_dim), hyperparameters(cfg)
  tx = optax.chain(optax.clip_by_global_norm(p.max_grad_norm), optax.adam(p.learning_rate))
  length = int(p.rollout_length)
  sizes = dict(num_minibatches=int(p.num_minibatches), num_epochs=int(p.num_epochs))

  def init(key):
    k_a, k_v = jax.random.split(key)
    obs = jnp.zeros((1, obs_dim))
    params = {"actor": nets.actor.init(k_a, obs), "value": nets.value.init(k_v, obs)}
    return PPOState(nets=TrainState.create(tx, params), count=jnp.zeros((), jnp.int32),
                    last_td=jnp.float32(jnp.nan))

  def update_fn(state, key, rollout, aux):
    """One PPO iteration on a given time-ordered rollout."""
    del aux
    common.check_batch(rollout, obs_dim, act_dim)
    return update(nets, hp, tx, state, key, rollout, **sizes)

  def no_losses():
    return {k: jnp.float32(jnp.nan) for k in LOSSES}

  def update_many(state, key, offline, online, beta, aux):
    """Counts the call; every rollout_length-th call runs ``update`` on the last rollout.
    info: td_error, and the update's mean policy_loss and value_loss (nan on the calls
    without an update)."""
    del offline, beta  # on-policy: D_off is never used
    state = state.replace(count=state.count + 1)

    def run(s):
      s, info = update_fn(s, key, last_rollout(online, length), aux)
      return s, {k: info[k] for k in LOSSES}

    state, losses = jax.lax.cond(state.count % length == 0, run,
                                 lambda s: (s, no_losses()), state)
    return state, dict(losses, td_error=state.last_td)

  def tick(state):
    """update_many on a call that is not an update's: only the counter moves."""
    state = state.replace(count=state.count + 1)
    return state, dict(no_losses(), td_error=state.last_td)

  return jit_agent(Agent(
      init=init, act=lambda s, k, o: nets.actor.sample(s.nets.params["actor"], k, o),
      act_deterministic=lambda s, o: nets.actor.deterministic(s.nets.params["actor"], o),
      update=update_fn, update_many=update_many, update_period=length, tick=tick,
      optional_losses=LOSSES, actor=nets.actor, actor_params=lambda s: s.nets.params["actor"]))
