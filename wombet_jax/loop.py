"""The WOMBET loop as pure, seed-vmapped pieces (paper sec. 4, docs/method.md steps 1-7).

Each phase is a module-level function of the run's static `Parts` and one seed's `RunState`
(`init_state`, `source_episode`, `fit_model`, `regenerate`, `pretrain`, `evaluate`; the
online step is `wombet_jax.online`). `make_pipeline(config)` builds the `Parts` once and
returns these functions vmapped over the seed axis and jitted. Python only runs between the
pieces (`harness/runner.py`): logging, evaluation, checkpoints.

Every gradient update is checked for non-finite values without leaving the device
(`wombet_jax.health`); the runner reads each piece's `Health` once.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from wombet_jax import beta as beta_lib
from wombet_jax import generation, replay
from wombet_jax import world_model as wm_lib
from wombet_jax.agents import registry
from wombet_jax.agents.protocol import AgentContext
from wombet_jax.checks import INT32_MAX, Section
from wombet_jax.envs import TaskPair, Transition, make_pair
from wombet_jax.health import health_flags, init_health, record_health
from wombet_jax.online import Online, RunState, aux_of, online_chunk, online_spec, over_seeds


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


def _zero_transition(obs_dim: int, act_dim: int) -> Transition:
  z = jnp.zeros((), jnp.float32)
  return Transition(obs=jnp.zeros((obs_dim,)), action=jnp.zeros((act_dim,)), reward=z,
                    next_obs=jnp.zeros((obs_dim,)), terminal=z, done=z)


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


class Parts(NamedTuple):
  """The static pieces the per-seed functions of a run close over (`make_pipeline`)."""
  config: Any           # resolved, after the spec's adjust_config
  spec: registry.AlgoSpec
  pair: TaskPair
  wm: Any
  agent: Any
  planner: Any
  example: Transition   # a zero transition: the buffers' row layout
  gen_block: int        # trajectories planned at once per seed (generation.block_size)
  online: Online


def init_state(p: Parts, key) -> RunState:
  ks = jax.random.split(key, 6)
  nan = jnp.float32(jnp.nan)
  c, lo = p.config, p.config.loop
  return RunState(
      key=ks[0], eval_key=ks[1], model=p.wm.init(ks[2]),
      real=wm_lib.make_data(c.world_model.capacity, p.pair.obs_dim, p.pair.act_dim),
      offline=replay.init_buffer(p.example, lo.offline_capacity),
      online=replay.init_buffer(p.example, lo.online_capacity),
      agent=p.agent.init(ks[3]), beta=beta_lib.init(c.sampling),
      env=p.pair.target.reset(ks[4]), episode_return=jnp.float32(0.0), train_return=nan,
      metrics={name: nan for name in p.agent.metrics}, accept_rate=nan,
      n_offline=jnp.int32(0), source_steps=jnp.int32(0), target_steps=jnp.int32(0))


def source_episode(p: Parts, s: RunState, use_planner: bool):
  """One source-task episode (random or MPC in the model) into the model's real data."""
  key, k = jax.random.split(s.key)
  ep_len = p.pair.episode_length
  trs, ret = generation.collect_source_episode(p.pair, p.planner, ep_len, k, s.model,
                                               use_planner)
  real = wm_lib.add_to_data(s.real, trs.obs, trs.action, trs.next_obs)
  return s.replace(key=key, real=real, source_steps=s.source_steps + ep_len), ret


def fit_model(p: Parts, s: RunState):
  key, k = jax.random.split(s.key)
  model, info = p.wm.train(s.model, k, s.real)
  return s.replace(key=key, model=model), info


def _offline_base(p: Parts, s: RunState) -> replay.Buffer:
  """The buffer a regeneration writes into (`generation.offline_update`)."""
  if p.config.generation.offline_update == "accumulate":
    return s.offline
  return replay.init_buffer(p.example, p.config.loop.offline_capacity)


def regenerate(p: Parts, s: RunState):
  """Steps 2-4: trajectories planned in the model, the dual filter, relabelled into D_off."""
  c, gen = p.config, p.config.generation
  key, k = jax.random.split(s.key)
  obs0 = None
  if gen.start == "replay":  # static; "reset" keeps its key use unchanged
    k, k_start = jax.random.split(k)
    obs0 = generation.replay_start_states(s.real, k_start, gen.num_trajectories)
  ro = generation.generate(p.pair, p.wm, p.planner, gen.num_trajectories, gen.horizon, k,
                           s.model, jnp.float32(c.planner.lambda_plan), obs0=obs0,
                           block_size=p.gen_block, plan_dtype=gen.plan_dtype)
  f = generation.filter_and_relabel(p.pair, c.filter, ro)
  offline = replay.add_batch(_offline_base(p, s), f.transitions, mask=f.keep)
  info = {"accept_rate": jnp.mean(f.accept.astype(jnp.float32)), "n_offline": offline.size,
          "num_accepted": jnp.sum(f.accept), "return_min": jnp.min(f.traj_return),
          "return_max": jnp.max(f.traj_return), "unc_min": jnp.min(f.traj_unc),
          "unc_max": jnp.max(f.traj_unc), "mean_uncertainty": jnp.mean(ro.uncertainty)}
  if gen.export:  # static: the arrays only leave the device when asked for
    info["rollouts"], info["filtered"] = ro, f
  s = s.replace(key=key, offline=offline, accept_rate=info["accept_rate"],
                n_offline=offline.size)
  return s, info


def regenerate_from_file(p: Parts, s: RunState, data: Transition):
  """D_off from the rows of `config.offline.dataset` instead of the model (steps 2-3
  skipped, step 4 kept)."""
  key, k = jax.random.split(s.key)
  rows = generation.relabel_rows(
      p.pair, generation.subsample_rows(data, k, p.config.offline.max_transitions))
  offline = replay.add_batch(_offline_base(p, s), rows)
  nan = jnp.float32(jnp.nan)
  info = {"accept_rate": jnp.float32(1.0), "n_offline": offline.size,
          "num_accepted": jnp.int32(-1), "return_min": nan, "return_max": nan,
          "unc_min": nan, "unc_max": nan, "mean_uncertainty": nan}
  return s.replace(key=key, offline=offline, accept_rate=info["accept_rate"],
                   n_offline=offline.size), info


def pretrain(p: Parts, s: RunState, start: jax.Array, length: int):
  """Updates [start, start + length) of the offline phase. Every piece derives the same
  offline_steps update keys from the unchanged run key and takes its slice, and only the
  last piece advances the run key: any split into pieces equals one scan, bit for bit.
  info: the last update's, plus the piece's Health (`nonfinite_step`: the first bad
  update, counted from 1 over the whole offline phase; `nonfinite`)."""
  agent, steps = p.agent, p.config.loop.offline_steps
  aux = aux_of(p.spec.uses_model_penalty, s)

  def update(ag, k):
    k_s, k_u = jax.random.split(k)
    ag, info = agent.update(ag, k_u, agent.sample_offline(s.offline, k_s,
                                                          p.config.agent.batch_size), aux)
    return ag, info, health_flags(agent, info, ag)

  def body(carry, x):
    ag, health = carry
    k, i = x
    ag, info, flags = update(ag, k)
    return (ag, record_health(health, i, flags)), info

  key, k = jax.random.split(s.key)
  keys = jax.lax.dynamic_slice_in_dim(jax.random.split(k, steps), start, length)
  flags_like = jax.eval_shape(update, s.agent, keys[0])[2]
  (ag, health), infos = jax.lax.scan(body, (s.agent, init_health(flags_like)),
                                     (keys, start + 1 + jnp.arange(length)))
  key = jnp.where(start + length >= steps, key, s.key)
  info = jax.tree_util.tree_map(lambda x: x[-1], infos)
  info.update(nonfinite_step=health.step, nonfinite=health.flags)
  return s.replace(key=key, agent=ag), info


def evaluate(p: Parts, s: RunState):
  """Deterministic-policy returns on the target task; keys fold in the target step."""
  k = jax.random.fold_in(s.eval_key, s.target_steps)
  return generation.rollout_policy(p.pair, lambda o: p.agent.act_deterministic(s.agent, o),
                                   p.pair.episode_length, k, p.config.loop.eval_episodes)


def pretrain_pieces(offline_steps: int, piece: int) -> list[tuple[int, int]]:
  """[(start, length)] covering the offline phase in order, pieces of `piece` updates."""
  if isinstance(piece, bool) or not isinstance(piece, int) or piece < 1:
    raise ValueError(f"pretrain_piece={piece!r} is invalid: must be an integer >= 1")
  return [(a, min(piece, offline_steps - a)) for a in range(0, offline_steps, piece)]


def make_parts(config, offline_data: Transition | None = None) -> Parts:
  """The static pieces of a run; `config` is resolved and adjusted by the algorithm's spec."""
  spec = registry.get(config.algo)
  config = config.copy_and_resolve_references()
  spec.adjust_config(config)
  pair = make_pair(config.env, config.episode_length or None)
  wm = wm_lib.make_world_model(pair.obs_dim, pair.act_dim, config.world_model)
  penalty_fn = wm.uncertainty if spec.uses_model_penalty else None
  agent = spec.make(AgentContext(pair.obs_dim, pair.act_dim, config, pair, wm, penalty_fn))
  # Algorithms without D_off (SAC, TD3, PPO) ignore the field (a compared run inherits it).
  from_file = bool(config.offline.dataset) and spec.uses_offline
  if from_file != (offline_data is not None):
    raise ValueError("make_pipeline: offline_data must be given exactly when "
                     f"config.offline.dataset is set (it is {config.offline.dataset!r}) and "
                     f"the algorithm ({config.algo}) uses D_off")
  return Parts(
      config=config, spec=spec, pair=pair, wm=wm, agent=agent,
      planner=generation.make_model_planner(config, pair, wm, pair.source.reward_fn),
      example=_zero_transition(pair.obs_dim, pair.act_dim),
      # Seeds are vmapped, so each seed's block of trajectories is planned at the same time.
      gen_block=generation.resolve_block_size(config, pair.obs_dim, config.num_seeds),
      online=online_spec(config, spec, pair, agent))


def make_pipeline(config, pretrain_piece: int = PRETRAIN_PIECE,
                  offline_data: Transition | None = None) -> Pipeline:
  """The jitted, seed-vmapped pieces for `config` (validated beforehand by
  `config.validate`): the per-seed functions above, composed.

  offline_data: rows (N, ...) of source-task transitions (reward: the source reward) that
  D_off is drawn from instead of being generated (`config.offline.dataset`, read and checked
  by `harness.dataset.load_offline`); required exactly when that field is set. Each
  regeneration then relabels them with r_T (after drawing `offline.max_transitions` of them,
  if set); the source phase, the model fits and the model's penalty are unchanged.
  """
  p = make_parts(config, offline_data)
  counts = {k: 0 for k in ("source_episode", "fit_model", "regenerate", "pretrain", "chunk",
                           "evaluate")}

  def vm(name, fn, **kw):
    def wrapped(states, *args):
      counts[name] += 1  # runs at trace time only: counts compilations, not calls
      return over_seeds(functools.partial(fn, p), **kw)(states, *args)
    return wrapped

  pieces = (pretrain_pieces(p.config.loop.offline_steps, pretrain_piece)
            if p.spec.offline_pretrain else [])
  pretrain_jit = {}  # one compilation per distinct piece length (at most two)

  def pretrain_piece_fn(states, start: int, length: int):
    if length not in pretrain_jit:
      one = lambda p_, s, start_: pretrain(p_, s, start_, length)
      pretrain_jit[length] = jax.jit(vm("pretrain", one, in_axes=(0, None)))
    return pretrain_jit[length](states, jnp.int32(start))

  if offline_data is not None:
    regen_jit = jax.jit(vm("regenerate", regenerate_from_file, in_axes=(0, None)))
    data_device = jax.device_put(offline_data)
    regen = lambda states: regen_jit(states, data_device)
  else:
    regen = jax.jit(vm("regenerate", regenerate))
  source_jit = {flag: jax.jit(vm("source_episode",
                                 lambda p_, s, f=flag: source_episode(p_, s, f)))
                for flag in (False, True)}

  def chunk(states, t0):
    counts["chunk"] += 1
    return online_chunk(p.online, states, t0)

  return Pipeline(
      config=p.config, spec=p.spec, pair=p.pair, episode_length=p.pair.episode_length,
      wm=p.wm, agent=p.agent,
      init=jax.jit(over_seeds(functools.partial(init_state, p))),
      source_episode=lambda states, use_planner: source_jit[bool(use_planner)](states),
      fit_model=jax.jit(vm("fit_model", fit_model)),
      regenerate=regen, pretrain=pretrain_piece_fn, pretrain_pieces=pieces,
      chunk=jax.jit(chunk), evaluate=jax.jit(vm("evaluate", evaluate)), trace_counts=counts)
