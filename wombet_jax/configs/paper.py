"""Paper-scale budget for one accelerator; the six task-pair configs derive from this.

The paper does not state its budgets; these follow the conventions of its references (PETS
planner defaults of mbrl-lib, RLPD's G=20 with 10 critics) sized so one GPU runs a pair with
5+ seeds vmapped. Target env steps: num_iterations * steps_per_iteration = 250k.
"""
from wombet_jax.configs import base


def get_paper_config(env: str, episode_length: int = 1000, horizon: int = 30):
  c = base.get_config()
  c.env = env
  c.num_seeds = 5
  c.episode_length = episode_length
  c.world_model.capacity = 300_000
  c.world_model.max_epochs = 100
  c.planner.horizon = horizon
  c.planner.stepping_u = True  # 5 member passes per rollout step instead of 6
  c.pets.random_episodes, c.pets.mpc_episodes = 1, 10
  c.generation.num_trajectories, c.generation.horizon = 256, 200
  c.loop.num_iterations = 5
  c.loop.steps_per_iteration = 50_000
  c.loop.start_steps = 5000
  c.loop.eval_every = 5000
  c.loop.checkpoint_every = 25_000
  c.loop.online_capacity = 300_000
  c.loop.offline_capacity = 256 * 200
  c.loop.offline_steps = 50_000
  c.compare = "sac"
  return c
