"""Lower-bound diagnostic (sec. 4.2, eqs. 4-5): is the penalised model return below the truth?

Eq. (4) says that the return of the penalised reward r_S - lambda u under the model lower-bounds
the true return of the same behaviour; eq. (5) carries this to the receding-horizon MPC. We test
it on the data WOMBET actually generates: M trajectories of MPC inside the model
(`generation.generate`, the planner penalised with lambda_plan), whose action sequences are
then replayed open loop in the real source env from the *same* start states. Per trajectory

    model     R_M  = sum_t gamma^t r_S(s_t, a_t, s_t+1)        over the model's valid steps
    penalised R~_M = sum_t gamma^t (r_S - lambda u(s_t, a_t)) over the model's valid steps
    true      R    = sum_t gamma^t r_S(real transition)        over the same steps, up to and
                                                                including the first real done

and the diagnostic is the fraction of trajectories with R~_M <= R.

Choices the paper leaves open:
  * Discount: gamma = config.planner.discount on both sides, the objective the planner
    maximises (planner.py) and the discounted return of eq. (4); t counts from the start state.
  * The bound is on expected returns of a policy; here each trajectory is one sample (the
    model's next state drawn from a freshly sampled elite per step, as in generation), and the
    real replay is open loop: the actions the model-MPC chose, not MPC re-planned on real
    states. That is the data WOMBET hands to the filter, which is what the bound should cover.
  * Both sides sum over the same window: the model trajectory's valid steps (it stops at its
    first predicted termination), cut at the first real done (termination or time limit)
    because the real env auto-resets after it and later rewards belong to another episode.

Everything except `train_source_model` (host-side, drives the pipeline's jitted pieces) is pure
and jittable; lambda is a traced scalar, so one compilation serves every lambda.
"""
from __future__ import annotations

from typing import Any, Callable

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from wombet_jax import filtering, generation
from wombet_jax.envs import EnvState, Task, TaskPair
from wombet_jax.harness import schedule, source_phase
from wombet_jax.planner import Planner
from wombet_jax.world_model import WorldModel


@flax.struct.dataclass
class Replay:
  """A model trajectory's actions replayed open loop in the real env, leading axes (M, H)."""
  reward: jax.Array    # (M, H) real r_S of each replayed step (also of uncounted steps)
  next_obs: jax.Array  # (M, H, obs_dim) real s_t+1 (before any auto-reset)
  counted: jax.Array   # (M, H) 1.0 where the step is model-valid and no real done came before
  done: jax.Array      # (M, H) 1.0 where the real episode ended at this step


@flax.struct.dataclass
class Diagnostic:
  """Per-trajectory returns of one generated batch, leading axis (M,) (more with vmap)."""
  model_return: jax.Array   # R_M, discounted r_S under the model
  model_penalty: jax.Array  # sum_t gamma^t u over valid steps: R~_M(lam) = R_M - lam * this
  true_return: jax.Array    # R, discounted real r_S of the replayed actions
  mean_u: jax.Array         # mean u over the trajectory's valid steps
  model_steps: jax.Array    # valid model steps (H unless the model predicted a termination)
  true_steps: jax.Array     # counted real steps (fewer when the real env ended first)


def start_states(pair: TaskPair, key: jax.Array, num_trajectories: int) -> EnvState:
  """M real source env states drawn from rho_S with `generation.generate`'s own key use
  (split(key) -> k_reset, one reset key per trajectory): the starts a WOMBET iteration with
  this key would plan from. `diagnose` hands their obs to `generate`, so model and real env
  start from bit-identical states (two jitted copies of a reset may differ in the last ulp).
  """
  k_reset, _ = jax.random.split(key)
  return jax.vmap(pair.source.reset)(jax.random.split(k_reset, num_trajectories))


def replay(task: Task, env0: EnvState, actions: jax.Array, valid: jax.Array) -> Replay:
  """Steps the real env with each row of `actions` (M, H, a) from env0 (batched (M,)).

  A step counts while the model trajectory is valid and the real episode has not ended
  before it; the step that ends it (termination or time limit) still counts, as the model's
  terminating step does.
  """
  chex.assert_rank(actions, 3)
  chex.assert_shape(valid, actions.shape[:2])

  def one(env, acts, val):
    def body(carry, xs):
      env, alive = carry
      a, v = xs
      env, tr = task.step(env, a)
      counted = alive * v
      # Once a step is uncounted all later ones are too, even if `valid` were not a prefix.
      return (env, counted * (1.0 - tr.done)), (tr.reward, tr.next_obs, counted, tr.done)

    _, outs = jax.lax.scan(body, (env, jnp.float32(1.0)), (acts, val.astype(jnp.float32)))
    return outs

  return Replay(*jax.vmap(one)(env0, actions, valid))


def evaluate(ro: generation.Rollouts, rep: Replay, discount: float) -> Diagnostic:
  """Per-trajectory model, penalty and true returns of rollouts and their real replay."""
  chex.assert_equal_shape([ro.source_reward, ro.uncertainty, ro.valid, rep.reward, rep.counted])
  valid = ro.valid
  n_valid = jnp.sum(valid, axis=1)
  return Diagnostic(
      model_return=filtering.trajectory_return(ro.source_reward, discount, valid=valid),
      model_penalty=filtering.trajectory_return(ro.uncertainty, discount, valid=valid),
      true_return=filtering.trajectory_return(rep.reward, discount, valid=rep.counted),
      mean_u=jnp.sum(ro.uncertainty * valid, axis=1) / jnp.maximum(n_valid, 1.0),
      model_steps=n_valid, true_steps=jnp.sum(rep.counted, axis=1))


def diagnose(pair: TaskPair, wm: WorldModel, planner: Planner, num_trajectories: int,
             horizon: int, key: jax.Array, model_state: Any, lambda_plan: jax.Array,
             discount: float) -> Diagnostic:
  """Generates M trajectories with MPC in the model at lambda_plan (exactly as a WOMBET
  iteration does) and replays their actions in the real source env from the same starts."""
  env0 = start_states(pair, key, num_trajectories)
  ro = generation.generate(pair, wm, planner, num_trajectories, horizon, key, model_state,
                           lambda_plan, obs0=env0.obs)
  return evaluate(ro, replay(pair.source, env0, ro.action, ro.valid), discount)


def fraction_below(penalised: jax.Array, true_return: jax.Array) -> jax.Array:
  """Fraction of trajectories whose penalised model return is <= the true return."""
  chex.assert_equal_shape([penalised, true_return])
  return jnp.mean((penalised <= true_return).astype(jnp.float32))


def summarize(d: Diagnostic, lambda_eval: jax.Array) -> dict:
  """The table's row for penalty weight lambda_eval, pooled over all leading axes.

  mean_u is the mean over trajectories of each trajectory's mean u (valid steps). Open-loop
  replay can end early (an unstable system falls without feedback), which alone can break the
  bound; the fraction of such trajectories and the bound's fraction among the others (nan if
  none) separate that from the model's error over a full window.
  """
  penalised = d.model_return - lambda_eval * d.model_penalty
  holds = (penalised <= d.true_return).astype(jnp.float32)
  full = (d.true_steps >= d.model_steps).astype(jnp.float32)
  n_full = jnp.sum(full)
  return {"fraction_bound_holds": fraction_below(penalised, d.true_return),
          "fraction_real_ended_first": 1.0 - jnp.mean(full),
          "fraction_bound_holds_full_window": jnp.where(
              n_full > 0, jnp.sum(holds * full) / jnp.maximum(n_full, 1.0), jnp.nan),
          "mean_model_return": jnp.mean(d.model_return),
          "mean_penalised_return": jnp.mean(penalised),
          "mean_true_return": jnp.mean(d.true_return),
          "mean_u": jnp.mean(d.mean_u),
          "mean_model_steps": jnp.mean(d.model_steps),
          "mean_true_steps": jnp.mean(d.true_steps),
          "num_trajectories": jnp.int32(d.model_return.size)}


def train_source_model(pipe, states, log: Callable[[str], None] = print):
  """Host-side: runs a WOMBET run's source phase on batched `states` (PETS episodes and model
  fits, `schedule.config_source_tasks`, with the runner's own driver) and returns them."""
  tasks = schedule.config_source_tasks(pipe.config)
  for states, step in source_phase.drive(pipe, states, tasks,
                                         where="world-model fit (source phase)"):
    if step.returns is not None:
      ret = step.returns
      log(f"source episode {step.task.index + 1} "
          f"({'MPC' if step.task.use_planner else 'random'}): return "
          f"{ret.mean():.2f} ± {ret.std():.2f}")
    else:
      log(f"model fit, holdout loss {np.mean(jax.device_get(step.info['holdout_loss'])):.4f}")
  return states
