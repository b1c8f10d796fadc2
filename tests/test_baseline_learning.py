"""Every baseline learns on the pointmass pair: one table of (algorithm, config overrides,
budget, threshold, reason), trained with the loop's call pattern (tests/baseline_utils.py).

Returns are over 50 target steps: uniform-random actions about -62, the PD controller toward
the target goal about -13, toward the source goal about -32. Three settings:

- online: from scratch in the target env (no D_off);
- offline: pretraining on D_off = 2k noisy-PD transitions toward the target goal;
- offline-to-online: D_off from the PD controller toward the SOURCE goal, 1000 pretraining
  steps, 3000 online steps at G = 2 with 50/50 batches; the pretrained policy must beat random
  (> -45), fine-tuning must reach > -25 and gain at least 3 over the pretrained policy.

The algorithm-specific unit tests (losses against hand computations) stay in test_<algo>.py.
"""
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import baseline_utils as bu
from wombet_jax.agents import awac, bc, cql, iql, mopo, ppo, td3
from wombet_jax.envs import pointmass

N = 3  # conservative action samples of the CQL family
MODEL_ROLL = dict(rollout_batch=16, rollout_length=5, model_capacity=5000)


class Case(NamedTuple):
  make: object                  # agent constructor (AgentContext -> Agent)
  overrides: dict               # bu.small_config sections
  seeds: int
  threshold: float              # mean deterministic return over the seeds must exceed this
  reason: str                   # budget and the returns seeds reached when it was set
  pretrain: int = 0             # offline updates on D_off (target-goal PD data)
  online: int = 0               # target env steps
  model: bool = False           # a stand-in world model (OracleModel, u = 0.05 ||a||^2)
  fast_compile: bool = True     # False for update-heavy runs (CQL family)
  beats_random_by: Optional[float] = None  # threshold > random return + this


CASES = {
    "td3": Case(td3.make_td3, dict(loop=dict(start_steps=500), agent=dict(utd=2)), seeds=4,
                threshold=-32.0, online=3000,
                reason="3000 target steps (500 random), G = 2; seeds 0-3 reached -17, -23, "
                       "-19, -18"),
    "ppo": Case(ppo.make_ppo, dict(loop=dict(start_steps=0),
                                   ppo=dict(rollout_length=500, num_minibatches=5,
                                            num_epochs=10, learning_rate=3e-3)),
                seeds=2, threshold=-25.0, online=10_000,
                reason="10k target steps, rollouts of 500; seeds 0, 1 reached -20, -14"),
    "bc": Case(bc.make_bc, {}, seeds=2, threshold=-25.0, pretrain=500, beats_random_by=20.0,
               reason="500 steps clone the PD controller; seeds 0, 1 reached -14.5, -14.0"),
    "iql": Case(iql.make_iql, {}, seeds=2, threshold=-25.0, pretrain=500,
                reason="500 steps; seeds 0, 1 reached -17, -15"),
    "cql": Case(cql.make_cql, dict(cql=dict(alpha=2.0, num_action_samples=N)), seeds=2,
                threshold=-30.0, pretrain=500,
                reason="500 steps, alpha = 2; seeds 0, 1 reached -20, -25"),
    "mopo": Case(mopo.make_mopo, dict(mopo=MODEL_ROLL), seeds=2, threshold=-45.0,
                 pretrain=2000, model=True,
                 reason="2000 steps with the known model (true dynamics, elite bias 0.01); "
                        "seeds 0, 1 reached -30, -37"),
    "combo": Case(mopo.make_combo, dict(combo=dict(MODEL_ROLL, num_action_samples=N)),
                  seeds=2, threshold=-35.0, pretrain=1000, model=True,
                  reason="1000 steps with the known model; seeds 0, 1 reached -19, -20"),
    "iql_ft": Case(iql.make_iql, dict(iql=dict(temperature=20.0), agent=dict(utd=2)), seeds=4,
                   threshold=-25.0, pretrain=1000, online=3000,
                   reason="temperature 20 (pointmass advantages are small, 3 is nearly plain "
                          "BC); pretrained -34, -33, -33, -32 -> fine-tuned -20, -20, -19, "
                          "-20"),
    "cal_ql": Case(cql.make_cal_ql, dict(cql=dict(alpha=0.5, num_action_samples=N),
                                         agent=dict(utd=2, batch_size=32)),
                   seeds=2, threshold=-25.0, pretrain=1000, online=3000, fast_compile=False,
                   reason="alpha = 0.5 for the pointmass reward scale, B = 32; pretrained "
                          "-35, -33 -> fine-tuned -18, -18"),
    "awac": Case(awac.make_awac, dict(awac=dict(temperature=0.05), agent=dict(utd=2)),
                 seeds=4, threshold=-25.0, pretrain=1000, online=3000,
                 reason="lambda = 0.05 (pointmass advantages are small); pretrained -32, -32, "
                        "-32, -33 -> fine-tuned -18, -16, -18, -17"),
}

# Offline-to-online: the pretrained policy beats random, and fine-tuning gains this much.
PRETRAINED_ABOVE, FINE_TUNING_GAIN = -45.0, 3.0


@pytest.mark.parametrize("name", list(CASES))
def test_baseline_learns_pointmass(name):
  case = CASES[name]
  c = bu.small_config(**case.overrides)
  wm = bu.OracleModel(unc_scale=0.05) if case.model else None
  agent = case.make(bu.make_ctx(c, wm=wm))
  keys = jax.random.split(jax.random.PRNGKey(0), case.seeds)
  aux = jnp.float32(1.0) if case.model else None
  both = case.pretrain and case.online
  if case.pretrain:
    goal = pointmass.SOURCE_GOAL if both else pointmass.TARGET_GOAL
    data = bu.pd_dataset(jax.random.PRNGKey(5 if both else 1), goal=goal)
  else:
    data = None
  train = bu.make_train(agent, c, pretrain_steps=case.pretrain, online_steps=case.online,
                        explore_randomly=not both, aux=aux, fast_compile=case.fast_compile)
  out = train(keys, data)
  eval_key = jax.random.PRNGKey(2 if case.pretrain else 1)
  if both:
    before = bu.eval_seeds(agent, out[0], eval_key)
    returns = bu.eval_seeds(agent, out[1], eval_key)
    print(name, before, "->", returns, case.reason)
    assert np.mean(before) > PRETRAINED_ABOVE, before
    assert np.mean(returns) > case.threshold, returns
    assert np.mean(returns) > np.mean(before) + FINE_TUNING_GAIN, (before, returns)
  else:
    returns = bu.eval_seeds(agent, out, eval_key)
    print(name, returns, case.reason)
    assert np.mean(returns) > case.threshold, returns
  if case.beats_random_by is not None:
    rand = bu.random_return(jax.random.PRNGKey(3))
    assert case.threshold > rand + case.beats_random_by, rand
