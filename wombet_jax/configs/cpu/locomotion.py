"""Shared CPU-scale budget for the locomotion pairs; each pair's file picks its env.

Sized for a 2-core CPU: WOMBET and SAC from scratch, 5 vmapped seeds each, within about 40
minutes per algorithm. The learner, beta rule and filter are those of default.py (chosen on
inverted_double_pendulum and kept unchanged here, so no choice is made on a locomotion pair):
2 critics of 128 units, G = 2, the relative TD error with beta_min 0.1. What differs from
default.py is what 1000-step locomotion episodes need:
- a larger world model (3 x 128 units; default.py's 3 x 64 is for a 6-d pendulum) and a planner
  with a longer horizon, more candidates and a particle per elite (12 steps, 64 candidates,
  3 iterations, 3 particles over 3 elites) than default.py's 8 / 32 / 2 / 2;
- more source data: 1 random and 4 MPC source episodes (5000 source steps);
- 45k target steps (3 iterations of 15k), evaluated every 2500 steps on 5 episodes.
"""
from wombet_jax.configs import default


def get_cpu_config(env: str, episode_length: int = 1000):
  c = default.get_config()
  c.env = env
  c.episode_length = episode_length
  wm = c.world_model
  wm.hidden_size, wm.num_layers = 128, 3
  wm.max_epochs, wm.patience, wm.capacity = 25, 3, 60_000
  pl = c.planner
  pl.horizon, pl.population, pl.iterations, pl.num_elites, pl.particles = 12, 64, 3, 8, 3
  c.pets.random_episodes, c.pets.mpc_episodes = 1, 4
  lo = c.loop
  lo.num_iterations, lo.steps_per_iteration = 3, 15_000
  lo.eval_every, lo.checkpoint_every, lo.eval_episodes = 2500, 7500, 5
  lo.start_steps = 1000
  lo.online_capacity = 45_000
  return c
