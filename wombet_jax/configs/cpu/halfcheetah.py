"""halfcheetah at CPU scale: WOMBET vs SAC from scratch, 5 seeds, 45k target steps (see locomotion.py)."""
from wombet_jax.configs.cpu import locomotion


def get_config():
  return locomotion.get_cpu_config("halfcheetah")
