"""PETS in the real source env, MPC rollouts in the model, the filter mask and relabelling."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import helpers
from wombet_jax import errors, generation, loop
from wombet_jax.envs import make_pair
from wombet_jax.world_model import networks


@pytest.fixture(scope="module")
def pets_run():
  """1 random + 3 MPC episodes of PETS on pointmass's source task, 2 seeds."""
  c = helpers.make_config(planner=dict(horizon=10, population=64, iterations=3, num_elites=8,
                                       particles=2), world_model=dict(max_epochs=20))
  pipe = loop.make_pipeline(c)
  s = pipe.init(jax.vmap(jax.random.PRNGKey)(jnp.arange(2, dtype=jnp.uint32)))
  s, random_return = pipe.source_episode(s, False)
  s, _ = pipe.fit_model(s)
  mpc_returns = []
  for _ in range(3):
    s, r = pipe.source_episode(s, True)
    mpc_returns.append(np.asarray(r))
    s, _ = pipe.fit_model(s)
  return pipe, s, np.asarray(random_return), mpc_returns


def test_pets_reaches_the_stated_source_return(pets_run):
  # README: PETS on pointmass's source task reaches a mean return above -30 after three MPC
  # episodes (random actions: about -60; a hand-tuned PD controller: about -11).
  _, _, random_return, mpc = pets_run
  assert np.mean(mpc[-1]) > -30.0, mpc
  assert np.mean(mpc[-1]) > np.mean(random_return) + 20.0


def test_generated_rollouts_are_consistent_with_the_source_reward(pets_run):
  pipe, s, _, _ = pets_run
  pair, wm = pipe.pair, pipe.wm
  planner = generation.make_model_planner(pipe.config, pair, wm, pair.source.reward_fn)
  model = jax.tree_util.tree_map(lambda x: x[0], s.model)
  gen = jax.jit(lambda k, lam: generation.generate(pair, wm, planner, 6, 7, k, model, lam))
  ro = gen(jax.random.PRNGKey(0), jnp.float32(1.0))
  assert ro.obs.shape == (6, 7, 4) and ro.action.shape == (6, 7, 2)
  assert ro.uncertainty.shape == (6, 7) and bool(jnp.all(ro.uncertainty >= 0))
  assert bool(jnp.all(jnp.abs(ro.action) <= 1.0))
  np.testing.assert_allclose(ro.source_reward,
                             pair.source.reward_fn(ro.obs, ro.action, ro.next_obs), rtol=1e-6)
  # Each step starts where the previous one ended: trajectories are chained in the model.
  np.testing.assert_array_equal(ro.obs[:, 1:], ro.next_obs[:, :-1])
  np.testing.assert_allclose(ro.uncertainty, wm.uncertainty(model, ro.obs, ro.action),
                             rtol=1e-5, atol=1e-7)
  assert bool(jnp.all(ro.valid == 1.0))  # pointmass never terminates


def test_blocked_generation_equals_unblocked(pets_run):
  """Blocks of 2 of 5 trajectories (the last block padded) give the unblocked rollouts: every
  trajectory's keys and members are drawn for all M up front, so states, actions, rewards and
  flags are equal bit for bit; the recorded u is one batched model pass over the block, whose
  matmul kernel may differ with the batch size, so it is equal to float rounding."""
  pipe, s, _, _ = pets_run
  pair, wm = pipe.pair, pipe.wm
  planner = generation.make_model_planner(pipe.config, pair, wm, pair.source.reward_fn)
  model = jax.tree_util.tree_map(lambda x: x[0], s.model)
  obs0 = jax.random.normal(jax.random.PRNGKey(4), (5, 4))
  outs = [jax.jit(lambda k, b=b: generation.generate(pair, wm, planner, 5, 3, k, model,
                                                     jnp.float32(1.0), obs0=obs0,
                                                     block_size=b))(jax.random.PRNGKey(1))
          for b in (None, 2)]
  for field in ("obs", "action", "next_obs", "source_reward", "terminal", "valid"):
    np.testing.assert_array_equal(getattr(outs[0], field), getattr(outs[1], field))
  np.testing.assert_allclose(outs[0].uncertainty, outs[1].uncertainty, rtol=1e-5, atol=1e-7)
  np.testing.assert_array_equal(outs[0].obs[:, 0], obs0)
  assert len(set(np.asarray(outs[0].action[:, 0, 0]).tolist())) == 5  # distinct trajectories


def test_bfloat16_planning_steps_and_scores_with_the_float32_model(pets_run):
  """plan_dtype="bfloat16": the first action of every trajectory is the planner's plan in
  the model with bfloat16 weight matrices (keys rebuilt as `generate` draws them), while the
  trajectory's u is the float32 model's."""
  pipe, s, _, _ = pets_run
  pair, wm = pipe.pair, pipe.wm
  planner = generation.make_model_planner(pipe.config, pair, wm, pair.source.reward_fn)
  model = jax.tree_util.tree_map(lambda x: x[0], s.model)
  obs0 = jax.random.normal(jax.random.PRNGKey(4), (3, 4))
  key, lam = jax.random.PRNGKey(2), jnp.float32(1.0)
  ro = jax.jit(lambda k: generation.generate(pair, wm, planner, 3, 2, k, model, lam, obs0=obs0,
                                             plan_dtype="bfloat16"))(key)
  k_plan = jax.random.split(jax.random.split(jax.random.split(key)[1], 2)[0], 3)[0]
  bf16 = model.replace(params=networks.cast_weights(model.params, jnp.bfloat16))
  assert bf16.params["layers"][0]["w"].dtype == jnp.bfloat16
  assert bf16.params["layers"][0]["b"].dtype == jnp.float32
  plan = jax.jit(jax.vmap(planner.plan, in_axes=(None, 0, 0, None, None)))
  want, _, _ = plan(planner.init(), jax.random.split(k_plan, 3), obs0, bf16, lam)
  np.testing.assert_allclose(ro.action[:, 0], want, atol=1e-6)
  # The rankings here do not change with the rounding, so the float32 plan is the same; a
  # planner that reports the dtype it was given shows which model each path plans in.
  spy = planner._replace(plan=lambda st, k, o, params, lam: (
      jnp.full((2,), 0.5 if params.params["head"]["w"].dtype == jnp.bfloat16 else -0.5), st,
      {}))
  for dtype, a in (("bfloat16", 0.5), ("float32", -0.5)):
    spied = generation.generate(pair, wm, spy, 3, 2, key, model, lam, obs0=obs0,
                                plan_dtype=dtype)
    np.testing.assert_array_equal(spied.action, a)
  np.testing.assert_allclose(ro.uncertainty, wm.uncertainty(model, ro.obs, ro.action),
                             rtol=1e-5, atol=1e-7)
  with pytest.raises(ValueError, match="plan_dtype='float16'"):
    generation.generate(pair, wm, planner, 3, 2, key, model, lam, plan_dtype="float16")


def test_automatic_block_size_by_hand():
  c = helpers.make_config(planner=dict(population=10, particles=2),
                          world_model=dict(num_elites=2, hidden_size=10),
                          generation=dict(num_trajectories=64))
  # Per rollout 1.3 * 4 * (2*2*10 + 3.4*10 + 4*3) = 447.2 bytes; 20 rollouts per trajectory.
  assert generation.trajectory_bytes(c, obs_dim=3) == 8944
  # The all-elite pass on 1 of 2 particles: 1.3 * 4 * (2*2*10/2 + 34 + 12) = 343.2 bytes.
  c.planner.penalty_particles = 1
  assert generation.trajectory_bytes(c, obs_dim=3) == 6864
  c.planner.penalty_particles = 0
  c.generation.memory_budget_gib = 8944 * 10 / 2**30  # ten trajectories' temporaries
  assert generation.resolve_block_size(c, 3, num_seeds=1) == 10
  assert generation.resolve_block_size(c, 3, num_seeds=3) == 3
  assert generation.resolve_block_size(c, 3, num_seeds=20) == 1  # never below one
  c.generation.memory_budget_gib = 1.0
  assert generation.resolve_block_size(c, 3, num_seeds=1) == 64  # never above M
  c.generation.block_size = 7
  assert generation.resolve_block_size(c, 3, num_seeds=1) == 7


def _filter_config(variant="dual", mode="absolute", eps_u=0.5, eps_r=2.0, aggregate="max"):
  return ml_collections.ConfigDict(dict(variant=variant, threshold_mode=mode, eps_u=eps_u,
                                        eps_r=eps_r, aggregate=aggregate))


def _hand_rollouts():
  key = jax.random.PRNGKey(3)
  obs = jax.random.normal(key, (4, 3, 4))
  act = jnp.clip(jax.random.normal(jax.random.fold_in(key, 1), (4, 3, 2)), -1, 1)
  nxt = jax.random.normal(jax.random.fold_in(key, 2), (4, 3, 4))
  r_s = jnp.array([[1.0, 1.0, 1.0],      # R = 3
                   [0.5, 0.5, 0.0],      # R = 1
                   [2.0, 1.0, 100.0],    # terminates at t=1: R = 3 (the 100 is after the end)
                   [1.0, 1.0, 0.5]])     # R = 2.5
  u = jnp.array([[0.1, 0.2, 0.3],        # U = 0.3
                 [0.1, 0.1, 0.1],        # U = 0.1
                 [0.2, 0.4, 9.0],        # U = 0.4 (the 9.0 is after the end)
                 [0.1, 0.9, 0.1]])       # U = 0.9
  terminal = jnp.array([[0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]], jnp.float32)
  valid = jnp.array([[1, 1, 1], [1, 1, 1], [1, 1, 0], [1, 1, 1]], jnp.float32)
  return generation.Rollouts(obs, act, nxt, r_s, u, terminal, valid)


@pytest.mark.parametrize("variant,expected", [
    ("dual", [True, False, True, False]),        # R >= 2 and U <= 0.5
    ("reward", [True, False, True, True]),       # R >= 2
    ("uncertainty", [True, True, True, False]),  # U <= 0.5
    ("none", [True, True, True, True]),
])
def test_filter_mask_and_relabelling_by_hand(variant, expected):
  pair = make_pair("pointmass")
  ro = _hand_rollouts()
  f = generation.filter_and_relabel(pair, _filter_config(variant), ro)
  np.testing.assert_allclose(f.traj_return, [3.0, 1.0, 3.0, 2.5])
  np.testing.assert_allclose(f.traj_unc, [0.3, 0.1, 0.4, 0.9])
  np.testing.assert_array_equal(f.accept, expected)
  keep = (np.array(expected)[:, None] & (np.asarray(ro.valid) > 0)).reshape(-1)
  np.testing.assert_array_equal(f.keep, keep)
  r_t = pair.target.reward_fn(ro.obs, ro.action, ro.next_obs).reshape(-1)
  np.testing.assert_allclose(f.transitions.reward, r_t, rtol=1e-6)
  assert not np.allclose(r_t, np.asarray(ro.source_reward).reshape(-1))
  # The last valid step of each trajectory ends an episode (terminal or truncated).
  np.testing.assert_array_equal(np.asarray(f.transitions.done).reshape(4, 3)[:, -1], 1.0)
  assert float(np.asarray(f.transitions.terminal).reshape(4, 3)[2, 1]) == 1.0


def test_quantile_thresholds_use_the_batch():
  pair = make_pair("pointmass")
  f = generation.filter_and_relabel(pair, _filter_config("dual", "quantile", 0.5, 0.5),
                                    _hand_rollouts())
  # Median return of [3, 1, 3, 2.5] is 2.75, median U of [0.3, 0.1, 0.4, 0.9] is 0.35.
  np.testing.assert_array_equal(f.accept, [True, False, False, False])


def test_empty_filter_raises_with_thresholds_and_ranges():
  pair = make_pair("pointmass")
  cfg = _filter_config("dual", "absolute", eps_u=0.05, eps_r=10.0)
  f = generation.filter_and_relabel(pair, cfg, _hand_rollouts())
  assert not bool(jnp.any(f.accept))
  info = {"num_accepted": np.array([int(f.accept.sum())]),
          "return_min": np.array([float(f.traj_return.min())]),
          "return_max": np.array([float(f.traj_return.max())]),
          "unc_min": np.array([float(f.traj_unc.min())]),
          "unc_max": np.array([float(f.traj_unc.max())])}
  with pytest.raises(errors.EmptyFilterError) as e:
    generation.check_accepted(info, [7], cfg, num_trajectories=4, iteration=2)
  # A run error: run.py prints it on one line and exits with status 1.
  assert errors.exit_status(e.value) == 1 and "\n" not in errors.one_line(e.value)
  msg = str(e.value)
  for needle in ("iteration 2, seed 7", "kept 0 of 4", "eps_u=0.05", "eps_r=10.0", "[1, 3]",
                 "[0.1, 0.9]"):
    assert needle in msg, (needle, msg)


def test_source_planner_probe_runs_pets_then_both_planners():
  # experiments/diagnostics/source_planner.py's probe on the smoke config: the episode phases
  # follow the config, every transition reaches the model's data, and both planners run on the
  # final model; on pointmass, both planners on the fitted model beat the random episode.
  from wombet_jax.harness import source_planner
  c = helpers.make_config()
  lines = []
  out = source_planner.probe(c, episodes=3, trials=1, big=(6, 16, 2, 2, 4), seed=0,
                             log=lines.append)
  assert [p for p, _ in out["episodes"]] == ["random", "MPC", "MPC"]
  episode_length = make_pair(c.env).episode_length
  assert episode_length > 0 and out["transitions"] == 3 * episode_length
  assert set(out["planners"]) == {"config", "big"}
  assert all(np.isfinite(r) for rets in out["planners"].values() for r in rets)
  # Seeds 0-2 give final-model returns of -37 to -52 against -55 to -63 for the random episode.
  random_return = out["episodes"][0][1]
  assert min(min(r) for r in out["planners"].values()) > random_return + 5.0, out
  assert any("mean source return" in line for line in lines)
  with pytest.raises(ValueError, match="episodes=1"):
    source_planner.probe(c, episodes=1, trials=1, big=(6, 16, 2, 2, 4), seed=0)
