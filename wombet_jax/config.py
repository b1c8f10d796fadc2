"""Validation of run configs, done once on the host before anything is compiled, and a run's
identity (the config fields its checkpoints must be resumed with).

Every message names the offending field, its value and what is allowed, so a typo in a
command-line override fails in milliseconds instead of after a minute of compilation.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping

import ml_collections
import numpy as np

from wombet_jax.errors import UserError

ALGOS = ("wombet", "sac", "td3", "ppo", "bc", "iql", "cql", "mopo", "combo", "iql_ft", "cal_ql",
         "awac", "rlpd")
FILTER_VARIANTS = ("dual", "reward", "uncertainty", "none")
THRESHOLD_MODES = ("quantile", "absolute")
AGGREGATES = ("max", "mean")
SAMPLING_MODES = ("adaptive", "fixed")
TD_ERRORS = ("absolute", "relative")
PLANNER_METHODS = ("cem", "mppi")
UNCERTAINTY_KINDS = ("max_std", "disagreement")
PROPAGATIONS = ("ts_inf", "ts1")

FLOAT32_MAX = float(np.finfo(np.float32).max)
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1

# Fields a resumed run may change: they never reach a compiled program or a computed number
# (`compare` names the runs that follow this one; `loop.checkpoint_every` only decides when
# the host saves; `writers` only where the metrics also go). Every other field is part of a
# run's identity, stored with each checkpoint.
RESUME_SAFE_FIELDS = ("compare", "loop.checkpoint_every", "writers")


def _fail(field: str, value, allowed: str):
  raise UserError(f"config.{field}={value!r} is invalid: {allowed}")


def _choice(c, field: str, choices: Iterable[str]):
  value = _get(c, field)
  if value not in choices:
    _fail(field, value, f"must be one of {sorted(choices)}")


def _get(c, field: str):
  node = c
  for part in field.split("."):
    if part not in node:
      raise UserError(f"config.{field} is missing; see experiments/configs/base.py")
    node = node[part]
  return node


def _positive_int(c, field: str, allow_zero: bool = False, hi: int = INT32_MAX):
  """Sizes and counts live in int32 arrays (step counters, buffer indices)."""
  value = _get(c, field)
  lo = 0 if allow_zero else 1
  if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
    _fail(field, value, f"must be an integer in [{lo}, {hi}]")


def _in_range(c, field: str, lo: float, hi: float, lo_open: bool = False,
              hi_open: bool = False):
  """A number in the interval; the bounds are clipped to what float32 holds, since every
  value ends up in a float32 computation (1e39 would be inf there)."""
  value = _get(c, field)
  lo, hi = max(lo, -FLOAT32_MAX), min(hi, FLOAT32_MAX)
  ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
        and math.isfinite(value) and lo <= value <= hi
        and not (lo_open and value == lo) and not (hi_open and value == hi))
  if not ok:
    _fail(field, value, f"must be a finite number in {'(' if lo_open else '['}{_num(lo)}, "
                        f"{_num(hi)}{')' if hi_open else ']'}")


def _num(x: float) -> str:
  return f"{x:.8g}" if abs(x) == FLOAT32_MAX else repr(x)


def _nonnegative(c, field: str):
  _in_range(c, field, 0.0, math.inf)


def _leaves(node, prefix: str = ""):
  """(dotted path, value) of every field below `node`, depth first in insertion order."""
  for k, v in node.items():
    if isinstance(v, (ml_collections.ConfigDict, Mapping)):
      yield from _leaves(v, f"{prefix}{k}.")
    else:
      yield prefix + k, v


def _representable(c) -> None:
  """Every number of every section (the baselines' too) fits the dtype it is computed in:
  floats are float32, integers int32 (the seed is checked as uint32 by `validate`)."""
  for path, value in _leaves(c):
    if isinstance(value, bool) or path == "seed":
      continue
    if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= FLOAT32_MAX):
      _fail(path, value, f"must be a finite number representable in float32 "
                         f"(|x| <= {_num(FLOAT32_MAX)})")
    if isinstance(value, int) and not -INT32_MAX - 1 <= value <= INT32_MAX:
      _fail(path, value, f"must be an integer representable in int32 (|x| <= {INT32_MAX})")


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises UserError (a ValueError) naming the first invalid field."""
  from wombet_jax import writers  # local: imports scipy (stats)
  from wombet_jax.envs import registry  # local: envs import brax, slow-ish

  if not registry.is_known(c.env):
    _fail("env", c.env, f"unknown task pair; known: {list(registry.names())}, each also as "
          f"<pair>{registry.SOURCE_SUFFIX}")
  _choice(c, "algo", ALGOS)
  writers.check(_get(c, "writers"))
  _representable(c)
  _positive_int(c, "num_seeds")
  hi = UINT32_MAX - (c.num_seeds - 1)
  if isinstance(c.seed, bool) or not isinstance(c.seed, int) or not 0 <= c.seed <= hi:
    _fail("seed", c.seed, f"must be an integer in [0, {hi}] (seeds seed, ..., "
                          "seed + num_seeds - 1 are uint32 PRNG seeds)")
  _positive_int(c, "episode_length", allow_zero=True)

  for f in ("ensemble_size", "num_elites", "hidden_size", "num_layers", "batch_size",
            "max_epochs", "patience", "capacity"):
    _positive_int(c, "world_model." + f)
  if c.world_model.num_elites > c.world_model.ensemble_size:
    _fail("world_model.num_elites", c.world_model.num_elites,
          f"must be <= world_model.ensemble_size={c.world_model.ensemble_size}")
  # A source episode enters the model's buffer in one piece.
  episode = c.episode_length or registry.default_episode_length(c.env)
  if c.world_model.capacity < episode:
    _fail("world_model.capacity", c.world_model.capacity,
          f"must be >= the episode length {episode} (a source episode is stored in one piece)")
  _in_range(c, "world_model.learning_rate", 1e-8, 1.0)
  for f in ("weight_decay", "improvement_threshold", "logvar_bound_coef"):
    _nonnegative(c, "world_model." + f)
  _in_range(c, "world_model.holdout_fraction", 0.01, 0.5)
  _choice(c, "world_model.uncertainty", UNCERTAINTY_KINDS)
  _choice(c, "world_model.propagation", PROPAGATIONS)

  _choice(c, "planner.method", PLANNER_METHODS)
  for f in ("horizon", "population", "iterations", "num_elites", "particles"):
    _positive_int(c, "planner." + f)
  if c.planner.num_elites > c.planner.population:
    _fail("planner.num_elites", c.planner.num_elites,
          f"must be <= planner.population={c.planner.population}")
  _in_range(c, "planner.alpha", 0.0, 1.0, hi_open=True)  # alpha = 1 never moves CEM
  _in_range(c, "planner.init_std", 1e-6, 10.0)
  _nonnegative(c, "planner.lambda_plan")
  _in_range(c, "planner.discount", 0.0, 1.0, lo_open=True)
  _in_range(c, "planner.mppi_temperature", 1e-6, 1e6)
  if not isinstance(_get(c, "planner.common_noise"), bool):
    _fail("planner.common_noise", c.planner.common_noise, "must be True or False")

  _positive_int(c, "pets.random_episodes")
  _positive_int(c, "pets.mpc_episodes", allow_zero=True)
  _positive_int(c, "generation.num_trajectories")
  _positive_int(c, "generation.horizon")

  _choice(c, "filter.variant", FILTER_VARIANTS)
  _choice(c, "filter.threshold_mode", THRESHOLD_MODES)
  _choice(c, "filter.aggregate", AGGREGATES)
  if c.filter.threshold_mode == "quantile":
    _in_range(c, "filter.eps_u", 0.0, 1.0)
    _in_range(c, "filter.eps_r", 0.0, 1.0)
  else:
    _nonnegative(c, "filter.eps_u")
    _in_range(c, "filter.eps_r", -math.inf, math.inf)

  for f in ("num_critics", "critic_subset", "hidden_size", "num_layers", "batch_size", "utd"):
    _positive_int(c, "agent." + f)
  if c.agent.critic_subset > c.agent.num_critics:
    _fail("agent.critic_subset", c.agent.critic_subset,
          f"must be <= agent.num_critics={c.agent.num_critics}")
  for f in ("actor_lr", "critic_lr", "temp_lr"):
    _in_range(c, "agent." + f, 1e-8, 1.0)
  _in_range(c, "agent.init_temperature", 1e-6, 1e3)
  _in_range(c, "agent.discount", 0.0, 1.0, hi_open=True)
  _in_range(c, "agent.tau", 0.0, 1.0, lo_open=True)
  _nonnegative(c, "agent.lambda_q")

  _choice(c, "sampling.mode", SAMPLING_MODES)
  _choice(c, "sampling.td_error", TD_ERRORS)
  for f in ("beta_fixed", "beta_min", "beta_max"):
    _in_range(c, "sampling." + f, 0.0, 1.0)
  _in_range(c, "sampling.rho", 0.0, 1.0, lo_open=True)
  if c.sampling.beta_min > c.sampling.beta_max:
    _fail("sampling.beta_min", c.sampling.beta_min,
          f"must be <= sampling.beta_max={c.sampling.beta_max}")
  _positive_int(c, "sampling.warmup_updates")

  for f in ("num_iterations", "steps_per_iteration", "online_capacity", "offline_capacity",
            "eval_every", "eval_episodes", "checkpoint_every"):
    _positive_int(c, "loop." + f)
  _positive_int(c, "loop.start_steps", allow_zero=True)
  _positive_int(c, "loop.offline_steps", allow_zero=True)
  lo = c.loop
  if lo.steps_per_iteration % lo.eval_every:
    _fail("loop.steps_per_iteration", lo.steps_per_iteration,
          f"must be a multiple of loop.eval_every={lo.eval_every} (one chunk per evaluation)")
  if lo.num_iterations * lo.steps_per_iteration > INT32_MAX:
    _fail("loop.steps_per_iteration", lo.steps_per_iteration,
          f"must keep loop.num_iterations x loop.steps_per_iteration <= {INT32_MAX} "
          "(target steps are counted in int32)")
  if lo.checkpoint_every % lo.eval_every:
    _fail("loop.checkpoint_every", lo.checkpoint_every,
          f"must be a multiple of loop.eval_every={lo.eval_every}")
  if c.agent.batch_size > lo.online_capacity:
    _fail("agent.batch_size", c.agent.batch_size,
          f"must be <= loop.online_capacity={lo.online_capacity}")


def unknown_field(c: ml_collections.ConfigDict, path: str, value: Any = None) -> str | None:
  """The error message for setting `config.<path>` if the config has no such field (the first
  missing part is named with the fields its section does have), else None."""
  node, parts = c, path.split(".")
  for i, part in enumerate(parts):
    section = ".".join(["config"] + parts[:i])
    if not isinstance(node, (ml_collections.ConfigDict, Mapping)):
      return (f"config.{path}={value!r} is invalid: {section} is a field, not a section "
              "with fields")
    if part not in node:
      kind = "fields" if i == len(parts) - 1 else "sections and fields"
      return (f"config.{path}={value!r} is invalid: {section} has no field {part!r}; its "
              f"{kind}: {sorted(node.keys())}")
    node = node[part]
  return None


def _canonical(value: Any) -> Any:
  """The JSON form of a config value (tuples become lists, as in config.json)."""
  return json.loads(json.dumps(value))


def identity(c: ml_collections.ConfigDict) -> dict[str, Any]:
  """A run's identity: every field of its resolved config by dotted path, minus
  RESUME_SAFE_FIELDS. Two runs with the same identity (and code) compute the same numbers."""
  return {path: _canonical(v) for path, v in _leaves(c) if path not in RESUME_SAFE_FIELDS}


def identity_differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
  """'config.<path>: <saved> in the checkpoint, <now> now' for every field that differs
  ('absent' for a field only one side has), in sorted order."""
  missing = object()
  out = []
  for path in sorted(set(saved) | set(now)):
    a, b = saved.get(path, missing), now.get(path, missing)
    if a != b:
      show = lambda v: "absent" if v is missing else repr(v)
      out.append(f"config.{path}: {show(a)} in the checkpoint, {show(b)} now")
  return out
