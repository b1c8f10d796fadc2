"""MOPO (Yu et al., 2020) and COMBO (Yu et al., 2021): the model-based offline-only baselines
of paper sec. 5.2. Both train a conservative SAC learner (``cql.conservative_sac``) on a mix
of D_off and short rollouts of the current policy in the learned world model (``aux`` = its
state).

Model data, at every ``update`` (a Dyna/MBPO branch per gradient step, kept pure by holding the
model-data buffer in the agent state): from the first ``rollout_batch`` states s_0 of the D_off
batch, run h = ``rollout_length`` steps
  a_t ~ pi(.|s_t),  s_{t+1} ~ N(mu_m, sigma_m^2) of a uniformly random elite m (per step),
  r~_t = r_T(s_t, a_t, s_{t+1}) - lambda u(s_t, a_t)                  (MOPO's penalised reward)
with u the world model's uncertainty (world_model.uncertainty) and r_T the target task's
reward (D_off is relabelled with r_T; these methods are evaluated zero-shot on the target).
Steps after a model termination are dropped. The transitions go into the model buffer; each
learner batch is round(real_ratio B) rows of the D_off batch plus the rest from that buffer.

MOPO: lambda = ``mopo.penalty``, plain SAC critic (cql alpha = 0). As in ``cql``, the critic
target carries no entropy bonus; the actor and temperature are SAC's.
COMBO: no reward penalty (lambda = 0); the critic adds the conservative term of CQL(H) with
weight beta = ``combo.conservative_weight``, pushing Q down at the *model* states of the batch
(logsumexp over uniform, pi(.|s) and pi(.|s') actions) and up on the *real* (s, a) of the batch:
  L_i = mean (Q_i - y)^2 + beta (mean_{s ~ model} LSE_i(s) - mean_{(s, a) ~ D_off} Q_i(s, a)).
"""
from typing import Any, NamedTuple

import flax
import jax
import jax.numpy as jnp

from wombet_jax import replay
from wombet_jax.agents import common, cql, sac
from wombet_jax.agents.protocol import Agent
from wombet_jax.checks import Section
from wombet_jax.envs.base import Transition


@flax.struct.dataclass
class ModelBasedState:
  learner: cql.CQLState
  model_buffer: replay.Buffer   # model transitions (penalised rewards), rows Transition


def penalized_reward(reward: jax.Array, uncertainty: jax.Array, penalty: float) -> jax.Array:
  """MOPO's r~ = r - lambda u."""
  return reward - penalty * uncertainty


def model_rollouts(wm, reward_fn, termination_fn, policy, model_state: Any, key: jax.Array,
                   start_obs: jax.Array, length: int, penalty: float):
  """h-step rollouts of ``policy(key, obs) -> action`` in the model from ``start_obs`` (n, d).

  Returns (Transition with leaves (length * n, ...) in time-major order, valid mask (length*n,)).
  """
  n = start_obs.shape[0]

  def step(carry, k):
    obs, alive = carry
    k_a, k_m, k_s = jax.random.split(k, 3)
    action = policy(k_a, obs)
    member = jax.random.randint(k_m, (n,), 0, wm.num_elites)
    next_obs = wm.sample_next(model_state, k_s, obs, action, member)
    u = wm.uncertainty(model_state, obs, action)
    reward = penalized_reward(reward_fn(obs, action, next_obs), u, penalty)
    term = termination_fn(obs, action, next_obs).astype(jnp.float32)
    tr = Transition(obs=obs, action=action, reward=reward.astype(jnp.float32),
                    next_obs=next_obs, terminal=term, done=term)
    return (next_obs, alive * (1.0 - term)), (tr, alive > 0)

  _, (trs, valid) = jax.lax.scan(step, (start_obs, jnp.ones((n,), jnp.float32)),
                                 jax.random.split(key, length))
  flat = lambda x: x.reshape((length * n,) + x.shape[2:])
  return jax.tree_util.tree_map(flat, trs), flat(valid)


def _validate(section, prefix: str, batch_size: int, conservative: bool) -> None:
  s = Section(section, prefix)
  for f in ("rollout_length", "rollout_batch", "model_capacity"):
    s.integer(f)
  if section.rollout_batch > batch_size:
    s.fail("rollout_batch", f"must be <= agent.batch_size={batch_size}")
  s.number("real_ratio", 0.0, 1.0, hi_open=True)
  n_real = int(round(section.real_ratio * batch_size))
  lo = 1 if conservative else 0  # COMBO's push-up term needs real rows
  if not lo <= n_real < batch_size:
    s.fail("real_ratio",
           f"round(real_ratio * agent.batch_size) must lie in [{lo}, {batch_size - 1}]")


class ModelData(NamedTuple):
  """Where a learner batch's model data comes from: the world model ``wm`` (its state is
  ``aux``), the target ``task``'s reward and termination, and the sizes."""
  wm: Any
  task: Any
  n_start: int                  # rollout_batch: rollouts start at the batch's first states
  length: int                   # rollout_length h
  penalty: float                # lambda of r~ (MOPO; 0 for COMBO)
  n_real: int                   # rows of the D_off batch in a learner batch
  n_model: int                  # rows of the model buffer in it


def model_data(ctx, section, penalty: float) -> ModelData:
  batch_size = int(ctx.config.agent.batch_size)
  n_real = int(round(section.real_ratio * batch_size))
  return ModelData(ctx.wm, ctx.pair.target, int(section.rollout_batch),
                   int(section.rollout_length), penalty, n_real, batch_size - n_real)


def make_batch(learner: cql.Learner, md: ModelData, state: ModelBasedState, key, batch, aux):
  """(learner batch, model part, real part, new model buffer) for one update: rollouts from
  the first ``n_start`` states of ``batch`` into the model buffer, then ``n_real`` rows of
  ``batch`` followed by ``n_model`` rows of that buffer; k_roll, k_sample = split(key)."""
  k_roll, k_sample = jax.random.split(key)
  policy = lambda k, o: learner.nets.actor.sample(state.learner.actor.params, k, o)
  trs, valid = model_rollouts(md.wm, md.task.reward_fn, md.task.termination_fn, policy, aux,
                              k_roll, batch.obs[:md.n_start], md.length, md.penalty)
  buf = replay.add_batch(state.model_buffer, trs, mask=valid)
  model = replay.sample(buf, k_sample, md.n_model)
  real = jax.tree_util.tree_map(lambda x: x[:md.n_real], batch)
  mixed = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), real, model)
  return mixed, model, real, buf


def learner_args(mixed, model, real) -> tuple:
  """The TD loss on the mixed batch; COMBO pushes Q down at the model states and up on the
  real (s, a) (``cql.update``'s batch roles)."""
  return mixed, model.obs, model.next_obs, real.obs, real.action


def losses(learner: cql.Learner, md: ModelData, state: ModelBasedState, key, batch, aux) -> dict:
  """The losses ``update`` differentiates, at ``state``, with its key use and model data."""
  k_data, k_upd = jax.random.split(key)
  mixed, model, real, _ = make_batch(learner, md, state, k_data, batch, aux)
  return cql.losses(learner.nets, learner.hp, state.learner, k_upd,
                    *learner_args(mixed, model, real))


def make_model_based(ctx, section, prefix: str, penalty: float, conservative_weight: float,
                     num_action_samples: int) -> Agent:
  """The shared MOPO/COMBO agent (module docstring); ``section`` = config.mopo or config.combo."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  sac.check_agent(cfg.agent, obs_dim, act_dim)
  batch_size = int(cfg.agent.batch_size)
  _validate(section, prefix, batch_size, conservative_weight > 0)
  if ctx.wm is None:
    raise ValueError(f"{prefix} needs a world model: AgentContext.wm is None")
  learner = cql.conservative_sac(cfg, act_dim, float(conservative_weight),
                                 int(num_action_samples))
  nets, hp = learner.nets, learner.hp
  md = model_data(ctx, section, penalty)
  example = Transition(obs=jnp.zeros(obs_dim), action=jnp.zeros(act_dim), reward=jnp.zeros(()),
                       next_obs=jnp.zeros(obs_dim), terminal=jnp.zeros(()), done=jnp.zeros(()))

  def init(key):
    return ModelBasedState(learner=learner.init(key, obs_dim),
                           model_buffer=replay.init_buffer(example, int(section.model_capacity)))

  def update(state, key, batch, aux):
    common.check_batch(batch, obs_dim, act_dim)
    k_data, k_upd = jax.random.split(key)
    mixed, model, real, buf = make_batch(learner, md, state, k_data, batch, aux)
    new, info = cql.update(nets, hp, learner.txs, state.learner, k_upd,
                           *learner_args(mixed, model, real))
    info.update(model_reward_mean=jnp.mean(model.reward), model_buffer_size=buf.size)
    return ModelBasedState(learner=new, model_buffer=buf), info

  return common.assemble(
      cfg.agent, cfg.sampling, init=init,
      act=lambda s, k, o: nets.actor.sample(s.learner.actor.params, k, o),
      act_deterministic=lambda s, o: nets.actor.deterministic(s.learner.actor.params, o),
      update=update, td_fn=lambda s, k, b, aux: cql.td_abs(nets, hp, s.learner, k, b),
      batch_size=batch_size, actor=nets.actor, actor_params=lambda s: s.learner.actor.params)


def validate_mopo(cfg) -> None:
  Section(cfg.mopo, "mopo").nonnegative("penalty")
  _validate(cfg.mopo, "mopo", int(cfg.agent.batch_size), conservative=False)


def validate_combo(cfg) -> None:
  s = Section(cfg.combo, "combo")
  s.number("conservative_weight", 0.0, float("inf"), lo_open=True)
  s.integer("num_action_samples")
  _validate(cfg.combo, "combo", int(cfg.agent.batch_size), conservative=True)


def make_mopo(ctx) -> Agent:
  m = ctx.config.mopo
  validate_mopo(ctx.config)
  return make_model_based(ctx, m, "mopo", float(m.penalty), 0.0, 1)


def make_combo(ctx) -> Agent:
  c = ctx.config.combo
  validate_combo(ctx.config)
  return make_model_based(ctx, c, "combo", 0.0, float(c.conservative_weight),
                          int(c.num_action_samples))
