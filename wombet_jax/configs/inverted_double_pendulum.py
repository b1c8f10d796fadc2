"""inverted_double_pendulum source/target pair (cart at an offset) at the paper-scale budget."""
from wombet_jax.configs import paper


def get_config():
  c = paper.get_paper_config("inverted_double_pendulum", episode_length=1000, horizon=15)
  c.generation.horizon = 100
  c.loop.offline_capacity = 256 * 100
  return c
