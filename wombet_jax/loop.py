"""The WOMBET loop as pure, seed-vmapped pieces (paper sec. 4, docs/method.md steps 1-7).

`make_pipeline(config)` closes over every static choice (sizes, task pair, algorithm) and
returns jitted functions of a batched `RunState` (leading axis: seeds). The online phase is a
`lax.scan` over env steps whose body vmaps one seed's step over the seed axis and, once
learning starts, runs G updates per step (`update_many`, itself a scan). Python only runs
between these pieces (`runner.py`): logging, evaluation, checkpoints.

Why the time scan sits outside the seed vmap: the "has learning started" predicate depends
only on the global step, which is the same for every seed. Kept unbatched, `lax.cond` really
skips the updates during warm-up; inside a vmap it would run both branches.

Every gradient update is checked for non-finite values without leaving the device: the scans
carry a `Health` per seed (the first bad step and which quantities were bad there), computed
from values the update has already produced, and the runner reads it once per piece.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp

from wombet_jax import beta as beta_lib
from wombet_jax import generation, replay
from wombet_jax import world_model as wm_lib
from wombet_jax.agents import registry
from wombet_jax.agents.protocol import AgentContext
from wombet_jax.checks import INT32_MAX, Section
from wombet_jax.envs import TaskPair, Transition, make_pair


@flax.struct.dataclass
class RunState:
  """Everything one seed carries between pieces; all of it is checkpointed."""
  key: jax.Array
  eval_key: jax.Array       # fixed; evaluation keys are fold_in(eval_key, target_steps)
  model: Any                # world_model.ModelState
  real: Any                 # world_model.Data: real transitions (D_src + D_on) for the model
  offline: Any              # replay.Buffer: D_off, relabelled with r_T
  online: Any               # replay.Buffer: D_on
  agent: Any
  beta: Any                 # beta.BetaState: the offline/online ratio, updated by the loop
  env: Any                  # envs.EnvState of the target env
  episode_return: jax.Array  # running return of the current training episode
  train_return: jax.Array   # return of the last finished training episode (nan before)
  metrics: dict             # the agent's `metrics` entries of the last step's update_many
                            # info (nan before the first update)
  accept_rate: jax.Array    # fraction of generated trajectories the filter kept
  n_offline: jax.Array      # transitions in D_off
  source_steps: jax.Array   # int32
  target_steps: jax.Array   # int32


class Pipeline(NamedTuple):
  config: Any
  spec: registry.AlgoSpec
  pair: TaskPair
  episode_length: int
  wm: Any
  agent: Any
  init: Any             # keys (S, 2) -> RunState
  source_episode: Any   # (states, use_planner) -> (states, returns (S,))
  fit_model: Any        # states -> (states, info)
  regenerate: Any       # states -> (states, info)
  pretrain: Any         # (states, start, length) -> (states, info): updates [start, start+length)
  pretrain_pieces: list  # [(start, length)] covering config.loop.offline_steps in order
  chunk: Any            # (states, t0) -> (states, info)
  evaluate: Any         # states -> returns (S,)
  trace_counts: dict


# Info entries with these suffixes are checked after every update: the losses and gradient
# norms the agents report.
CHECKED_SUFFIXES = ("_loss", "_norm")
# The flag for the agent's parameters and optimiser state as a whole: a non-finite gradient
# of any agent (whether or not it reports a norm) reaches the optimiser's moments here.
STATE_FLAG = "agent_state"


class Health(NamedTuple):
  """Per seed: the first step whose update produced a non-finite value, and what was bad."""
  step: jax.Array  # int32, -1 while every update was finite
  flags: dict      # name -> bool, the quantities that were not finite at `step`


def _tree_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def health_flags(agent, info: dict, agent_state) -> dict:
  """name -> True where it is not finite: every checked entry of one update's `info`, and
  the agent state after it. Entries an agent leaves nan on updates without that loss
  (`agent.optional_losses`, e.g. TD3's delayed actor) count only when infinite."""
  optional = agent.optional_losses
  flags = {name: (jnp.isinf(v) if name in optional else ~jnp.isfinite(v))
           for name, v in info.items() if name.endswith(CHECKED_SUFFIXES)}
  flags[STATE_FLAG] = ~_tree_finite(agent_state)
  return flags


def no_flags(flags_like) -> dict:
  return jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, bool), flags_like)


def init_health(flags_like, batch_shape: tuple = ()) -> Health:
  return Health(step=jnp.full(batch_shape, -1, jnp.int32), flags=no_flags(flags_like))


def record_health(h: Health, step: jax.Array, flags: dict) -> Health:
  """Keeps the first bad step (and its flags); later ones change nothing."""
  first = (h.step < 0) & jnp.any(jnp.stack(jax.tree_util.tree_leaves(flags)), axis=0)
  return Health(step=jnp.where(first, step, h.step),
                flags={k: h.flags[k] | (first & v) for k, v in flags.items()})


def _zero_transition(obs_dim: int, act_dim: int) -> Transition:
  z = jnp.zeros((), jnp.float32)
  return Transition(obs=jnp.zeros((obs_dim,)), action=jnp.zeros((act_dim,)), reward=z,
                    next_obs=jnp.zeros((obs_dim,)), terminal=z, done=z)


def over_seeds(fn: Callable, in_axes=0) -> Callable:
  """jax.vmap(fn, in_axes) over the leading seed axis, except that a single seed calls fn on
  the arguments without that axis and puts it back on the results. XLA's CPU matmuls with a
  batch dimension of 1 run about 1.5x slower than the same matmuls without one
  (experiments/benchmarks/peers.py, "vmapped over 1 seed"), so a one-seed run would pay that
  on every update. The seed count is a static shape, so the choice is made at trace time."""
  def mapped(*args):
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    sizes = {leaf.shape[0] for a, ax in zip(args, axes) if ax is not None
             for leaf in jax.tree_util.tree_leaves(a)}
    if sizes != {1}:
      return jax.vmap(fn, in_axes=in_axes)(*args)
    inner = [a if ax is None else jax.tree_util.tree_map(lambda x: x[0], a)
             for a, ax in zip(args, axes)]
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], fn(*inner))
  return mapped


def validate_config(lo) -> None:
  """Raises UserError naming the first invalid field of the ``loop`` config section."""
  s = Section(lo, "loop")
  for f in ("num_iterations", "steps_per_iteration", "online_capacity", "offline_capacity",
            "eval_every", "eval_episodes", "checkpoint_every"):
    s.integer(f)
  s.integer("start_steps", lo=0)
  s.integer("offline_steps", lo=0)
  if lo.steps_per_iteration % lo.eval_every:
    s.fail("steps_per_iteration",
           f"must be a multiple of loop.eval_every={lo.eval_every} (one chunk per evaluation)")
  if lo.num_iterations * lo.steps_per_iteration > INT32_MAX:
    s.fail("steps_per_iteration",
           f"must keep loop.num_iterations x loop.steps_per_iteration <= {INT32_MAX} "
           "(target steps are counted in int32)")
  if lo.checkpoint_every % lo.eval_every:
    s.fail("checkpoint_every", f"must be a multiple of loop.eval_every={lo.eval_every}")


# Offline pretraining runs as pieces of this many updates: progress and checkpoints between
# them (10k CQL updates take minutes on a CPU). The pieces give the same numbers as one scan,
# so the size is not part of the config (a run's identity).
PRETRAIN_PIECE = 1000


def make_pipeline(config, pretrain_piece: int = PRETRAIN_PIECE,
                  offline_data: Transition | None = None) -> Pipeline:
  """Builds the jitted pieces for `config` (validated beforehand by `config.validate`).

  offline_data: rows (N, ...) of source-task transitions (reward: the source reward) that
  D_off is drawn from instead of being generated (`config.offline.dataset`, read and checked
  by `harness.dataset.load_offline`); required exactly when that field is set. Each
  regeneration then relabels them with r_T (after drawing `offline.max_transitions` of them,
  if set); the source phase, the model fits and the model's penalty are unchanged.
  """
  spec = registry.get(config.algo)
  config = config.copy_and_resolve_references()
  spec.adjust_config(config)
  pair = make_pair(config.env, config.episode_length or None)
  ep_len = pair.episode_length
  wm = wm_lib.make_world_model(pair.obs_dim, pair.act_dim, config.world_model)
  penalty_fn = wm.uncertainty if spec.uses_model_penalty else None
  agent = spec.make(AgentContext(pair.obs_dim, pair.act_dim, config, pair, wm, penalty_fn))
  planner = generation.make_model_planner(config, pair, wm, pair.source.reward_fn)
  lo, batch = config.loop, config.agent.batch_size
  example = _zero_transition(pair.obs_dim, pair.act_dim)
  keeps_model_data = spec.uses_offline and spec.refresh_each_iteration
  counts = {k: 0 for k in ("source_episode", "fit_model", "regenerate", "pretrain", "chunk",
                           "evaluate")}

  def traced(name):
    counts[name] += 1  # runs at trace time only: counts compilations, not calls

  def init_one(key):
    ks = jax.random.split(key, 6)
    nan = jnp.float32(jnp.nan)
    return RunState(
        key=ks[0], eval_key=ks[1], model=wm.init(ks[2]),
        real=wm_lib.make_data(config.world_model.capacity, pair.obs_dim, pair.act_dim),
        offline=replay.init_buffer(example, lo.offline_capacity),
        online=replay.init_buffer(example, lo.online_capacity),
        agent=agent.init(ks[3]), beta=beta_lib.init(config.sampling),
        env=pair.target.reset(ks[4]), episode_return=jnp.float32(0.0), train_return=nan,
        metrics={name: nan for name in agent.metrics}, accept_rate=nan,
        n_offline=jnp.int32(0), source_steps=jnp.int32(0), target_steps=jnp.int32(0))

  def source_episode_one(s: RunState, use_planner: bool):
    key, k = jax.random.split(s.key)
    trs, ret = generation.collect_source_episode(pair, planner, ep_len, k, s.model, use_planner)
    real = wm_lib.add_to_data(s.real, trs.obs, trs.action, trs.next_obs)
    return s.replace(key=key, real=real, source_steps=s.source_steps + ep_len), ret

  def fit_model_one(s: RunState):
    key, k = jax.random.split(s.key)
    model, info = wm.train(s.model, k, s.real)
    return s.replace(key=key, model=model), info

  # Algorithms without D_off (SAC, TD3, PPO) ignore the field (a compared run inherits it).
  from_file = bool(config.offline.dataset) and spec.uses_offline
  if from_file != (offline_data is not None):
    raise ValueError("make_pipeline: offline_data must be given exactly when "
                     f"config.offline.dataset is set (it is {config.offline.dataset!r}) and "
                     f"the algorithm ({config.algo}) uses D_off")
  gen = config.generation
  # Seeds are vmapped, so each seed's block of trajectories is planned at the same time.
  gen_block = generation.resolve_block_size(config, pair.obs_dim, config.num_seeds)

  def offline_base(s: RunState) -> replay.Buffer:
    """The buffer a regeneration writes into (`generation.offline_update`)."""
    if gen.offline_update == "accumulate":
      return s.offline
    return replay.init_buffer(example, lo.offline_capacity)

  def regenerate_one(s: RunState):
    key, k = jax.random.split(s.key)
    obs0 = None
    if gen.start == "replay":  # static; "reset" keeps its key use unchanged
      k, k_start = jax.random.split(k)
      obs0 = generation.replay_start_states(s.real, k_start, gen.num_trajectories)
    ro = generation.generate(pair, wm, planner, gen.num_trajectories, gen.horizon, k, s.model,
                             jnp.float32(config.planner.lambda_plan), obs0=obs0,
                             block_size=gen_block)
    f = generation.filter_and_relabel(pair, config.filter, ro)
    offline = replay.add_batch(offline_base(s), f.transitions, mask=f.keep)
    info = {"accept_rate": jnp.mean(f.accept.astype(jnp.float32)), "n_offline": offline.size,
            "num_accepted": jnp.sum(f.accept), "return_min": jnp.min(f.traj_return),
            "return_max": jnp.max(f.traj_return), "unc_min": jnp.min(f.traj_unc),
            "unc_max": jnp.max(f.traj_unc), "mean_uncertainty": jnp.mean(ro.uncertainty)}
    if config.generation.export:  # static: the arrays only leave the device when asked for
      info["rollouts"], info["filtered"] = ro, f
    s = s.replace(key=key, offline=offline, accept_rate=info["accept_rate"],
                  n_offline=offline.size)
    return s, info

  def regenerate_from_file_one(s: RunState, data: Transition):
    """D_off from `offline_data` instead of the model (steps 2-3 skipped, step 4 kept)."""
    key, k = jax.random.split(s.key)
    rows = generation.relabel_rows(
        pair, generation.subsample_rows(data, k, config.offline.max_transitions))
    offline = replay.add_batch(offline_base(s), rows)
    nan = jnp.float32(jnp.nan)
    info = {"accept_rate": jnp.float32(1.0), "n_offline": offline.size,
            "num_accepted": jnp.int32(-1), "return_min": nan, "return_max": nan,
            "unc_min": nan, "unc_max": nan, "mean_uncertainty": nan}
    return s.replace(key=key, offline=offline, accept_rate=info["accept_rate"],
                     n_offline=offline.size), info

  aux_of = (lambda s: s.model) if spec.uses_model_penalty else (lambda s: None)

  sample_offline = agent.sample_offline

  def pretrain_one(s: RunState, start: jax.Array, length: int):
    """Updates [start, start + length) of the offline phase. Every piece derives the same
    offline_steps update keys from the unchanged run key and takes its slice, and only the
    last piece advances the run key: any split into pieces equals one scan, bit for bit.
    info: the last update's, plus the piece's Health (`nonfinite_step`: the first bad
    update, counted from 1 over the whole offline phase; `nonfinite`)."""
    def update(ag, k):
      k_s, k_u = jax.random.split(k)
      ag, info = agent.update(ag, k_u, sample_offline(s.offline, k_s, batch), aux_of(s))
      return ag, info, health_flags(agent, info, ag)

    def body(carry, x):
      ag, health = carry
      k, i = x
      ag, info, flags = update(ag, k)
      return (ag, record_health(health, i, flags)), info

    key, k = jax.random.split(s.key)
    keys = jax.lax.dynamic_slice_in_dim(jax.random.split(k, lo.offline_steps), start, length)
    flags_like = jax.eval_shape(update, s.agent, keys[0])[2]
    (ag, health), infos = jax.lax.scan(body, (s.agent, init_health(flags_like)),
                                       (keys, start + 1 + jnp.arange(length)))
    key = jnp.where(start + length >= lo.offline_steps, key, s.key)
    info = jax.tree_util.tree_map(lambda x: x[-1], infos)
    info.update(nonfinite_step=health.step, nonfinite=health.flags)
    return s.replace(key=key, agent=ag), info

  if isinstance(pretrain_piece, bool) or not isinstance(pretrain_piece, int) or pretrain_piece < 1:
    raise ValueError(f"pretrain_piece={pretrain_piece!r} is invalid: must be an integer >= 1")
  pieces = ([(a, min(pretrain_piece, lo.offline_steps - a))
             for a in range(0, lo.offline_steps, pretrain_piece)]
            if spec.offline_pretrain else [])
  pretrain_jit = {}  # one compilation per distinct piece length (at most two)

  def pretrain(states, start: int, length: int):
    if length not in pretrain_jit:
      pretrain_jit[length] = jax.jit(vm("pretrain", functools.partial(pretrain_one, length=length),
                                        in_axes=(0, None)))
    return pretrain_jit[length](states, jnp.int32(start))

  explore_randomly = not spec.uses_offline

  def act_and_step(s: RunState, random_phase):
    key, k_act, k_rand = jax.random.split(s.key, 3)
    a_pol = agent.act(s.agent, k_act, s.env.obs)
    a_rand = jax.random.uniform(k_rand, (pair.act_dim,), minval=-1.0, maxval=1.0)
    action = jnp.where(random_phase, a_rand, a_pol)
    env, tr = pair.target.step(s.env, action)
    ep_ret = s.episode_return + tr.reward
    s = s.replace(
        key=key, env=env, online=replay.add(s.online, tr),
        episode_return=jnp.where(tr.done > 0, 0.0, ep_ret),
        train_return=jnp.where(tr.done > 0, ep_ret, s.train_return),
        target_steps=s.target_steps + 1)
    if keeps_model_data:
      s = s.replace(real=wm_lib.add_to_data(s.real, tr.obs[None], tr.action[None],
                                            tr.next_obs[None]))
    return s

  def learn(s: RunState):
    key, k = jax.random.split(s.key)
    offline = s.offline if spec.uses_offline else None
    ag, info = agent.update_many(s.agent, k, offline, s.online, s.beta.beta, aux_of(s))
    # The loop steps the beta rule once per env step with the agent's delta (where it can move).
    beta = beta_lib.step(s.beta, info["td_error"], config.sampling, spec.uses_offline)
    s = s.replace(key=key, agent=ag, beta=beta,
                  metrics={name: info[name] for name in agent.metrics})
    return s, health_flags(agent, info, ag)

  learn_start = max(batch, lo.start_steps if explore_randomly else batch)
  period = agent.update_period

  def tick(s: RunState):
    key, _ = jax.random.split(s.key)  # the same key use as learn
    ag, info = agent.tick(s.agent)
    return s.replace(key=key, agent=ag, metrics={name: info[name] for name in agent.metrics})

  def learn_all(states: RunState, t, none_bad: dict):
    """(states, flags) after this step's updates; `none_bad` are the flags of a step without
    updates."""
    if not period:
      return over_seeds(learn)(states)
    # learn runs from t = learn_start - 1 on, so this is call number t - learn_start + 2;
    # t is shared by all seeds, so this cond stays a branch under the seed vmap.
    due = (t - learn_start + 2) % period == 0
    return jax.lax.cond(due, over_seeds(learn), lambda x: (over_seeds(tick)(x), none_bad),
                        states)

  def chunk(states: RunState, t0: jax.Array):
    """eval_every env steps from global step t0. info["nonfinite_step"] is the first target
    step count (t + 1 after env step t) whose updates produced a non-finite value, per seed."""
    traced("chunk")
    none_bad = no_flags(jax.eval_shape(over_seeds(learn), states)[1])

    def body(carry, t):
      states, health = carry
      random_phase = (t < lo.start_steps) if explore_randomly else jnp.bool_(False)
      states = over_seeds(act_and_step, in_axes=(0, None))(states, random_phase)
      states, flags = jax.lax.cond(t + 1 >= learn_start,
                                   lambda x: learn_all(x, t, none_bad),
                                   lambda x: (x, none_bad), states)
      return (states, record_health(health, t + 1, flags)), None

    health = init_health(none_bad, states.target_steps.shape)
    (states, health), _ = jax.lax.scan(body, (states, health), t0 + jnp.arange(lo.eval_every))
    return states, {"beta": states.beta.beta, "train_return": states.train_return,
                    "metrics": states.metrics, "nonfinite_step": health.step,
                    "nonfinite": health.flags}

  def evaluate(states: RunState):
    traced("evaluate")

    def one(s):
      k = jax.random.fold_in(s.eval_key, s.target_steps)
      return generation.rollout_policy(pair, lambda o: agent.act_deterministic(s.agent, o),
                                       ep_len, k, lo.eval_episodes)

    return over_seeds(one)(states)

  def vm(name, fn, **kw):
    def wrapped(states, *args):
      traced(name)
      return over_seeds(fn, **kw)(states, *args)
    return wrapped

  if from_file:
    regen_jit = jax.jit(vm("regenerate", regenerate_from_file_one, in_axes=(0, None)))
    data_device = jax.device_put(offline_data)
    regenerate = lambda states: regen_jit(states, data_device)
  else:
    regenerate = jax.jit(vm("regenerate", regenerate_one))
  source_jit = {
      flag: jax.jit(vm("source_episode", lambda s, f=flag: source_episode_one(s, f)))
      for flag in (False, True)}
  return Pipeline(
      config=config, spec=spec, pair=pair, episode_length=ep_len, wm=wm, agent=agent,
      init=jax.jit(over_seeds(init_one)),
      source_episode=lambda states, use_planner: source_jit[bool(use_planner)](states),
      fit_model=jax.jit(vm("fit_model", fit_model_one)),
      regenerate=regenerate,
      pretrain=pretrain, pretrain_pieces=pieces,
      chunk=jax.jit(chunk), evaluate=jax.jit(evaluate), trace_counts=counts)
