"""reacher source/target pair (goal half-planes) at the paper-scale budget."""
from wombet_jax.configs import paper


def get_config():
  c = paper.get_paper_config("reacher", episode_length=50, horizon=15)
  c.generation.horizon = 50
  c.loop.offline_capacity = 256 * 50
  return c
