"""Every algorithm, in one table: its agent factory, its config section and validator, and the
flags that tell the shared loop which phases it runs. Everything else that needs the
algorithm names (config validation, plots, policy export, tests) derives them from here.

Adding an algorithm: one agent module (a factory ``make(AgentContext) -> protocol.Agent``
and a ``validate(config)`` of its section), one entry below, and its section in
experiments/configs/base.py.

| name   | phases                                                | agent |
| ------ | ----------------------------------------------------- | ----- |
| wombet | source model, D_off refreshed every iteration, online | sac   |
| sac    | online from scratch                                   | sac   |
| rlpd   | D_off once, online with beta fixed at 0.5, no penalty | sac   |
| td3    | online from scratch                                   | td3   |
| ppo    | online from scratch                                   | ppo   |
| bc     | offline on D_off, zero-shot target eval               | bc    |
| iql    | offline, zero-shot                                    | iql   |
| cql    | offline, zero-shot                                    | cql   |
| mopo   | offline + model rollouts, zero-shot                   | mopo  |
| combo  | offline + model rollouts, zero-shot                   | mopo  |
| iql_ft | offline pretraining, online fine-tuning               | iql   |
| cal_ql | offline pretraining, online fine-tuning               | cql   |
| awac   | offline pretraining, online fine-tuning               | awac  |

The offline-to-online baselines fine-tune on batches of round(beta B) rows of D_off and the
rest of D_on with beta fixed at 0.5 (``symmetric_sampling``): they see D_off and D_on in the
same proportions as RLPD.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

from wombet_jax.agents import awac, bc, cql, iql, mopo, ppo, sac, td3
from wombet_jax.agents.protocol import Agent, AgentContext
from wombet_jax.checks import invalid


def _nothing(config) -> None:
  """No section of its own to check; no config change."""
  del config


@dataclasses.dataclass(frozen=True)
class AlgoSpec:
  make: Callable[[AgentContext], Agent]
  # The config section of the algorithm's own hyperparameters (None: config.agent only) and
  # its validator, called with the whole config by config.validate.
  section: Optional[str]
  validate: Callable[[Any], None]
  color: str                         # its colour in every plot
  uses_offline: bool = False         # needs D_off (PETS source phase, model, generation)
  refresh_each_iteration: bool = False  # refit the model and regenerate D_off every iteration
  offline_pretrain: bool = False     # config.loop.offline_steps updates on D_off before online
  online: bool = True                # fine-tunes in the target env (False: zero-shot only)
  uses_model_penalty: bool = False   # pass the world-model state as `aux` (WOMBET's critic
                                     # penalty; MOPO/COMBO model rollouts)
  adjust_config: Callable[[Any], None] = _nothing  # e.g. RLPD's fixed 50/50 ratio


def rlpd_config(c) -> None:
  """RLPD: symmetric 50/50 sampling and no model penalty; same critic ensemble and UTD."""
  symmetric_sampling(c)
  c.agent.lambda_q = 0.0


def symmetric_sampling(c) -> None:
  c.sampling.mode = "fixed"
  c.sampling.beta_fixed = 0.5


_OFFLINE = dict(uses_offline=True, offline_pretrain=True, online=False)
_OFFLINE_TO_ONLINE = dict(uses_offline=True, offline_pretrain=True, online=True,
                          adjust_config=symmetric_sampling)

REGISTRY: dict[str, AlgoSpec] = {
    "wombet": AlgoSpec(sac.make, None, _nothing, "#d62728", uses_offline=True,
                       refresh_each_iteration=True, uses_model_penalty=True),
    "sac": AlgoSpec(sac.make, None, _nothing, "#1f77b4"),
    "td3": AlgoSpec(td3.make_td3, "td3", td3.validate, "#2ca02c"),
    "ppo": AlgoSpec(ppo.make_ppo, "ppo", ppo.validate, "#9467bd"),
    "bc": AlgoSpec(bc.make_bc, "bc", bc.validate, "#bcbd22", **_OFFLINE),
    "iql": AlgoSpec(iql.make_iql, "iql", iql.validate, "#17becf", **_OFFLINE),
    "cql": AlgoSpec(cql.make_cql, "cql", cql.validate, "#393b79", **_OFFLINE),
    "mopo": AlgoSpec(mopo.make_mopo, "mopo", mopo.validate_mopo, "#637939",
                     uses_model_penalty=True, **_OFFLINE),
    "combo": AlgoSpec(mopo.make_combo, "combo", mopo.validate_combo, "#8c6d31",
                      uses_model_penalty=True, **_OFFLINE),
    "iql_ft": AlgoSpec(iql.make_iql, "iql", iql.validate, "#8c564b",
                       **_OFFLINE_TO_ONLINE),
    "cal_ql": AlgoSpec(cql.make_cal_ql, "cql", cql.validate,
                       "#e377c2", **_OFFLINE_TO_ONLINE),
    "awac": AlgoSpec(awac.make_awac, "awac", awac.validate, "#7f7f7f",
                     **_OFFLINE_TO_ONLINE),
    "rlpd": AlgoSpec(sac.make, None, _nothing, "#ff7f0e", uses_offline=True,
                     adjust_config=rlpd_config),
}


def names() -> tuple[str, ...]:
  """Every algorithm name, in the table's order."""
  return tuple(REGISTRY)


def compare_names(config) -> list[str]:
  """The algorithms of ``config.compare`` (comma-separated), without the main one; raises
  UserError naming the first name that is not an algorithm."""
  value = config.get("compare", "")
  if not isinstance(value, str):
    raise invalid("compare", value, "must be a string of comma-separated algorithm names")
  names_ = [a.strip() for a in value.split(",") if a.strip()]
  for a in names_:
    if a not in REGISTRY:
      raise invalid("compare", value, f"{a!r} is not an algorithm; allowed names: "
                                      f"{list(REGISTRY)}")
  return [a for a in names_ if a != config.algo]


def get(name: str) -> AlgoSpec:
  if name not in REGISTRY:
    raise invalid("algo", name, f"must be one of {sorted(REGISTRY)}")
  return REGISTRY[name]
