"""The task-pair suite as data: one `PairSpec` per pair name.

Adding a pair is adding an entry here (docs/method.md); every list of pairs (the MJX pairs
that render, the paper's six with their paper-scale configs, the observation a policy acts on)
derives from these entries, and nothing else branches on names.
"""
from __future__ import annotations

import dataclasses
import numbers
from typing import Callable

import jax
import jax.numpy as jnp

from wombet_jax.envs import base, inverted_double_pendulum, mjx_tasks, pointmass, reacher


@dataclasses.dataclass(frozen=True)
class PairSpec:
  """What the project knows of a task pair besides the pair itself.

  builder: episode_length -> TaskPair. episode_length: the default time limit.
  brax_observation: (the features the pair appends to brax's obs, as a function of a brax
    State; the layout in words) for an MJX pair, whose scene renders and whose policies act in
    brax's own env of the same name; None for a pure-JAX pair.
  paper: one of the paper's six pairs, with a paper-scale config
    (`wombet_jax/configs/<name>.py`).
  reward_max: (source, target) analytic maxima of the per-step reward, read off the reward
    functions (every term but a bonus is a non-positive penalty); None where the reward grows
    without bound (running forward). Behind `return_ceiling`.
  """
  builder: Callable[[int], base.TaskPair]
  episode_length: int
  brax_observation: tuple[Callable, str] | None = None
  paper: bool = False
  reward_max: tuple[float | None, float | None] = (None, None)


_PAIRS: dict[str, PairSpec] = {
    "pointmass": PairSpec(pointmass.make_pair, pointmass.EPISODE_LENGTH,
                          reward_max=(0.0, 0.0)),
    # An MJX pair's observation is brax's obs of the env of the same name followed by features
    # the pair appends (mjx_tasks.brax_task), so that its rewards and terminations are
    # functions of next_obs.
    "halfcheetah": PairSpec(mjx_tasks.make_halfcheetah, 1000, (
        mjx_tasks._x_velocity, "brax halfcheetah obs (17: q[1:], qd) + [x_velocity] = 18"),
        paper=True, reward_max=(None, 0.0)),
    "hopper": PairSpec(mjx_tasks.make_hopper, 1000, (
        mjx_tasks._hopper_extra,
        "brax hopper obs (11) + [x_velocity, max |qd| over joints] = 13"), paper=True,
        reward_max=(None, mjx_tasks.HEALTHY_REWARD)),
    "walker2d": PairSpec(mjx_tasks.make_walker2d, 1000, (
        mjx_tasks._x_velocity, "brax walker2d obs (17) + [x_velocity] = 18"), paper=True,
        reward_max=(None, mjx_tasks.HEALTHY_REWARD)),
    "ant": PairSpec(mjx_tasks.make_ant, 1000, (
        mjx_tasks._ant_extra,
        "brax ant obs (27: q[2:], qd) + [x_velocity, y_velocity, torso z (x.pos)] = 30"),
        paper=True),
    # 50 steps of 0.02 s, as in Gym's Reacher: long enough to reach any goal and hold it.
    "reacher": PairSpec(reacher.make_reacher, 50, (
        reacher._no_extra, "brax reacher obs (11), nothing appended = 11"), paper=True,
        reward_max=(0.0, 0.0)),
    "inverted_double_pendulum": PairSpec(
        inverted_double_pendulum.make_inverted_double_pendulum, 1000, (
            inverted_double_pendulum._extra,
            "brax inverted_double_pendulum obs (8) + [tip x, tip z, qd[1], qd[2]] = 12"),
        paper=True, reward_max=(inverted_double_pendulum.ALIVE_BONUS,
                                inverted_double_pendulum.ALIVE_BONUS)),
}
POINTMASS_LAYOUT = "pointmass (px, py, vx, vy) = 4; a pure-JAX pair, no brax env"


# "<pair>:source" is the pair with its source task in the target's place: what runs on the
# target (online RL, evaluation, reference scores) then runs on the source task. It measures
# what an algorithm reaches on the source task itself, e.g. SAC with as many source steps as
# WOMBET's source phase used.
SOURCE_SUFFIX = ":source"


def names() -> tuple[str, ...]:
  """Registered pair names, pointmass first."""
  return tuple(_PAIRS)


def mjx_names() -> tuple[str, ...]:
  """The MJX pairs: a scene to render, a brax env of the same name to act in."""
  return tuple(n for n, spec in _PAIRS.items() if spec.brax_observation is not None)


def paper_names() -> tuple[str, ...]:
  """The paper's six pairs, each with a paper-scale config `wombet_jax/configs/<name>.py`."""
  return tuple(n for n, spec in _PAIRS.items() if spec.paper)


def is_mjx(name: str) -> bool:
  """`name` (":source" allowed) is an MJX pair."""
  return is_known(name) and _PAIRS[base_name(name)].brax_observation is not None


def base_name(name: str) -> str:
  """The registered pair behind `name` ("hopper:source" -> "hopper")."""
  return name[:-len(SOURCE_SUFFIX)] if name.endswith(SOURCE_SUFFIX) else name


def is_known(name: str) -> bool:
  """A registered pair, or one with the ":source" suffix."""
  return base_name(name) in _PAIRS


def default_episode_length(name: str) -> int:
  if not is_known(name):
    raise ValueError(f"unknown task pair {name!r}; known pairs: {', '.join(names())} "
                     f"(each also as <pair>{SOURCE_SUFFIX})")
  return _PAIRS[base_name(name)].episode_length


def return_ceiling(name: str, episode_length: int | None = None) -> float | None:
  """The analytic ceiling of an episode's return on the task that runs as the target of
  `name` (its source task for "<pair>:source"): the per-step reward's maximum times the
  episode length (None or 0: the pair's default). Every maximum is >= 0, so an episode that
  terminates early returns no more. None where the reward has no finite maximum."""
  length = episode_length or default_episode_length(name)
  best = _PAIRS[base_name(name)].reward_max[0 if name.endswith(SOURCE_SUFFIX) else 1]
  return None if best is None else float(best) * int(length)


def make_pair(name: str, episode_length: int | None = None) -> base.TaskPair:
  """Builds the named source/target pair.

  Args:
    name: one of names(), optionally with the ":source" suffix (the source task as target).
    episode_length: time limit; None (or 0, the config's "default" value) keeps the pair's
      default.
  """
  default_length = default_episode_length(name)
  builder = _PAIRS[base_name(name)].builder
  if episode_length is None or episode_length == 0:
    episode_length = default_length
  if (isinstance(episode_length, bool) or not isinstance(episode_length, numbers.Integral)
      or episode_length < 0):
    raise ValueError(f"episode_length must be a positive int (or None / 0 for the default "
                     f"{default_length}), got {episode_length!r}")
  pair = builder(int(episode_length))
  if name.endswith(SOURCE_SUFFIX):
    pair = dataclasses.replace(pair, name=name, target=pair.source)
  return pair


# --- the observation a pair's policy acts on, rebuilt from brax's own env ----------------------
def observation_layout(name: str) -> str:
  """What the observation of pair `name` (":source" allowed) holds, in order."""
  name = base_name(name)
  if name == "pointmass":
    return POINTMASS_LAYOUT
  if not is_mjx(name):
    raise ValueError(f"unknown task pair {name!r}; known pairs: {', '.join(names())}")
  return _PAIRS[name].brax_observation[1]


def observation(name: str, state) -> jax.Array:
  """The observation pair `name`'s policies act on, from a State of brax's own env of the same
  name (`brax.envs.get_environment(name)`): brax's `state.obs` with the pair's appended
  features. Jittable; no batch axis (vmap it for batched states)."""
  name = base_name(name)
  if not is_mjx(name):
    raise ValueError(f"observation: {name!r} is not an MJX pair; allowed: "
                     f"{sorted(mjx_names())}")
  extra = _PAIRS[name].brax_observation[0](state)
  return jnp.concatenate([state.obs, extra.astype(state.obs.dtype)], axis=-1)
