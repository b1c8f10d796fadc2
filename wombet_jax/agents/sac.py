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
"""
from typing import Any, Callable, Mapping, Optional

import chex
import flax
import jax
import jax.numpy as jnp
import optax

from wombet_jax import beta as beta_lib
from wombet_jax.agents.protocol import Agent, AgentContext, jit_agent, make_update_many
from wombet_jax.checks import Section
from wombet_jax.networks import (Critic, TanhGaussianActor, apply_ensemble, hidden_dims,
                                 init_ensemble, tanh_gaussian_sample)


@flax.struct.dataclass
class SACState:
  """Learner state for one seed (vmap over a leading axis for several)."""
  actor_params: Any          # flax params of TanhGaussianActor
  critic_params: Any         # Critic params, every leaf stacked (N_Q, ...)
  target_critic_params: Any  # same structure, Polyak average of critic_params
  log_alpha: jax.Array       # () float32, log temperature
  actor_opt: Any             # optax Adam states
  critic_opt: Any
  alpha_opt: Any
  step: jax.Array            # () int32, gradient steps taken


def _field(batch, name: str) -> jax.Array:
  """Read a transition field from a dict or an attribute-style pytree (Transition)."""
  return batch[name] if isinstance(batch, Mapping) else getattr(batch, name)


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


def make_sac(obs_dim: int, act_dim: int, config_agent, config_sampling,
             penalty_fn: Optional[Callable] = None, *, ensemble_impl: str = "vmap",
             critic_layer_norm: bool = True) -> Agent:
  """Build the agent's pure functions; sizes and algorithm choices are static. Besides the
  protocol's functions, ``extras`` holds ``critic_step`` (the critic's part of ``update``
  alone, for profiling the update's pieces), ``critic_target`` (y of eq. 7), ``q_values``
  (Q_i(s, a), (N_Q, ...)) and ``td_delta`` (the delta fed to the beta rule).

  penalty_fn(aux, obs, act) -> u (B,) is the world-model uncertainty of eq. (7); ``aux`` (e.g.
  the model state) is passed at call time and traced, so refitting the model never recompiles.
  ``ensemble_impl="loop"`` evaluates critics one by one and ``critic_layer_norm=False`` drops
  the critics' LayerNorm (both for experiments/benchmarks only: they price parts of the
  definition against other implementations).
  """
  cfg = config_agent
  check_dims(obs_dim, act_dim)
  validate(cfg)
  beta_lib.validate(config_sampling)
  hid = hidden_dims(cfg.hidden_size, cfg.num_layers)
  actor = TanhGaussianActor(act_dim, hid)
  critic = Critic(hid, layer_norm=critic_layer_norm)
  actor_tx, critic_tx, alpha_tx = (optax.adam(cfg.actor_lr), optax.adam(cfg.critic_lr),
                                   optax.adam(cfg.temp_lr))
  n_q, n_sub = int(cfg.num_critics), int(cfg.critic_subset)
  batch_size, utd = int(cfg.batch_size), int(cfg.utd)
  gamma, tau, lambda_q = float(cfg.discount), float(cfg.tau), float(cfg.lambda_q)
  target_entropy = -float(act_dim)
  use_penalty = penalty_fn is not None and lambda_q != 0.0
  relative_td = config_sampling.td_error == "relative"

  def init(key):
    k_actor, k_critic = jax.random.split(key)
    obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
    actor_params = actor.init(k_actor, obs)
    critic_params = init_ensemble(critic, k_critic, n_q, obs, act)
    log_alpha = jnp.asarray(jnp.log(cfg.init_temperature), jnp.float32)
    return SACState(actor_params=actor_params, critic_params=critic_params,
                    target_critic_params=critic_params, log_alpha=log_alpha,
                    actor_opt=actor_tx.init(actor_params), critic_opt=critic_tx.init(critic_params),
                    alpha_opt=alpha_tx.init(log_alpha), step=jnp.zeros((), jnp.int32))

  def q_all(params, obs, action):
    return apply_ensemble(critic, params, obs, action, impl=ensemble_impl)

  def act(state, key, obs):
    mean, log_std = actor.apply(state.actor_params, obs)
    return tanh_gaussian_sample(key, mean, log_std)[0]

  def act_deterministic(state, obs):
    return jnp.tanh(actor.apply(state.actor_params, obs)[0])

  def target_and_penalty(state, key, batch, aux):
    """(y, mean lambda_Q u(s', a')): the robust Bellman target of eqs. (7) and (9), with no
    gradient through it, and the size of its model penalty (0 without one), logged so that a
    run shows how much the penalty weighs against the rewards."""
    k_pi, k_sub = jax.random.split(key)
    next_obs = _field(batch, "next_obs")
    chex.assert_shape(next_obs, (None, obs_dim))
    mean, log_std = actor.apply(state.actor_params, next_obs)
    next_act, next_logp = tanh_gaussian_sample(k_pi, mean, log_std)
    if n_sub == n_q:
      # Z is every member whatever the draw, and the min over a set ignores its order.
      sub_params = state.target_critic_params
    else:
      # Subsample parameters before applying: only the chosen members are evaluated.
      subset = jax.random.choice(k_sub, n_q, (n_sub,), replace=False)
      sub_params = jax.tree_util.tree_map(lambda x: x[subset], state.target_critic_params)
    q_min = jnp.min(q_all(sub_params, next_obs, next_act), axis=0)
    soft_v = q_min - jnp.exp(state.log_alpha) * next_logp
    if use_penalty:
      u = penalty_fn(aux, next_obs, next_act)
      chex.assert_equal_shape([u, q_min])
      soft_v = soft_v - lambda_q * u
      pen = jnp.mean(lambda_q * u)
    else:
      pen = jnp.zeros((), soft_v.dtype)
    terminal = _field(batch, "terminal").astype(soft_v.dtype)
    y = _field(batch, "reward") + gamma * (1.0 - terminal) * soft_v
    return jax.lax.stop_gradient(y), jax.lax.stop_gradient(pen)

  def critic_target(state, key, batch, aux):
    return target_and_penalty(state, key, batch, aux)[0]

  def critic_loss(params, obs, action, y):
    q = q_all(params, obs, action)
    return jnp.mean((q - y) ** 2), q

  def actor_loss(params, critic_params, alpha, key, obs):
    mean, log_std = actor.apply(params, obs)
    action, logp = tanh_gaussian_sample(key, mean, log_std)
    q = jnp.mean(q_all(critic_params, obs, action), axis=0)
    return jnp.mean(alpha * logp - q), logp

  def critic_step(state, key, batch, aux):
    """The critic's gradient step (and its Polyak target); actor and temperature unchanged."""
    obs, action = _field(batch, "obs"), _field(batch, "action")
    chex.assert_shape(obs, (None, obs_dim))
    chex.assert_shape(action, (obs.shape[0], act_dim))
    y, pen = target_and_penalty(state, key, batch, aux)
    (c_loss, q), c_grad = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic_params, obs, action, y)
    c_upd, critic_opt = critic_tx.update(c_grad, state.critic_opt, state.critic_params)
    critic_params = optax.apply_updates(state.critic_params, c_upd)
    target = optax.incremental_update(critic_params, state.target_critic_params, tau)
    state = state.replace(critic_params=critic_params, target_critic_params=target,
                          critic_opt=critic_opt)
    info = dict(critic_loss=c_loss, critic_grad_norm=optax.tree.norm(c_grad),
                q_mean=jnp.mean(q), target_mean=jnp.mean(y), td_abs=jnp.mean(jnp.abs(y - q)),
                penalty=pen)
    return state, info

  def actor_temperature_step(state, key, obs):
    """The actor's gradient step against the critics in `state`, then the temperature's."""
    log_alpha = state.log_alpha
    alpha = jnp.exp(log_alpha)
    (a_loss, logp), a_grad = jax.value_and_grad(actor_loss, has_aux=True)(
        state.actor_params, state.critic_params, alpha, key, obs)
    a_upd, actor_opt = actor_tx.update(a_grad, state.actor_opt, state.actor_params)
    actor_params = optax.apply_updates(state.actor_params, a_upd)

    entropy = -jax.lax.stop_gradient(jnp.mean(logp))
    t_loss, t_grad = jax.value_and_grad(
        lambda la: jnp.exp(la) * (entropy - target_entropy))(log_alpha)
    t_upd, alpha_opt = alpha_tx.update(t_grad, state.alpha_opt, log_alpha)
    new_log_alpha = optax.apply_updates(log_alpha, t_upd)
    state = state.replace(actor_params=actor_params, log_alpha=new_log_alpha,
                          actor_opt=actor_opt, alpha_opt=alpha_opt)
    info = dict(actor_loss=a_loss, temperature_loss=t_loss,
                actor_grad_norm=optax.tree.norm(a_grad), temperature_grad_norm=jnp.abs(t_grad),
                alpha=jnp.exp(new_log_alpha), entropy=entropy)
    return state, info

  def update(state, key, batch, aux):
    """One gradient step on critic, actor and temperature."""
    k_target, k_actor = jax.random.split(key)
    state, c_info = critic_step(state, k_target, batch, aux)  # leaves log_alpha as it was
    state, a_info = actor_temperature_step(state, k_actor, _field(batch, "obs"))
    merged = {**c_info, **a_info}
    return state.replace(step=state.step + 1), {k: merged[k] for k in UPDATE_INFO}

  def td_stats(state, key, batch, aux):
    """(mean |y - Q_i(s, a)|, mean |y|) over members and batch."""
    y = critic_target(state, key, batch, aux)
    q = q_all(state.critic_params, _field(batch, "obs"), _field(batch, "action"))
    return jnp.mean(jnp.abs(y - q)), jnp.mean(jnp.abs(y))

  def td_abs(state, key, batch, aux):
    """Mean |y - Q_i(s, a)| over members and batch: delta_k of sec. 4.6 on an online batch."""
    return td_stats(state, key, batch, aux)[0]

  def td_delta(state, key, batch, aux):
    """delta_k fed to the beta rule. "relative" (a departure from sec. 4.6, off by default)
    divides by the scale of the targets: in alive-bonus tasks Q grows with episode length, so
    the absolute TD error rises while the critic improves, and the rule would keep raising
    beta just as the online data becomes the better data."""
    td, scale = td_stats(state, key, batch, aux)
    return td / jnp.maximum(scale, 1e-6) if relative_td else td

  def losses(state, key, batch, aux):
    """The losses ``update`` differentiates, at ``state``, with ``update``'s key use (the
    actor's against the critics in ``state``, not the freshly stepped ones)."""
    k_target, k_actor = jax.random.split(key)
    obs, action = _field(batch, "obs"), _field(batch, "action")
    y, _ = target_and_penalty(state, k_target, batch, aux)
    c_loss, _ = critic_loss(state.critic_params, obs, action, y)
    alpha = jnp.exp(state.log_alpha)
    a_loss, logp = actor_loss(state.actor_params, state.critic_params, alpha, k_actor, obs)
    t_loss = alpha * (-jnp.mean(logp) - target_entropy)
    return dict(critic_loss=c_loss, actor_loss=a_loss, temperature_loss=t_loss)

  def q_values(state, obs, action):
    return q_all(state.critic_params, obs, action)

  # G = utd updates each on a fresh mixed batch, all with the beta held on entry; delta =
  # td_delta on a separate batch of D_on after them (none, td_error nan, without D_off or a
  # beta that can move).
  update_many = make_update_many(update, td_delta, batch_size, utd, config_sampling)
  metrics = ("td_error", "penalty") if penalty_fn is not None else ("td_error",)
  return jit_agent(Agent(
      init=init, act=act, act_deterministic=act_deterministic, update=update,
      update_many=update_many, td_abs=td_abs, losses=losses,
      extras=dict(critic_step=critic_step, critic_target=critic_target, q_values=q_values,
                  td_delta=td_delta),
      metrics=metrics))


def make(ctx: AgentContext) -> Agent:
  """The registry's factory: the agent of config.agent and config.sampling, with the world
  model's penalty when the algorithm uses one."""
  return make_sac(ctx.obs_dim, ctx.act_dim, ctx.config.agent, ctx.config.sampling,
                  penalty_fn=ctx.penalty_fn)
