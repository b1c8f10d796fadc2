"""Shared helpers for the baseline tests: tiny configs, a scripted offline dataset on the
pointmass pair, and jitted "train on pointmass" runs: offline pretraining as the loop does
it, then the loop's own online step (`wombet_jax.online`).
"""
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import helpers
from wombet_jax import online, replay
from wombet_jax.agents.protocol import AgentContext
from wombet_jax.envs import pointmass
from wombet_jax.envs.base import Transition
from wombet_jax.networks import tanh_gaussian_sample

PAIR = pointmass.make_pair()
OBS, ACT = PAIR.obs_dim, PAIR.act_dim
EP_LEN = PAIR.episode_length
# Tests are compile-bound on CPU (a few ms of running per 1k env steps): the unoptimised
# backend halves compile time and keeps run time under a second.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def small_config(**sections):
  """Base config with tiny networks (helpers.TINY_BASELINE); ``sections`` such as
  {"td3": {...}, "agent": {...}} override it field by field."""
  return helpers.make_config("base", helpers.TINY_BASELINE, **sections)


def make_ctx(config, wm=None, penalty_fn=None):
  return AgentContext(OBS, ACT, config, PAIR, wm, penalty_fn)


def example_transition() -> Transition:
  z = jnp.zeros(())
  return Transition(obs=jnp.zeros(OBS), action=jnp.zeros(ACT), reward=z,
                    next_obs=jnp.zeros(OBS), terminal=z, done=z)


def random_batch(key, n=64):
  """A fixed batch of plausible pointmass transitions (Transition), rewards from r_T."""
  ks = jax.random.split(key, 3)
  obs = jax.random.uniform(ks[0], (n, OBS), minval=-1.0, maxval=1.0)
  act = jax.random.uniform(ks[1], (n, ACT), minval=-1.0, maxval=1.0)
  nxt = pointmass.dynamics(obs, act)
  term = (jax.random.uniform(ks[2], (n,)) < 0.1).astype(jnp.float32)
  return Transition(obs=obs, action=act, reward=PAIR.target.reward_fn(obs, act, nxt),
                    next_obs=nxt, terminal=term, done=term)


@functools.partial(jax.jit, static_argnames=("n", "noise", "capacity", "goal"),
                   compiler_options=FAST_COMPILE)
def pd_dataset(key, n=2000, noise=0.3, capacity=4000, goal=pointmass.TARGET_GOAL):
  """D_off: n target-env transitions (rewards r_T) of the PD controller toward ``goal`` plus
  N(0, noise^2) action noise, whole episodes in order (Monte-Carlo returns can be read off)."""
  k_reset, k_run = jax.random.split(key)

  def body(env, k):
    a = helpers.pd_action(env.obs, goal) + noise * jax.random.normal(k, (ACT,))
    a = jnp.clip(a, -1.0, 1.0)
    env, tr = PAIR.target.step(env, a)
    return env, tr

  _, trs = jax.lax.scan(body, PAIR.target.reset(k_reset), jax.random.split(k_run, n))
  return replay.add_batch(replay.init_buffer(example_transition(), capacity), trs)


def _returns(policy, key, episodes):
  """Target returns (episodes,) of ``policy(key, obs) -> action`` over 50-step episodes."""
  return helpers.episode_returns(PAIR.target, policy, key, episodes, EP_LEN)


@functools.partial(jax.jit, static_argnums=(0, 3), compiler_options=FAST_COMPILE)
def _seed_returns(act_deterministic, states, key, episodes):
  return jax.vmap(lambda s: jnp.mean(_returns(lambda k, o: act_deterministic(s, o), key,
                                              episodes)))(states)


def eval_seeds(agent, states, key, episodes=20):
  """Mean target return per seed of a vmapped run (list of floats), deterministic actions."""
  return [float(r) for r in _seed_returns(agent.act_deterministic, states, key, episodes)]


@functools.partial(jax.jit, static_argnums=1, compiler_options=FAST_COMPILE)
def _random_return(key, episodes):
  uniform = lambda k, o: jax.random.uniform(k, (ACT,), minval=-1.0, maxval=1.0)
  return jnp.mean(_returns(uniform, key, episodes))


def random_return(key, episodes=50):
  """Mean target return of uniform-random actions (about -62)."""
  return float(_random_return(key, episodes))


def fast(fn):
  """``fn`` jitted with the unoptimised backend when called from Python; called under a trace
  (inside another jit or scan) it is ``fn`` itself, since only a top-level jit takes options."""
  jitted = jax.jit(fn, compiler_options=FAST_COMPILE)

  def call(*args):
    if any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(args)):
      return fn(*args)
    return jitted(*args)

  return call


def train_on_fixed_batch(agent, steps, aux=None):
  """(initial state, state after ``steps`` updates on one random batch, that batch): the
  shared set-up of the tests that updates lower an agent's losses."""
  st0 = agent.init(jax.random.PRNGKey(0))
  batch = random_batch(jax.random.PRNGKey(1))
  run = fast(lambda s, ks: jax.lax.scan(
      lambda s, k: (agent.update(s, k, batch, aux)[0], None), s, ks)[0])
  return st0, run(st0, jax.random.split(jax.random.PRNGKey(2), steps)), batch


def fast_agent(agent):
  """The agent with every function re-jitted by ``fast`` (for tests that call them directly)."""
  return agent._replace(
      init=fast(agent.init), act=fast(agent.act), act_deterministic=fast(agent.act_deterministic),
      update=fast(agent.update), update_many=fast(agent.update_many))


def make_train(agent, config, *, pretrain_steps=0, online_steps=0, explore_randomly=True,
               aux=None, fast_compile=True):
  """Jitted train(keys (S, 2), offline|None) -> agent states (S, ...): offline pretraining
  (scan over ``agent.update`` on D_off batches), then ``online_steps`` target env steps of
  the loop's own online step (`wombet_jax.online.online_chunk`: act, step, add to D_on and,
  from step max(B, start_steps) on, the updates and the beta rule). ``aux`` stands in for the
  world-model state. ``fast_compile=False`` for update-heavy runs (CQL family). With both
  phases it returns (states after pretraining, final states)."""
  lo, batch = config.loop, int(config.agent.batch_size)
  sample = agent.sample_offline
  spec = online.Online(
      pair=PAIR, agent=agent, sampling=config.sampling, uses_offline=False,
      uses_model_penalty=aux is not None, keeps_model_data=False,
      explore_randomly=explore_randomly, start_steps=lo.start_steps,
      learn_start=max(batch, lo.start_steps if explore_randomly else batch),
      steps=online_steps)

  def seed_start(key, offline):
    k_init, k_pre, k_env, k_run = jax.random.split(key, 4)
    st = agent.init(k_init)
    if pretrain_steps:
      def pre(s, k):
        k_s, k_u = jax.random.split(k)
        return agent.update(s, k_u, sample(offline, k_s, batch), aux)[0], None
      st, _ = jax.lax.scan(pre, st, jax.random.split(k_pre, pretrain_steps))
    buf = replay.init_buffer(example_transition(), lo.online_capacity)
    return st, online.online_state(k_run, st, PAIR.target.reset(k_env), buf, config.sampling,
                                   agent.metrics, offline=offline, model=aux)

  def train(keys, offline):
    pretrained, states = jax.vmap(seed_start, in_axes=(0, None))(keys, offline)
    if not online_steps:
      return pretrained
    states, _ = online.online_chunk(spec._replace(uses_offline=offline is not None), states,
                                    jnp.int32(0))
    return (pretrained, states.agent) if pretrain_steps else states.agent

  return jax.jit(train, compiler_options=FAST_COMPILE if fast_compile else None)


class OracleModel(NamedTuple):
  """Stand-in for world_model.WorldModel with known numbers: elite m predicts the true
  pointmass step plus a bias of m * ``bias`` on every coordinate (plus ``noise`` * N(0, 1));
  u(s, a) = ``unc_scale`` * ||a||^2. ``aux`` (the model state) is a scalar multiplier of u."""
  num_elites: int = 2
  bias: float = 0.01
  noise: float = 0.0
  unc_scale: float = 0.5

  def sample_next(self, state, key, obs, act, member):
    del state
    member = jnp.broadcast_to(jnp.asarray(member), obs.shape[:-1])
    mean = pointmass.dynamics(obs, act) + self.bias * member[..., None]
    return mean + self.noise * jax.random.normal(key, mean.shape)

  def uncertainty(self, state, obs, act):
    del obs
    return state * self.unc_scale * jnp.sum(act ** 2, axis=-1)


def hand_conservative_critic_loss(q_fn, policy_fn, key, td_batch, y, down_obs, down_next,
                                  up_obs, up_action, alpha, n, lower=None):
  """CQL(H)/Cal-QL/COMBO critic loss in numpy from network outputs: mean_i [mean (Q_i - y)^2
  + alpha (mean_s LSE_i(s) - mean Q_i(up))], proposals drawn with the documented key use
  (k_u, k_pi, k_next = split(key, 3)); ``lower`` (B,) clamps the policy terms (Cal-QL)."""
  k_u, k_pi, k_next = jax.random.split(key, 3)
  b = down_obs.shape[0]
  rep = lambda x: jnp.broadcast_to(x, (n,) + x.shape)
  a_rand = jax.random.uniform(k_u, (n, b, ACT), minval=-1.0, maxval=1.0)
  a_pi, logp_pi = tanh_gaussian_sample(k_pi, *policy_fn(rep(down_obs)))
  a_nx, logp_nx = tanh_gaussian_sample(k_next, *policy_fn(rep(down_next)))
  q = lambda o, a: np.asarray(q_fn(o, a), np.float64)
  q_pi, q_nx = q(rep(down_obs), a_pi), q(rep(down_obs), a_nx)
  if lower is not None:
    q_pi, q_nx = np.maximum(q_pi, lower), np.maximum(q_nx, lower)
  cat = np.concatenate([q(rep(down_obs), a_rand) - ACT * np.log(0.5),
                        q_pi - np.asarray(logp_pi), q_nx - np.asarray(logp_nx)], axis=1)
  top = cat.max(axis=1, keepdims=True)
  lse = np.log(np.sum(np.exp(cat - top), axis=1)) + top[:, 0]
  gap = lse.mean(1) - q(up_obs, up_action).mean(1)
  td = ((q(td_batch.obs, td_batch.action) - np.asarray(y)) ** 2).mean(1)
  return np.mean(td + alpha * gap), np.mean(gap)
