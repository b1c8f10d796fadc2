"""Validation of run configs, done once on the host before anything is compiled.

Every message names the offending field, its value and what is allowed, so a typo in a
command-line override fails in milliseconds instead of after a minute of compilation.
"""
from __future__ import annotations

import math
from typing import Iterable

import ml_collections

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


def _fail(field: str, value, allowed: str):
  raise ValueError(f"config.{field}={value!r} is invalid: {allowed}")


def _choice(c, field: str, choices: Iterable[str]):
  value = _get(c, field)
  if value not in choices:
    _fail(field, value, f"must be one of {sorted(choices)}")


def _get(c, field: str):
  node = c
  for part in field.split("."):
    if part not in node:
      raise ValueError(f"config.{field} is missing; see experiments/configs/base.py")
    node = node[part]
  return node


def _positive_int(c, field: str, allow_zero: bool = False):
  value = _get(c, field)
  if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
    _fail(field, value, "must be an integer >= " + ("0" if allow_zero else "1"))


def _in_range(c, field: str, lo: float, hi: float):
  value = _get(c, field)
  if not isinstance(value, (int, float)) or not math.isfinite(value) or not lo <= value <= hi:
    _fail(field, value, f"must be a finite number in [{lo}, {hi}]")


def _nonnegative(c, field: str):
  _in_range(c, field, 0.0, math.inf)


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the first invalid field."""
  from wombet_jax.envs import registry  # local: envs import brax, slow-ish

  if not registry.is_known(c.env):
    _fail("env", c.env, f"unknown task pair; known: {list(registry.names())}, each also as "
          f"<pair>{registry.SOURCE_SUFFIX}")
  _choice(c, "algo", ALGOS)
  _positive_int(c, "seed", allow_zero=True)
  _positive_int(c, "num_seeds")
  _positive_int(c, "episode_length", allow_zero=True)

  for f in ("ensemble_size", "num_elites", "hidden_size", "num_layers", "batch_size",
            "max_epochs", "patience", "capacity"):
    _positive_int(c, "world_model." + f)
  if c.world_model.num_elites > c.world_model.ensemble_size:
    _fail("world_model.num_elites", c.world_model.num_elites,
          f"must be <= world_model.ensemble_size={c.world_model.ensemble_size}")
  _in_range(c, "world_model.learning_rate", 1e-8, 1.0)
  _nonnegative(c, "world_model.weight_decay")
  _in_range(c, "world_model.holdout_fraction", 0.01, 0.5)
  _choice(c, "world_model.uncertainty", UNCERTAINTY_KINDS)
  _choice(c, "world_model.propagation", PROPAGATIONS)

  _choice(c, "planner.method", PLANNER_METHODS)
  for f in ("horizon", "population", "iterations", "num_elites", "particles"):
    _positive_int(c, "planner." + f)
  if c.planner.num_elites > c.planner.population:
    _fail("planner.num_elites", c.planner.num_elites,
          f"must be <= planner.population={c.planner.population}")
  _in_range(c, "planner.alpha", 0.0, 1.0)
  _in_range(c, "planner.init_std", 1e-6, 10.0)
  _nonnegative(c, "planner.lambda_plan")
  _in_range(c, "planner.discount", 0.0, 1.0)
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
  _in_range(c, "agent.discount", 0.0, 1.0)
  _in_range(c, "agent.tau", 0.0, 1.0)
  _nonnegative(c, "agent.lambda_q")

  _choice(c, "sampling.mode", SAMPLING_MODES)
  _choice(c, "sampling.td_error", TD_ERRORS)
  for f in ("beta_fixed", "beta_min", "beta_max", "rho"):
    _in_range(c, "sampling." + f, 0.0, 1.0)
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
  if lo.checkpoint_every % lo.eval_every:
    _fail("loop.checkpoint_every", lo.checkpoint_every,
          f"must be a multiple of loop.eval_every={lo.eval_every}")
  if c.agent.batch_size > lo.online_capacity:
    _fail("agent.batch_size", c.agent.batch_size,
          f"must be <= loop.online_capacity={lo.online_capacity}")
