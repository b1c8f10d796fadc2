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
batches of ``MCTransition`` (a Transition with its "mc_return"): ``agent.sample_offline(buffer,
key, B)`` draws them (the loop uses it for pretraining) and ``update_many`` mixes D_off and D_on
(``replay.sample_mixed``; beta fixed at 0.5 by the registry, Cal-QL's own 50/50 mixing) with
MC returns on both.
"""
import functools
from typing import Any, NamedTuple, Optional

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from wombet_jax import replay
from wombet_jax.agents import common, sac
from wombet_jax.agents.common import TrainState
from wombet_jax.agents.protocol import Agent
from wombet_jax.checks import Section
from wombet_jax.envs.base import Transition
from wombet_jax.networks import (Actor, apply_ensemble, hidden_dims, init_ensemble, make_actor,
                                 tanh_gaussian_sample)


@flax.struct.dataclass
class CQLState:
  actor: TrainState
  critic: TrainState             # params stacked (N_Q, ...)
  target_critic_params: Any
  log_alpha: TrainState          # params: () log SAC temperature
  step: jax.Array


@flax.struct.dataclass
class MCTransition(Transition):
  """A Transition with the Monte-Carlo return of its state, V_mc(s) (module docstring)."""
  mc_return: jax.Array


class Networks(NamedTuple):
  actor: Actor                   # tanh-Gaussian policy
  critic: nn.Module              # one member; parameters stacked (N_Q, ...)


class Hyperparameters(NamedTuple):
  gamma: float
  tau: float
  target_entropy: float          # -|A|
  alpha: float                   # weight of the conservative term (0: plain SAC critic)
  num_samples: int               # n, proposals per state and set
  act_dim: int


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
  reward = if_valid(buffer.data.reward[rows])
  done = if_valid(buffer.data.done[rows])
  alive = jnp.concatenate([jnp.ones_like(done[:, :1]), jnp.cumprod(1.0 - done, 1)[:, :-1]], 1)
  ret = jnp.sum(alive * reward * gamma ** k, axis=1)
  finished = jnp.sum(alive * done, axis=1) > 0
  return jnp.where(finished, ret, -jnp.inf)


def sample_with_mc(buffer: replay.Buffer, key: jax.Array, batch_size: int, gamma: float,
                   max_len: int) -> MCTransition:
  """replay.sample's rows (same key use) with their Monte-Carlo returns."""
  idx = replay.sample_indices(buffer, key, batch_size)
  rows = replay.rows(buffer, idx)
  return MCTransition(obs=rows.obs, action=rows.action, reward=rows.reward,
                      next_obs=rows.next_obs, terminal=rows.terminal, done=rows.done,
                      mc_return=mc_returns(buffer, idx, gamma, max_len))


# --- losses -----------------------------------------------------------------------------------
def q_values(nets: Networks, critic_params, obs, action) -> jax.Array:
  return apply_ensemble(nets.critic, critic_params, obs, action)


def policy_sample(nets: Networks, actor_params, key, obs):
  """(a, log pi(a|s)), a ~ pi(.|s) (reparameterised)."""
  return tanh_gaussian_sample(key, *nets.actor.apply(actor_params, obs))


def critic_target(nets: Networks, hp: Hyperparameters, actor_params, target_critic_params,
                  batch, key) -> jax.Array:
  """y = r + gamma (1 - terminal) min_i Q'_i(s', a'), a' ~ pi(.|s'); no gradient."""
  a_next = policy_sample(nets, actor_params, key, batch.next_obs)[0]
  q_next = jnp.min(q_values(nets, target_critic_params, batch.next_obs, a_next), axis=0)
  return jax.lax.stop_gradient(batch.reward + hp.gamma * (1.0 - batch.terminal) * q_next)


def proposals(nets: Networks, hp: Hyperparameters, actor_params, key, down_obs, down_next_obs):
  """Uniform, pi(.|s) and pi(.|s') actions (n, B, |A|) with log-probs (no gradient);
  k_u, k_pi, k_next = split(key, 3)."""
  k_u, k_pi, k_next = jax.random.split(key, 3)
  n = hp.num_samples
  rep = lambda x: jnp.broadcast_to(x, (n,) + x.shape)
  a_rand = jax.random.uniform(k_u, (n, down_obs.shape[0], hp.act_dim), minval=-1.0, maxval=1.0)
  a_pi, logp_pi = policy_sample(nets, actor_params, k_pi, rep(down_obs))
  a_next, logp_next = policy_sample(nets, actor_params, k_next, rep(down_next_obs))
  return jax.tree_util.tree_map(jax.lax.stop_gradient,
                                (rep(down_obs), a_rand, a_pi, logp_pi, a_next, logp_next))


def critic_loss(nets: Networks, hp: Hyperparameters, critic_params, batch, y, props, up_obs,
                up_action, lower_bound=None):
  """(L_Q, (Q (N_Q, B), mean conservative gap, mean TD loss)): the TD loss on ``batch`` plus
  alpha (mean_s LSE_i(s) - mean Q_i(up_obs, up_action)) for each critic, the LSE over the
  ``proposals`` ``props``; ``lower_bound`` (B,): Cal-QL's V_mc."""
  q = q_values(nets, critic_params, batch.obs, batch.action)
  td = jnp.mean((q - y) ** 2, axis=1)
  if hp.alpha == 0.0:  # static: plain SAC critic (MOPO), no proposals evaluated
    return jnp.mean(td), (q, jnp.float32(0.0), jnp.mean(td))
  obs_rep, a_rand, a_pi, logp_pi, a_next, logp_next = props
  cp = critic_params
  lse = conservative_logsumexp(
      q_values(nets, cp, obs_rep, a_rand), q_values(nets, cp, obs_rep, a_pi), logp_pi,
      q_values(nets, cp, obs_rep, a_next), logp_next, hp.act_dim, lower_bound)
  gap = jnp.mean(lse, axis=1) - jnp.mean(q_values(nets, cp, up_obs, up_action), axis=1)  # (N_Q,)
  return jnp.mean(td + hp.alpha * gap), (q, jnp.mean(gap), jnp.mean(td))


def actor_loss(nets: Networks, actor_params, critic_params, temperature, obs, key):
  """(mean(alpha_T log pi(a|s) - min_i Q_i(s, a)), log pi (B,)), a ~ pi(.|s) from key."""
  a, logp = policy_sample(nets, actor_params, key, obs)
  return jnp.mean(temperature * logp - jnp.min(q_values(nets, critic_params, obs, a), axis=0)), logp


def losses(nets: Networks, hp: Hyperparameters, state: CQLState, key, td_batch, down_obs,
           down_next_obs, up_obs, up_action, lower_bound=None) -> dict:
  """The losses ``update`` differentiates, at ``state``, with its key use (the actor's against
  the critics of ``state``)."""
  k_t, k_p, k_a = jax.random.split(key, 3)
  y = critic_target(nets, hp, state.actor.params, state.target_critic_params, td_batch, k_t)
  props = proposals(nets, hp, state.actor.params, k_p, down_obs, down_next_obs)
  c_loss, (_, gap, td) = critic_loss(nets, hp, state.critic.params, td_batch, y, props, up_obs,
                                     up_action, lower_bound)
  a_loss, _ = actor_loss(nets, state.actor.params, state.critic.params,
                         jnp.exp(state.log_alpha.params), td_batch.obs, k_a)
  return dict(critic_loss=c_loss, td_loss=td, conservative_gap=gap, actor_loss=a_loss)


def update(nets: Networks, hp: Hyperparameters, txs, state: CQLState, key, td_batch, down_obs,
           down_next_obs, up_obs, up_action, lower_bound=None):
  """One step on critic, actor, temperature (that order), then the targets: the TD loss on
  ``td_batch``, Q pushed down at states ``down_obs`` (proposals from pi(.|down_obs),
  pi(.|down_next_obs) and uniform) and up on (up_obs, up_action)."""
  actor_tx, critic_tx, alpha_tx = txs
  k_t, k_p, k_a = jax.random.split(key, 3)
  obs = td_batch.obs
  y = critic_target(nets, hp, state.actor.params, state.target_critic_params, td_batch, k_t)
  props = proposals(nets, hp, state.actor.params, k_p, down_obs, down_next_obs)
  (c_loss, (q, gap, td)), gc = jax.value_and_grad(
      lambda cp: critic_loss(nets, hp, cp, td_batch, y, props, up_obs, up_action, lower_bound),
      has_aux=True)(state.critic.params)
  critic = state.critic.apply_gradients(critic_tx, gc)
  temp = jnp.exp(state.log_alpha.params)
  (a_loss, logp), ga = jax.value_and_grad(
      lambda ap: actor_loss(nets, ap, critic.params, temp, obs, k_a), has_aux=True)(
          state.actor.params)
  actor = state.actor.apply_gradients(actor_tx, ga)
  entropy = -jax.lax.stop_gradient(jnp.mean(logp))
  gt = jax.grad(lambda la: sac.alpha_loss(la, entropy, hp.target_entropy))(
      state.log_alpha.params)
  log_alpha = state.log_alpha.apply_gradients(alpha_tx, gt)
  new = CQLState(actor=actor, critic=critic,
                 target_critic_params=common.polyak(critic.params, state.target_critic_params,
                                                    hp.tau),
                 log_alpha=log_alpha, step=state.step + 1)
  return new, dict(critic_loss=c_loss, td_loss=td, conservative_gap=gap, actor_loss=a_loss,
                   temperature=jnp.exp(log_alpha.params), q_mean=jnp.mean(q),
                   td_abs=common.td_abs(y, q))


def td_abs(nets: Networks, hp: Hyperparameters, state: CQLState, key, batch) -> jax.Array:
  """Mean |y - Q_i(s, a)| on ``batch``."""
  y = critic_target(nets, hp, state.actor.params, state.target_critic_params, batch, key)
  return common.td_abs(y, q_values(nets, state.critic.params, batch.obs, batch.action))


class Learner(NamedTuple):
  """A conservative SAC learner (CQL, Cal-QL, COMBO, MOPO) of one config: its networks,
  numbers and optimisers."""
  nets: Networks
  hp: Hyperparameters
  txs: tuple                     # (actor, critic, temperature) optax transformations
  num_critics: int
  init_temperature: float

  def init(self, key, obs_dim: int) -> CQLState:
    k_a, k_c = jax.random.split(key)
    obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, self.hp.act_dim))
    ap = self.nets.actor.init(k_a, obs)
    cp = init_ensemble(self.nets.critic, k_c, self.num_critics, obs, act)
    la = jnp.asarray(jnp.log(self.init_temperature), jnp.float32)
    return CQLState(actor=TrainState.create(self.txs[0], ap),
                    critic=TrainState.create(self.txs[1], cp), target_critic_params=cp,
                    log_alpha=TrainState.create(self.txs[2], la), step=jnp.zeros((), jnp.int32))


def conservative_sac(cfg, act_dim: int, alpha: float, num_samples: int) -> Learner:
  """The learner of config ``cfg`` (agent and baselines sections) with conservative weight
  ``alpha`` and ``num_samples`` proposals per set."""
  hid = hidden_dims(cfg.agent.hidden_size, cfg.agent.num_layers)
  critic, n_q = common.twin_critic(cfg)
  nets = Networks(make_actor("tanh_gaussian", act_dim, hid), critic)
  hp = Hyperparameters(gamma=float(cfg.agent.discount), tau=float(cfg.agent.tau),
                       target_entropy=-float(act_dim), alpha=float(alpha),
                       num_samples=int(num_samples), act_dim=int(act_dim))
  txs = (optax.adam(cfg.agent.actor_lr), optax.adam(cfg.agent.critic_lr),
         optax.adam(cfg.agent.temp_lr))
  return Learner(nets, hp, txs, n_q, float(cfg.agent.init_temperature))


def validate(cfg) -> None:
  s = Section(cfg.cql, "cql")
  s.nonnegative("alpha")
  s.integer("num_action_samples")


def lower_bound(batch, calibrated: bool) -> Optional[jax.Array]:
  """Cal-QL's V_mc of the batch's states (None for CQL)."""
  if not calibrated:
    return None
  if not isinstance(batch, MCTransition):
    raise ValueError("Cal-QL needs batches with an 'mc_return' field (cql.MCTransition): "
                     "sample D_off with agent.sample_offline (not replay.sample)")
  return batch.mc_return


def make_cql(ctx, calibrated: bool = False) -> Agent:
  """CQL (``calibrated=False``) or Cal-QL agent for ``ctx`` (protocol.AgentContext)."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  sac.check_agent(cfg.agent, obs_dim, act_dim)
  validate(cfg)
  learner = conservative_sac(cfg, act_dim, float(cfg.cql.alpha), int(cfg.cql.num_action_samples))
  nets, hp = learner.nets, learner.hp
  max_len = max(int(ctx.pair.episode_length), int(cfg.generation.horizon))

  def update_fn(state, key, batch, aux):
    del aux
    common.check_batch(batch, obs_dim, act_dim)
    # CQL pushes Q down at the batch's states and up on its (s, a).
    return update(nets, hp, learner.txs, state, key, batch, batch.obs, batch.next_obs,
                  batch.obs, batch.action, lower_bound(batch, calibrated))

  sample_fn = (functools.partial(sample_with_mc, gamma=hp.gamma, max_len=max_len) if calibrated
               else replay.sample)
  return common.assemble(
      cfg.agent, cfg.sampling, init=lambda key: learner.init(key, obs_dim),
      act=lambda s, k, o: nets.actor.sample(s.actor.params, k, o),
      act_deterministic=lambda s, o: nets.actor.deterministic(s.actor.params, o),
      update=update_fn, td_fn=lambda s, k, b, aux: td_abs(nets, hp, s, k, b),
      sample_fn=sample_fn, sample_offline=sample_fn, actor=nets.actor,
      actor_params=lambda s: s.actor.params)


make_cal_ql = functools.partial(make_cql, calibrated=True)
