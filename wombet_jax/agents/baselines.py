"""Registers the baselines of paper sec. 5 with ``wombet_jax.algos`` (imported by algos.get).

| name   | phases                                   | module |
| ------ | ---------------------------------------- | ------ |
| td3    | online from scratch                      | td3    |
| ppo    | online from scratch                      | ppo    |
| bc     | offline on D_off, zero-shot target eval  | bc     |
| iql    | offline, zero-shot                       | iql    |
| cql    | offline, zero-shot                       | cql    |
| mopo   | offline + model rollouts, zero-shot      | mopo   |
| combo  | offline + model rollouts, zero-shot      | mopo   |
| iql_ft | offline pretraining, online fine-tuning  | iql    |
| cal_ql | offline pretraining, online fine-tuning  | cql    |
| awac   | offline pretraining, online fine-tuning  | awac   |

The offline-to-online ones fine-tune on batches of round(beta B) rows of D_off and the rest of
D_on (``replay.sample_mixed``) with beta fixed at 0.5 (``_symmetric_sampling``): every
fine-tuning baseline sees D_off and D_on in the same proportions as RLPD.
"""
from wombet_jax.agents.awac import make_awac
from wombet_jax.agents.bc import make_bc
from wombet_jax.agents.cql import make_cal_ql, make_cql
from wombet_jax.agents.iql import make_iql
from wombet_jax.agents.mopo import make_combo, make_mopo
from wombet_jax.agents.ppo import make_ppo
from wombet_jax.agents.td3 import make_td3
from wombet_jax.algos import AlgoSpec, register

ONLINE = ("td3", "ppo")
OFFLINE = ("bc", "iql", "cql", "mopo", "combo")
OFFLINE_TO_ONLINE = ("iql_ft", "cal_ql", "awac")


def _symmetric_sampling(c) -> None:
  c.sampling.mode = "fixed"
  c.sampling.beta_fixed = 0.5


for _name, _make in (("td3", make_td3), ("ppo", make_ppo)):
  register(AlgoSpec(_name, _make, uses_offline=False, online=True))
for _name, _make in (("bc", make_bc), ("iql", make_iql), ("cql", make_cql)):
  register(AlgoSpec(_name, _make, uses_offline=True, offline_pretrain=True, online=False))
for _name, _make in (("mopo", make_mopo), ("combo", make_combo)):
  register(AlgoSpec(_name, _make, uses_offline=True, offline_pretrain=True, online=False,
                    uses_model_penalty=True))
for _name, _make in (("iql_ft", make_iql), ("cal_ql", make_cal_ql), ("awac", make_awac)):
  register(AlgoSpec(_name, _make, uses_offline=True, offline_pretrain=True, online=True,
                    adjust_config=_symmetric_sampling))
