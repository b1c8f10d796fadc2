"""RLPD-style SAC for online fine-tuning (docs/method.md step 5, paper sec. 4.4-4.6).

Tanh-Gaussian actor; an ensemble of N_Q critics (stacked parameters, ``jax.vmap``) with
LayerNorm after every hidden layer; Polyak-averaged target critics; learned temperature with
target entropy -|A|. Critic target, eqs. (7) and (9):

  y = r + gamma (1 - terminal) (min_{i in Z} Q'_i(s', a') - alpha log pi(a'|s')
                                - lambda_Q u(s', a')),
  a' ~ pi(.|s'),  Z = random subset of size ``critic_subset``, without replacement, per update,

with u(s', a') from the world model (``penalty_fn``; lambda_Q = 0 or no penalty_fn turns it off).
The actor maximises mean_i Q_i(s, a) - alpha log pi(a|s). With no offline buffer the same agent
is the SAC-from-scratch baseline.

Choices the paper leaves open:
* One ``update`` is one gradient step on critic, actor and temperature, in that order; the actor
  and temperature steps use the freshly updated critic. ``update_many`` runs G = ``utd`` of them
  (``protocol.make_update_many``).
* The critic loss is the mean over members and batch of (Q_i(s, a) - y)^2; the TD error reported
  (and fed to the beta rule by the loop) is the mean over members and batch of |y - Q_i(s, a)|.
  It is computed only where it can move beta: SAC from scratch (no D_off) and fixed-beta runs
  (RLPD) report td_error = nan, written as null in metrics.jsonl.
* With critic_subset == num_critics, Z is the whole ensemble and no subset is drawn.
* The target uses the temperature before this step's temperature update.

The losses (``critic_target``, ``critic_loss``, ``actor_loss``, ``alpha_loss``) and the steps
built on them are module-level functions of (networks, hyperparameters, parameters, batch);
``make_sac`` composes them with the optimisers into the agent protocol.
"""
import functools
from typing import Any, Callable, NamedTuple, Optional

import chex
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from wombet_jax import beta as beta_lib
from wombet_jax.agents import common
from wombet_jax.agents.common import TrainState
from wombet_jax.agents.protocol import Agent, AgentContext
from wombet_jax.checks import Section
from wombet_jax.networks import (Actor, Critic, apply_ensemble, hidden_dims, init_ensemble,
                                 make_actor, tanh_gaussian_sample)


@flax.struct.dataclass
class SACState:
  """Learner state for one seed (vmap over a leading axis for several)."""
  actor: TrainState          # TanhGaussianActor params and their Adam state
  critic: TrainState         # Critic params, every leaf stacked (N_Q, ...)
  target_critic_params: Any  # same structure, Polyak average of the critic params
  log_alpha: TrainState      # params: () float32, log temperature
  step: jax.Array            # () int32, gradient steps taken


class Networks(NamedTuple):
  """SAC's networks: the tanh-Gaussian actor and one critic member, applied to stacked
  parameters by ``apply_critics(critic, params, obs, action) -> (N, ...)``."""
  actor: Actor
  critic: nn.Module
  apply_critics: Callable = apply_ensemble


class Hyperparameters(NamedTuple):
  """The static numbers of SAC's losses and steps."""
  num_critics: int
  critic_subset: int
  gamma: float
  tau: float
  lambda_q: float
  target_entropy: float      # -|A|


class Optimisers(NamedTuple):
  actor: optax.GradientTransformation
  critic: optax.GradientTransformation
  alpha: optax.GradientTransformation


def validate(cfg) -> None:
  """Raises UserError naming the first invalid field of the ``agent`` config section (the
  baselines read its sizes, rates, discount, tau and G too, through the same check)."""
  s = Section(cfg, "agent")
  for f in ("num_critics", "critic_subset", "hidden_size", "num_layers", "batch_size", "utd"):
    s.integer(f)
  s.at_most("critic_subset", "num_critics")
  for f in ("actor_lr", "critic_lr", "temp_lr"):
    s.number(f, 1e-8, 1.0)
  s.number("init_temperature", 1e-6, 1e3)
  # Time-limit truncation bootstraps (only `terminal` stops it), so the critic estimates an
  # infinite discounted sum: gamma = 1 is no contraction and Q diverges.
  s.number("discount", 0.0, 1.0, hi_open=True,
           why="the critic bootstraps through time limits, so 1 diverges")
  # Polyak target update theta' <- tau theta + (1 - tau) theta': 1 copies the critic, 0 would
  # freeze the target at its initialisation.
  s.number("tau", 0.0, 1.0, lo_open=True, why="tau = 0 never updates the target critics")
  s.nonnegative("lambda_q")


# The entries of one update's info, in the order the metrics list them.
UPDATE_INFO = ("critic_loss", "actor_loss", "temperature_loss", "critic_grad_norm",
               "actor_grad_norm", "temperature_grad_norm", "alpha", "entropy", "q_mean",
               "target_mean", "td_abs", "penalty")


def check_dims(obs_dim: int, act_dim: int) -> None:
  if obs_dim < 1 or act_dim < 1:
    raise ValueError(f"obs_dim={obs_dim}, act_dim={act_dim}: both must be >= 1")


def check_agent(cfg, obs_dim: int, act_dim: int) -> None:
  """The ``agent`` section, by its one validator (``validate``), and the env's sizes; every
  agent's factory starts with it."""
  check_dims(obs_dim, act_dim)
  validate(cfg)


def make_networks(act_dim: int, cfg) -> Networks:
  """The networks of config section ``agent`` ``cfg``: LayerNorm critics (RLPD)."""
  hid = hidden_dims(cfg.hidden_size, cfg.num_layers)
  return Networks(actor=make_actor("tanh_gaussian", act_dim, hid), critic=Critic(hid))


def hyperparameters(act_dim: int, cfg) -> Hyperparameters:
  return Hyperparameters(num_critics=int(cfg.num_critics), critic_subset=int(cfg.critic_subset),
                         gamma=float(cfg.discount), tau=float(cfg.tau),
                         lambda_q=float(cfg.lambda_q), target_entropy=-float(act_dim))


def optimisers(cfg) -> Optimisers:
  return Optimisers(optax.adam(cfg.actor_lr), optax.adam(cfg.critic_lr), optax.adam(cfg.temp_lr))


# --- losses -----------------------------------------------------------------------------------
def q_values(nets: Networks, critic_params, obs: jax.Array, action: jax.Array) -> jax.Array:
  """Q_i(s, a) of every member, (N_Q, ...)."""
  return nets.apply_critics(nets.critic, critic_params, obs, action)


def critic_target(nets: Networks, hp: Hyperparameters, actor_params, target_critic_params,
                  log_alpha: jax.Array, batch, key: jax.Array,
                  penalty: Optional[Callable] = None):
  """(y, mean lambda_Q u(s', a')): the robust Bellman target of eqs. (7) and (9), with no
  gradient through it, and the size of its model penalty (0 without one), logged so that a
  run shows how much the penalty weighs against the rewards. ``penalty(obs, act) -> u`` (B,),
  or None for no penalty term. Keys: k_pi, k_sub = split(key)."""
  k_pi, k_sub = jax.random.split(key)
  next_obs = batch.next_obs
  mean, log_std = nets.actor.apply(actor_params, next_obs)
  next_act, next_logp = tanh_gaussian_sample(k_pi, mean, log_std)
  if hp.critic_subset == hp.num_critics:
    # Z is every member whatever the draw, and the min over a set ignores its order.
    sub_params = target_critic_params
  else:
    # Subsample parameters before applying: only the chosen members are evaluated.
    subset = jax.random.choice(k_sub, hp.num_critics, (hp.critic_subset,), replace=False)
    sub_params = jax.tree_util.tree_map(lambda x: x[subset], target_critic_params)
  q_min = jnp.min(q_values(nets, sub_params, next_obs, next_act), axis=0)
  soft_v = q_min - jnp.exp(log_alpha) * next_logp
  if penalty is not None:
    u = penalty(next_obs, next_act)
    chex.assert_equal_shape([u, q_min])
    soft_v = soft_v - hp.lambda_q * u
    pen = jnp.mean(hp.lambda_q * u)
  else:
    pen = jnp.zeros((), soft_v.dtype)
  terminal = batch.terminal.astype(soft_v.dtype)
  y = batch.reward + hp.gamma * (1.0 - terminal) * soft_v
  return jax.lax.stop_gradient(y), jax.lax.stop_gradient(pen)


def critic_loss(nets: Networks, critic_params, batch, y: jax.Array):
  """(mean over members and batch of (Q_i(s, a) - y)^2, Q (N_Q, B))."""
  q = q_values(nets, critic_params, batch.obs, batch.action)
  return jnp.mean((q - y) ** 2), q


def actor_loss(nets: Networks, actor_params, critic_params, alpha: jax.Array, obs: jax.Array,
               key: jax.Array):
  """(mean(alpha log pi(a|s) - mean_i Q_i(s, a)), log pi (B,)), a ~ pi(.|s) drawn from key."""
  mean, log_std = nets.actor.apply(actor_params, obs)
  action, logp = tanh_gaussian_sample(key, mean, log_std)
  q = jnp.mean(q_values(nets, critic_params, obs, action), axis=0)
  return jnp.mean(alpha * logp - q), logp


def alpha_loss(log_alpha: jax.Array, entropy: jax.Array, target_entropy: float) -> jax.Array:
  """exp(log alpha) (H - H_target): descending it lowers alpha while the entropy H is above
  the target and raises it below."""
  return jnp.exp(log_alpha) * (entropy - target_entropy)


# --- steps ------------------------------------------------------------------------------------
def critic_step(nets: Networks, hp: Hyperparameters, txs: Optimisers, state: SACState, key,
                batch, penalty: Optional[Callable] = None):
  """The critic's gradient step (and its Polyak target); actor and temperature unchanged."""
  y, pen = critic_target(nets, hp, state.actor.params, state.target_critic_params,
                         state.log_alpha.params, batch, key, penalty)
  (c_loss, q), c_grad = jax.value_and_grad(
      lambda p: critic_loss(nets, p, batch, y), has_aux=True)(state.critic.params)
  critic = state.critic.apply_gradients(txs.critic, c_grad)
  target = common.polyak(critic.params, state.target_critic_params, hp.tau)
  state = state.replace(critic=critic, target_critic_params=target)
  info = dict(critic_loss=c_loss, critic_grad_norm=optax.tree.norm(c_grad),
              q_mean=jnp.mean(q), target_mean=jnp.mean(y), td_abs=common.td_abs(y, q),
              penalty=pen)
  return state, info


def actor_temperature_step(nets: Networks, hp: Hyperparameters, txs: Optimisers,
                           state: SACState, key, obs):
  """The actor's gradient step against the critics in `state`, then the temperature's."""
  log_alpha = state.log_alpha.params
  alpha = jnp.exp(log_alpha)
  (a_loss, logp), a_grad = jax.value_and_grad(
      lambda p: actor_loss(nets, p, state.critic.params, alpha, obs, key), has_aux=True)(
          state.actor.params)
  actor = state.actor.apply_gradients(txs.actor, a_grad)

  entropy = -jax.lax.stop_gradient(jnp.mean(logp))
  t_loss, t_grad = jax.value_and_grad(
      lambda la: alpha_loss(la, entropy, hp.target_entropy))(log_alpha)
  new_log_alpha = state.log_alpha.apply_gradients(txs.alpha, t_grad)
  state = state.replace(actor=actor, log_alpha=new_log_alpha)
  info = dict(actor_loss=a_loss, temperature_loss=t_loss,
              actor_grad_norm=optax.tree.norm(a_grad), temperature_grad_norm=jnp.abs(t_grad),
              alpha=jnp.exp(new_log_alpha.params), entropy=entropy)
  return state, info


def update(nets: Networks, hp: Hyperparameters, txs: Optimisers, state: SACState, key, batch,
           penalty: Optional[Callable] = None):
  """One gradient step on critic, actor and temperature; k_target, k_actor = split(key)."""
  k_target, k_actor = jax.random.split(key)
  state, c_info = critic_step(nets, hp, txs, state, k_target, batch, penalty)  # log_alpha kept
  state, a_info = actor_temperature_step(nets, hp, txs, state, k_actor, batch.obs)
  merged = {**c_info, **a_info}
  return state.replace(step=state.step + 1), {k: merged[k] for k in UPDATE_INFO}


def td_stats(nets: Networks, hp: Hyperparameters, state: SACState, key, batch,
             penalty: Optional[Callable] = None):
  """(mean |y - Q_i(s, a)|, mean |y|) over members and batch."""
  y, _ = critic_target(nets, hp, state.actor.params, state.target_critic_params,
                       state.log_alpha.params, batch, key, penalty)
  q = q_values(nets, state.critic.params, batch.obs, batch.action)
  return common.td_abs(y, q), jnp.mean(jnp.abs(y))


def init(nets: Networks, hp: Hyperparameters, txs: Optimisers, key, obs_dim: int, act_dim: int,
         init_temperature: float) -> SACState:
  k_actor, k_critic = jax.random.split(key)
  obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
  actor_params = nets.actor.init(k_actor, obs)
  critic_params = init_ensemble(nets.critic, k_critic, hp.num_critics, obs, act)
  log_alpha = jnp.asarray(jnp.log(init_temperature), jnp.float32)
  return SACState(actor=TrainState.create(txs.actor, actor_params),
                  critic=TrainState.create(txs.critic, critic_params),
                  target_critic_params=critic_params,
                  log_alpha=TrainState.create(txs.alpha, log_alpha),
                  step=jnp.zeros((), jnp.int32))


def make_sac(obs_dim: int, act_dim: int, config_agent, config_sampling,
             penalty_fn: Optional[Callable] = None, networks: Optional[Networks] = None) -> Agent:
  """The agent of config sections ``agent`` and ``sampling``; sizes and algorithm choices are
  static. ``networks`` (default ``make_networks``) lets benchmarks price variants of them.

  penalty_fn(aux, obs, act) -> u (B,) is the world-model uncertainty of eq. (7); ``aux`` (e.g.
  the model state) is passed at call time and traced, so refitting the model never recompiles.
  """
  cfg = config_agent
  check_agent(cfg, obs_dim, act_dim)
  beta_lib.validate(config_sampling)
  nets = make_networks(act_dim, cfg) if networks is None else networks
  hp, txs = hyperparameters(act_dim, cfg), optimisers(cfg)
  use_penalty = penalty_fn is not None and hp.lambda_q != 0.0
  relative_td = config_sampling.td_error == "relative"

  def penalty(aux):
    return functools.partial(penalty_fn, aux) if use_penalty else None

  def act(state, key, obs):
    return nets.actor.sample(state.actor.params, key, obs)

  def act_deterministic(state, obs):
    return nets.actor.deterministic(state.actor.params, obs)

  def update_fn(state, key, batch, aux):
    chex.assert_shape(batch.obs, (None, obs_dim))
    chex.assert_shape(batch.action, (batch.obs.shape[0], act_dim))
    return update(nets, hp, txs, state, key, batch, penalty(aux))

  def td_delta(state, key, batch, aux):
    """delta_k fed to the beta rule: mean |y - Q_i(s, a)| on an online batch (sec. 4.6).
    "relative" (a departure from sec. 4.6, off by default) divides by the scale of the
    targets: in alive-bonus tasks Q grows with episode length, so the absolute TD error rises
    while the critic improves, and the rule would keep raising beta just as the online data
    becomes the better data."""
    td, scale = td_stats(nets, hp, state, key, batch, penalty(aux))
    return td / jnp.maximum(scale, 1e-6) if relative_td else td

  # G = utd updates each on a fresh mixed batch, all with the beta held on entry; delta =
  # td_delta on a separate batch of D_on after them (none, td_error nan, without D_off or a
  # beta that can move). SAC's losses are never nan by design: plain means over the G steps.
  return common.assemble(
      cfg, config_sampling,
      init=lambda key: init(nets, hp, txs, key, obs_dim, act_dim, cfg.init_temperature),
      act=act, act_deterministic=act_deterministic, update=update_fn, td_fn=td_delta,
      ignore_nan=False, metrics=("td_error", "penalty") if penalty_fn is not None
      else ("td_error",), actor=nets.actor, actor_params=lambda s: s.actor.params)


def make(ctx: AgentContext) -> Agent:
  """The registry's factory: the agent of config.agent and config.sampling, with the world
  model's penalty when the algorithm uses one."""
  return make_sac(ctx.obs_dim, ctx.act_dim, ctx.config.agent, ctx.config.sampling,
                  penalty_fn=ctx.penalty_fn)
