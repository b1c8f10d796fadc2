"""CQL (Kumar et al., 2020; offline-only ``cql``) and Cal-QL (Nakamoto et al., 2023;
offline-to-online ``cal_ql``), paper sec. 5.2-5.3. COMBO reuses the core (``conservative_sac``).

SAC with twin critics, tanh-Gaussian actor, learned temperature (target entropy -|A|), target
critics by Polyak averaging; target without entropy (as the reference code):
  y = r + gamma (1 - terminal) min_i Q'_i(s', a'),  a' ~ pi(.|s').
Critic loss, CQL(H) with importance-sampled logsumexp, for each critic i:
  L_i = mean (Q_i(s, a) - y)^2 + alpha (mean_s LSE_i(s) - mean Q_i(s, a)),
  LSE_i(s) = log sum_j exp([Q_i(s, u_j) - log 0.5^|A|]_j, [Q_i(s, a_j) - log pi(a_j|s)]_j,
                           [Q_i(s, a'_j) - log pi(a'_j|s')]_j),
  u_j ~ U[-1, 1]^|A|, a_j ~ pi(.|s), a'_j ~ pi(.|s'), j = 1..n  (``cql.num_action_samples``),
and L_Q = mean_i L_i (the code's sum over critics, halved). alpha = ``cql.alpha``.
Cal-QL calibrates the policy terms by the Monte-Carlo return of the behaviour policy:
Q_i(s, a_j) and Q_i(s, a'_j) are replaced by max(Q_i, V_mc(s)) before subtracting log pi,
so the critic is never pushed below V_mc. Actor: L_pi = mean(alpha_T log pi(a|s) - min_i Q_i(s, a)).

V_mc(s_t) = sum_k gamma^k r_{t+k} up to the end (done) of its episode, read off the buffer
(episodes are stored in order, D_off's generated trajectories end with done = 1). A transition
whose episode has not ended in the buffer, or ends beyond ``max(episode_length,
generation.horizon)`` steps, gets V_mc = -inf (no calibration). Cal-QL therefore needs
batches with a "mc_return" field: ``agent.sample_offline(buffer, key, B)`` makes them (the loop
uses it for pretraining) and ``update_many`` mixes D_off and D_on (beta fixed at 0.5 by the
registry, Cal-QL's own 50/50 mixing) with MC returns on both.
"""
import functools
from typing import Mapping

import flax
import jax
import jax.numpy as jnp
import optax

from wombet_jax import replay
from wombet_jax.agents import common
from wombet_jax.agents.protocol import Agent, jit_agent, make_update_many
from wombet_jax.networks import (TanhGaussianActor, apply_ensemble, hidden_dims, init_ensemble,
                                 tanh_gaussian_sample)


@flax.struct.dataclass
class CQLState:
  actor_params: object
  critic_params: object          # stacked (N_Q, ...)
  target_critic_params: object
  log_alpha: jax.Array           # () log SAC temperature
  actor_opt: object
  critic_opt: object
  alpha_opt: object
  step: jax.Array


def conservative_logsumexp(q_rand, q_pi, logp_pi, q_next, logp_next, act_dim: int,
                           lower_bound=None):
  """LSE_i(s) of the module docstring, (N_Q, B), from Q values (N_Q, n, B) and log-probs
  (n, B) of the three proposal sets; ``lower_bound`` (B,) turns it into Cal-QL's."""
  if lower_bound is not None:
    q_pi, q_next = jnp.maximum(q_pi, lower_bound), jnp.maximum(q_next, lower_bound)
  log_uniform = act_dim * jnp.log(0.5)
  cat = jnp.concatenate([q_rand - log_uniform, q_pi - logp_pi, q_next - logp_next], axis=1)
  return jax.scipy.special.logsumexp(cat, axis=1)


def mc_returns(buffer: replay.Buffer, idx: jax.Array, gamma: float, max_len: int) -> jax.Array:
  """V_mc of rows ``idx`` (B,) of an in-order episode buffer; -inf where the episode's end is
  not in the buffer within ``max_len`` steps (see module docstring)."""
  cap = buffer.capacity
  k = jnp.arange(max_len)
  rows = (idx[:, None] + k[None, :]) % cap
  written = (buffer.ptr - idx - 1) % cap + 1        # rows from idx up to the newest one
  valid = (k[None, :] < written[:, None]).astype(jnp.float32)
  if_valid = lambda x: x * valid
  reward = if_valid(common.field(buffer.data, "reward")[rows])
  done = if_valid(common.field(buffer.data, "done")[rows])
  alive = jnp.concatenate([jnp.ones_like(done[:, :1]), jnp.cumprod(1.0 - done, 1)[:, :-1]], 1)
  ret = jnp.sum(alive * reward * gamma ** k, axis=1)
  finished = jnp.sum(alive * done, axis=1) > 0
  return jnp.where(finished, ret, -jnp.inf)


def conservative_sac(cfg, obs_dim: int, act_dim: int, alpha: float, num_samples: int):
  """The pure pieces of a conservative SAC learner (CQL, Cal-QL, COMBO).

  Returns a dict with init, act, act_deterministic, q_all, target, losses_on and update_on,
  where losses_on/update_on(state, key, td_batch, down_obs, down_next_obs, up_obs, up_action,
  lower_bound) apply the TD loss to ``td_batch``, push Q down at states ``down_obs`` (proposals
  from pi(.|down_obs), pi(.|down_next_obs) and uniform) and up on (up_obs, up_action).
  """
  hid = hidden_dims(cfg.agent.hidden_size, cfg.agent.num_layers)
  actor = TanhGaussianActor(act_dim, hid)
  critic, n_q = common.twin_critic(cfg)
  actor_tx, critic_tx = optax.adam(cfg.agent.actor_lr), optax.adam(cfg.agent.critic_lr)
  alpha_tx = optax.adam(cfg.agent.temp_lr)
  gamma, tau = float(cfg.agent.discount), float(cfg.agent.tau)
  target_entropy = -float(act_dim)

  def init(key):
    k_a, k_c = jax.random.split(key)
    obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
    ap = actor.init(k_a, obs)
    cp = init_ensemble(critic, k_c, n_q, obs, act)
    la = jnp.asarray(jnp.log(cfg.agent.init_temperature), jnp.float32)
    return CQLState(actor_params=ap, critic_params=cp, target_critic_params=cp, log_alpha=la,
                    actor_opt=actor_tx.init(ap), critic_opt=critic_tx.init(cp),
                    alpha_opt=alpha_tx.init(la), step=jnp.zeros((), jnp.int32))

  def q_all(params, obs, action):
    return apply_ensemble(critic, params, obs, action)

  def pi(ap, key, obs):
    return tanh_gaussian_sample(key, *actor.apply(ap, obs))

  def act(state, key, obs):
    return pi(state.actor_params, key, obs)[0]

  def act_deterministic(state, obs):
    return jnp.tanh(actor.apply(state.actor_params, obs)[0])

  def target(state, key, batch):
    next_obs = common.field(batch, "next_obs")
    a_next = pi(state.actor_params, key, next_obs)[0]
    q_next = jnp.min(q_all(state.target_critic_params, next_obs, a_next), axis=0)
    term = common.field(batch, "terminal")
    return jax.lax.stop_gradient(common.field(batch, "reward") + gamma * (1.0 - term) * q_next)

  def proposals(ap, key, down_obs, down_next_obs):
    """Uniform, pi(.|s) and pi(.|s') actions (n, B, |A|) with log-probs (no gradient)."""
    k_u, k_pi, k_next = jax.random.split(key, 3)
    rep = lambda x: jnp.broadcast_to(x, (num_samples,) + x.shape)
    a_rand = jax.random.uniform(k_u, (num_samples, down_obs.shape[0], act_dim),
                                minval=-1.0, maxval=1.0)
    a_pi, logp_pi = pi(ap, k_pi, rep(down_obs))
    a_next, logp_next = pi(ap, k_next, rep(down_next_obs))
    return jax.tree_util.tree_map(jax.lax.stop_gradient,
                                  (rep(down_obs), a_rand, a_pi, logp_pi, a_next, logp_next))

  def critic_loss(cp, td_obs, td_action, y, props, up_obs, up_action, lower_bound):
    q = q_all(cp, td_obs, td_action)
    td = jnp.mean((q - y) ** 2, axis=1)
    if alpha == 0.0:  # static: plain SAC critic (MOPO), no proposals evaluated
      return jnp.mean(td), (q, jnp.float32(0.0), jnp.mean(td))
    obs_rep, a_rand, a_pi, logp_pi, a_next, logp_next = props
    lse = conservative_logsumexp(q_all(cp, obs_rep, a_rand), q_all(cp, obs_rep, a_pi), logp_pi,
                                 q_all(cp, obs_rep, a_next), logp_next, act_dim, lower_bound)
    gap = jnp.mean(lse, axis=1) - jnp.mean(q_all(cp, up_obs, up_action), axis=1)  # (N_Q,)
    return jnp.mean(td + alpha * gap), (q, jnp.mean(gap), jnp.mean(td))

  def actor_loss(ap, cp, temp, key, obs):
    a, logp = pi(ap, key, obs)
    return jnp.mean(temp * logp - jnp.min(q_all(cp, obs, a), axis=0)), logp

  def losses_on(state, key, td_batch, down_obs, down_next_obs, up_obs, up_action,
                lower_bound=None):
    k_t, k_p, k_a = jax.random.split(key, 3)
    y = target(state, k_t, td_batch)
    props = proposals(state.actor_params, k_p, down_obs, down_next_obs)
    c_loss, (_, gap, td) = critic_loss(
        state.critic_params, common.field(td_batch, "obs"), common.field(td_batch, "action"), y,
        props, up_obs, up_action, lower_bound)
    a_loss, _ = actor_loss(state.actor_params, state.critic_params, jnp.exp(state.log_alpha),
                           k_a, common.field(td_batch, "obs"))
    return dict(critic_loss=c_loss, td_loss=td, conservative_gap=gap, actor_loss=a_loss)

  def update_on(state, key, td_batch, down_obs, down_next_obs, up_obs, up_action,
                lower_bound=None):
    """One step on critic, actor, temperature (that order), then the targets."""
    k_t, k_p, k_a = jax.random.split(key, 3)
    obs, action = common.field(td_batch, "obs"), common.field(td_batch, "action")
    y = target(state, k_t, td_batch)
    props = proposals(state.actor_params, k_p, down_obs, down_next_obs)
    (c_loss, (q, gap, td)), gc = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic_params, obs, action, y, props, up_obs, up_action, lower_bound)
    cp, c_opt = common.apply_grads(critic_tx, gc, state.critic_opt, state.critic_params)
    temp = jnp.exp(state.log_alpha)
    (a_loss, logp), ga = jax.value_and_grad(actor_loss, has_aux=True)(
        state.actor_params, cp, temp, k_a, obs)
    ap, a_opt = common.apply_grads(actor_tx, ga, state.actor_opt, state.actor_params)
    entropy = -jax.lax.stop_gradient(jnp.mean(logp))
    gt = jax.grad(lambda la: jnp.exp(la) * (entropy - target_entropy))(state.log_alpha)
    la, t_opt = common.apply_grads(alpha_tx, gt, state.alpha_opt, state.log_alpha)
    new = CQLState(actor_params=ap, critic_params=cp,
                   target_critic_params=common.polyak(cp, state.target_critic_params, tau),
                   log_alpha=la, actor_opt=a_opt, critic_opt=c_opt, alpha_opt=t_opt,
                   step=state.step + 1)
    return new, dict(critic_loss=c_loss, td_loss=td, conservative_gap=gap, actor_loss=a_loss,
                     temperature=jnp.exp(la), q_mean=jnp.mean(q), td_abs=jnp.mean(jnp.abs(y - q)))

  def td_abs(state, key, batch, aux):
    del aux
    y = target(state, key, batch)
    q = q_all(state.critic_params, common.field(batch, "obs"), common.field(batch, "action"))
    return jnp.mean(jnp.abs(y - q))

  return dict(init=init, act=act, act_deterministic=act_deterministic, q_all=q_all,
              target=target, losses_on=losses_on, update_on=update_on, td_abs=td_abs,
              policy=lambda s, o: actor.apply(s.actor_params, o))


def validate(cfg) -> None:
  q = cfg.cql
  common.require(q.alpha >= 0, "cql.alpha", q.alpha, "must be >= 0")
  common.check_positive(q, "cql", ("num_action_samples",), integer=True)


def _lower_bound(batch, calibrated: bool):
  if not calibrated:
    return None
  if not (isinstance(batch, Mapping) and "mc_return" in batch):
    raise ValueError("Cal-QL needs batches with an 'mc_return' field: sample D_off with "
                     "agent.sample_offline (not replay.sample)")
  return batch["mc_return"]


def make_cql(ctx, calibrated: bool = False) -> Agent:
  """CQL (``calibrated=False``) or Cal-QL agent for ``ctx`` (protocol.AgentContext)."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  common.check_agent(cfg.agent, obs_dim, act_dim)
  validate(cfg)
  core = conservative_sac(cfg, obs_dim, act_dim, float(cfg.cql.alpha),
                          int(cfg.cql.num_action_samples))
  gamma = float(cfg.agent.discount)
  max_len = max(int(ctx.pair.episode_length), int(cfg.generation.horizon))

  def args(batch):
    obs, nxt = common.field(batch, "obs"), common.field(batch, "next_obs")
    return (batch, obs, nxt, obs, common.field(batch, "action"), _lower_bound(batch, calibrated))

  def update(state, key, batch, aux):
    del aux
    common.check_batch(batch, obs_dim, act_dim)
    return core["update_on"](state, key, *args(batch))

  def losses(state, key, batch, aux):
    del aux
    return core["losses_on"](state, key, *args(batch))

  def with_mc(buffer, idx):
    rows = jax.tree_util.tree_map(lambda d: d[idx], buffer.data)
    out = {n: common.field(rows, n) for n in
           ("obs", "action", "reward", "next_obs", "terminal", "done")}
    return dict(out, mc_return=mc_returns(buffer, idx, gamma, max_len))

  def sample_offline(buffer, key, batch_size):
    """replay.sample's rows plus their Monte-Carlo returns (dict batch)."""
    return with_mc(buffer, jax.random.randint(key, (batch_size,), 0,
                                              jnp.maximum(buffer.size, 1)))

  def sample_mixed(offline, online, key, batch_size, beta):
    """replay.sample_mixed, each buffer's rows with their MC returns."""
    return replay.sample_mixed(offline, online, key, batch_size, beta, sample_fn=sample_offline)

  samplers = dict(sample_mixed=sample_mixed, sample_online=sample_offline) if calibrated else {}
  update_many = make_update_many(update, core["td_abs"], int(cfg.agent.batch_size),
                                 int(cfg.agent.utd), cfg.sampling, ignore_nan=True, **samplers)
  extras = dict(q_values=lambda s, o, a: core["q_all"](s.critic_params, o, a),
                target=lambda s, k, b: core["target"](s, k, b), policy=core["policy"],
                mc_returns=functools.partial(mc_returns, gamma=gamma, max_len=max_len))
  return jit_agent(Agent(
      init=core["init"], act=core["act"], act_deterministic=core["act_deterministic"],
      update=update, update_many=update_many, td_abs=core["td_abs"], losses=losses,
      extras=extras, sample_offline=sample_offline if calibrated else replay.sample))


make_cal_ql = functools.partial(make_cql, calibrated=True)
