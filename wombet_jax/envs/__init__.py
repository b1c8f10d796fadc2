"""Source/target task pairs: a tiny pure-JAX point mass and six brax (MJX) pairs."""
from wombet_jax import third_party

third_party.quiet_imports()  # before brax or mujoco.mjx is first imported

from wombet_jax.envs.base import EnvState, Task, TaskPair, Transition
from wombet_jax.envs.registry import make_pair, names, observation, observation_layout

__all__ = ["EnvState", "Task", "TaskPair", "Transition", "make_pair", "names", "observation",
           "observation_layout"]
