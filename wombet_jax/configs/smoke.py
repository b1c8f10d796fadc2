"""Tiny everything on the pure-JAX pointmass pair: exercises every phase in about a minute.

Used by the tests and as the quickest end-to-end check; numbers from it mean nothing.
"""
from wombet_jax.configs import base


def get_config():
  c = base.get_config()
  c.env = "pointmass"
  c.num_seeds = 2
  c.writers = "jsonl,tensorboard"  # the tests read its event files back
  wm = c.world_model
  wm.ensemble_size, wm.num_elites, wm.hidden_size, wm.num_layers = 3, 2, 32, 2
  wm.batch_size, wm.max_epochs, wm.patience, wm.capacity = 64, 5, 2, 2000
  pl = c.planner
  pl.horizon, pl.population, pl.iterations, pl.num_elites, pl.particles = 5, 32, 2, 4, 2
  c.pets.random_episodes, c.pets.mpc_episodes = 1, 1
  c.generation.num_trajectories, c.generation.horizon = 8, 10
  c.generation.export = True
  ag = c.agent
  ag.num_critics, ag.hidden_size, ag.batch_size, ag.utd = 2, 32, 32, 1
  c.sampling.warmup_updates = 20
  lo = c.loop
  lo.num_iterations, lo.steps_per_iteration, lo.eval_every = 2, 200, 100
  lo.eval_episodes, lo.checkpoint_every, lo.start_steps = 2, 100, 50
  lo.online_capacity, lo.offline_capacity, lo.offline_steps = 2000, 2000, 20
  c.ppo.rollout_length, c.ppo.num_minibatches = 100, 4
  c.mopo.model_capacity = c.combo.model_capacity = 5000
  c.mopo.rollout_batch = c.combo.rollout_batch = 16
  return c
