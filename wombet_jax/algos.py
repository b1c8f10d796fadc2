"""Algorithm registry: an algorithm is its agent (networks, losses, update) plus a few flags
that tell the shared loop which phases it uses. There is one loop for all of them.

Agent protocol (what `wombet_jax.agents.sac.SAC` provides; baselines provide the same):
  init(key) -> agent_state
  act(agent_state, key, obs) -> action                         (exploration)
  act_deterministic(agent_state, obs) -> action                (evaluation)
  update(agent_state, key, batch, aux) -> (agent_state, info)  (one gradient step; offline
                                                                pretraining scans over it)
  update_many(agent_state, beta_state, key, offline|None, online, aux)
      -> (agent_state, beta_state, info)                       (G updates per env step)
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from wombet_jax.config import ALGOS


@dataclasses.dataclass(frozen=True)
class AlgoSpec:
  name: str
  # Builds the agent: make_agent(AgentContext) -> agent.
  make_agent: Callable[["AgentContext"], Any]
  uses_offline: bool = False        # needs D_off (PETS source phase, model, generation)
  refresh_each_iteration: bool = False  # refit the model and regenerate D_off every iteration
  offline_pretrain: bool = False    # config.loop.offline_steps updates on D_off before online
  online: bool = True               # fine-tunes in the target env (False: zero-shot eval only)
  uses_model_penalty: bool = False  # pass the world-model state as `aux` (WOMBET's critic
                                    # penalty; MOPO/COMBO model rollouts)
  adjust_config: Callable[[Any], None] = lambda c: None  # e.g. RLPD's fixed 50/50 ratio


@dataclasses.dataclass(frozen=True)
class AgentContext:
  """What an agent may close over; all static. `aux` passed at call time is the world-model
  state (traced) when the spec sets uses_model_penalty, else None."""
  obs_dim: int
  act_dim: int
  config: Any                 # the whole run config, after adjust_config
  pair: Any                   # envs.TaskPair (reward/termination functions of both tasks)
  wm: Any                     # world_model.WorldModel (pure functions)
  penalty_fn: Any             # (model_state, obs, act) -> u, or None


def _make_sac(ctx: AgentContext):
  from wombet_jax.agents.sac import make_sac
  return make_sac(ctx.obs_dim, ctx.act_dim, ctx.config.agent, ctx.config.sampling,
                  penalty_fn=ctx.penalty_fn)


def _rlpd_config(c):
  # RLPD: symmetric 50/50 sampling and no model penalty; same critic ensemble and UTD.
  c.sampling.mode = "fixed"
  c.sampling.beta_fixed = 0.5
  c.agent.lambda_q = 0.0


REGISTRY: dict[str, AlgoSpec] = {
    "wombet": AlgoSpec("wombet", _make_sac, uses_offline=True, refresh_each_iteration=True,
                       uses_model_penalty=True),
    "sac": AlgoSpec("sac", _make_sac),
    "rlpd": AlgoSpec("rlpd", _make_sac, uses_offline=True, adjust_config=_rlpd_config),
}


def register(spec: AlgoSpec) -> None:
  REGISTRY[spec.name] = spec


def get(name: str) -> AlgoSpec:
  _load_baselines()
  if name not in REGISTRY:
    available = sorted(REGISTRY)
    raise ValueError(f"config.algo={name!r} is not available; implemented: {available} "
                     f"(all names: {list(ALGOS)})")
  return REGISTRY[name]


def _load_baselines() -> None:
  try:
    import wombet_jax.agents.baselines  # noqa: F401  (registers itself)
  except ModuleNotFoundError as e:
    if e.name != "wombet_jax.agents.baselines":
      raise
