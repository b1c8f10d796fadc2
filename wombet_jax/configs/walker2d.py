"""walker2d source/target pair at the paper-scale budget (an accelerator is advised)."""
from wombet_jax.configs import paper


def get_config():
  return paper.get_paper_config("walker2d")
