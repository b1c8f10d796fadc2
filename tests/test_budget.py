"""Memory and FLOP estimates made before compiling (wombet_jax/budget.py), by hand."""
import pytest

import helpers
from wombet_jax import budget, generation


def test_plan_step_flops_by_hand():
  c = helpers.make_config(planner=dict(horizon=3, population=10, iterations=2, num_elites=4,
                                       particles=2, icem_population_decay=2.0,
                                       icem_keep_fraction=0.5),
                          world_model=dict(num_elites=3, hidden_size=5, num_layers=2))
  # One pass, obs 4 act 2: 2 * (6*5 + 1*5*5 + 5*8) = 190 FLOPs per row.
  assert budget.member_pass_flops(c, 4, 2) == 190
  # CEM: 20 candidates x 2 particles x 3 steps = 120 rollout steps at 1 + 3 passes, plus the
  # final evaluation's 6 at 4.
  got = budget.plan_step_flops(c, 4, 2)
  assert (got["evaluations"], got["rollout_steps"]) == (20, 126)
  assert got["flops"] == 190 * (120 * 4 + 6 * 4)
  assert budget.plan_step_flops(c, 4, 2, penalised=False)["flops"] == 190 * (120 + 6 * 4)
  c.planner.stepping_u = True  # 3 passes: the stepping member is one of the elites
  assert budget.plan_step_flops(c, 4, 2)["flops"] == 190 * (120 * 3 + 6 * 3)
  # Penalty on 1 of 2 particles: per candidate-step (2 - 1) * 1 + 1 * 3 = 4 passes for 2
  # rollout steps, 2 per rollout step; the final evaluation keeps 3.
  c.planner.penalty_particles = 1
  got = budget.plan_step_flops(c, 4, 2)
  assert (got["passes_per_rollout_step"], got["flops"]) == (2.0, 190 * (120 * 2 + 6 * 3))
  c.planner.stepping_u = False  # 2 stepping passes + 1 * 3 u passes for 2 rollout steps
  assert budget.plan_step_flops(c, 4, 2)["flops"] == 190 * (60 * 5 + 6 * 4)
  c.planner.penalty_particles = 0
  # iCEM: populations 10, then max(2*4, 10/2) = 8; 2 elites kept per iteration.
  c.planner.method = "icem"
  assert budget.plan_step_flops(c, 4, 2)["evaluations"] == 10 + 8 + 2 * 2


def test_estimate_and_fail_fast_check():
  c = helpers.make_config()
  est = budget.estimate_device_bytes(c, num_seeds=3)
  obs_dim = 4  # pointmass
  assert est["block_size"] == generation.resolve_block_size(c, obs_dim, 3)
  assert est["generation_bytes_per_seed"] == (est["block_size"]
                                              * generation.trajectory_bytes(c, obs_dim))
  assert est["state_bytes_per_seed"] > 0
  assert est["total_bytes"] == 3 * (est["state_bytes_per_seed"]
                                    + est["generation_bytes_per_seed"])
  with pytest.raises(ValueError, match="3 seeds need about"):
    budget.check_fits(c, est["total_bytes"] - 1, num_seeds=3)
  assert budget.check_fits(c, est["total_bytes"], num_seeds=3) == est


def test_a_pipeline_that_does_not_fit_fails_with_the_largest_seed_count(pipe):
  from wombet_jax.errors import UserError
  est = budget.pipeline_bytes(pipe)
  per_seed = est["state_bytes_per_seed"] + est["generation_bytes_per_seed"]
  assert est["num_seeds"] == 2 and est["total_bytes"] == 2 * per_seed
  assert est["state_bytes_per_seed"] > 0 and est["block_size"] >= 1  # WOMBET generates D_off
  assert budget.check_pipeline_fits(pipe, 2 * per_seed) == est
  with pytest.raises(UserError, match=r"^config.num_seeds=2 is invalid: .* at most 1 seeds fit$"):
    budget.check_pipeline_fits(pipe, 2 * per_seed - 1)


def test_planner_variant_share_resolves_against_the_particles():
  """The benchmarks' variants: planner fields set, penalty_share resolved against the
  section's particles (at least 1), weights_dtype left to the model."""
  from wombet_jax.harness import benchmarking
  c = helpers.make_config(planner=dict(particles=20))
  benchmarking.apply_planner_variant(
      c.planner, {"method": "icem", "penalty_share": 0.2, "weights_dtype": "bfloat16"})
  assert (c.planner.method, c.planner.penalty_particles) == ("icem", 4)
  assert "weights_dtype" not in c.planner and "penalty_share" not in c.planner
  c.planner.particles = 2  # a shrunk planner keeps at least one particle with u
  benchmarking.apply_planner_variant(c.planner, {"penalty_share": 0.2})
  assert c.planner.penalty_particles == 1
