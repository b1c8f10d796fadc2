"""Source/target task pairs: a tiny pure-JAX point mass and six brax (MJX) pairs."""
from wombet_jax import third_party

third_party.quiet_imports()  # before brax or mujoco.mjx is first imported

from wombet_jax.envs.base import EnvState, Task, TaskPair, Transition
from wombet_jax.envs.registry import (is_mjx, make_pair, mjx_names, names, observation,
                                     observation_layout, paper_names, return_ceiling)

__all__ = ["EnvState", "Task", "TaskPair", "Transition", "is_mjx", "make_pair", "mjx_names",
           "names", "observation", "observation_layout", "paper_names", "return_ceiling"]
