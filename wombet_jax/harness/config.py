"""Validation of run configs, done once on the host before anything is compiled, and a run's
identity (the config fields its checkpoints must be resumed with).

Every message names the offending field, its value and what is allowed, so a typo in a
command-line override fails in milliseconds instead of after a minute of compilation.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping

import ml_collections

from wombet_jax.checks import FLOAT32_MAX, INT32_MAX, UINT32_MAX, Section, show_number, invalid
from wombet_jax.errors import UserError

# Fields a resumed run may change: they never reach a compiled program or a computed number
# (`compare` names the runs that follow this one; `loop.checkpoint_every` only decides when
# the host saves; `writers` only where the metrics also go). Every other field is part of a
# run's identity, stored with each checkpoint.
RESUME_SAFE_FIELDS = ("compare", "loop.checkpoint_every", "writers")


def _leaves(node, prefix: str = ""):
  """(dotted path, value) of every field below `node`, depth first in insertion order."""
  for k, v in node.items():
    if isinstance(v, (ml_collections.ConfigDict, Mapping)):
      yield from _leaves(v, f"{prefix}{k}.")
    else:
      yield prefix + k, v


def _representable(c) -> None:
  """Every number of every section (the baselines' too) fits the dtype it is computed in:
  floats are float32, integers int32 (the seed is checked as uint32 by `validate`)."""
  for path, value in _leaves(c):
    if isinstance(value, bool) or path == "seed":
      continue
    if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= FLOAT32_MAX):
      raise invalid(path, value, f"must be a finite number representable in float32 "
                                 f"(|x| <= {show_number(FLOAT32_MAX)})")
    if isinstance(value, int) and not -INT32_MAX - 1 <= value <= INT32_MAX:
      raise invalid(path, value,
                    f"must be an integer representable in int32 (|x| <= {INT32_MAX})")


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises UserError (a ValueError) naming the first invalid field.

  The top-level fields and the rules that tie two sections together are checked here; each
  section's own fields by the one validator of the module that uses the section (the
  builders call the same validators, so a field has one rule)."""
  # Local imports: the section owners import jax, envs import brax, writers imports scipy;
  # importing this module stays cheap.
  from wombet_jax import beta, filtering, generation, loop, planner
  from wombet_jax.harness import writers
  from wombet_jax import world_model
  from wombet_jax.agents import common
  from wombet_jax.agents import registry as algo_registry
  from wombet_jax.agents import sac
  from wombet_jax.envs import registry

  for old in MOVED_FIELDS:
    section, field = old.rsplit(".", 1)
    if field in c.get(section, {}):
      raise UserError(moved(old, c[section][field]))
  top = Section(c)
  if not registry.is_known(top.get("env")):
    top.fail("env", f"unknown task pair; known: {list(registry.names())}, each also as "
                    f"<pair>{registry.SOURCE_SUFFIX}")
  top.choice("algo", algo_registry.names())
  algo_registry.compare_names(c)
  common.validate_baselines(top.get("baselines"))
  writers.check(top.get("writers"))
  _representable(c)
  top.integer("num_seeds")
  hi = UINT32_MAX - (c.num_seeds - 1)
  if isinstance(c.seed, bool) or not isinstance(c.seed, int) or not 0 <= c.seed <= hi:
    top.fail("seed", f"must be an integer in [0, {hi}] (seeds seed, ..., "
                     "seed + num_seeds - 1 are uint32 PRNG seeds)")
  top.integer("episode_length", lo=0)

  world_model.validate_config(top.get("world_model"))
  # A source episode enters the model's buffer in one piece.
  episode = c.episode_length or registry.default_episode_length(c.env)
  if c.world_model.capacity < episode:
    raise invalid("world_model.capacity", c.world_model.capacity,
                  f"must be >= the episode length {episode} (a source episode is stored in "
                  "one piece)")
  planner.validate_planner_config(top.get("planner"))
  generation.validate_pets_config(top.get("pets"))
  generation.validate_generation_config(top.get("generation"))
  generation.validate_offline_config(top.get("offline"))
  filtering.validate_filter_config(top.get("filter"))
  sac.validate(top.get("agent"))
  beta.validate(top.get("sampling"))
  loop.validate_config(top.get("loop"))
  if c.offline.max_transitions > c.loop.offline_capacity:
    raise invalid("offline.max_transitions", c.offline.max_transitions,
                  f"must be <= loop.offline_capacity={c.loop.offline_capacity} (0: the whole "
                  "file, which must then fit)")
  if c.agent.batch_size > c.loop.online_capacity:
    raise invalid("agent.batch_size", c.agent.batch_size,
                  f"must be <= loop.online_capacity={c.loop.online_capacity}")
  spec = algo_registry.get(c.algo)
  if spec.section is not None:
    Section(c).get(spec.section)
  spec.validate(c)


# Fields that moved to another section: old dotted path -> new one. Set under its old name (a
# flag or a config file), a field is refused in one line naming the new one.
MOVED_FIELDS = {"world_model.propagation": "planner.propagation"}


def moved(path: str, value: Any) -> str:
  return (f"config.{path}={value!r} is invalid: the field moved to "
          f"config.{MOVED_FIELDS[path]}; set that instead")


def unknown_field(c: ml_collections.ConfigDict, path: str, value: Any = None) -> str | None:
  """The error message for setting `config.<path>` if the config has no such field (the first
  missing part is named with the fields its section does have), else None."""
  if path in MOVED_FIELDS:
    return moved(path, value)
  node, parts = c, path.split(".")
  for i, part in enumerate(parts):
    section = ".".join(["config"] + parts[:i])
    if not isinstance(node, (ml_collections.ConfigDict, Mapping)):
      return (f"config.{path}={value!r} is invalid: {section} is a field, not a section "
              "with fields")
    if part not in node:
      kind = "fields" if i == len(parts) - 1 else "sections and fields"
      return (f"config.{path}={value!r} is invalid: {section} has no field {part!r}; its "
              f"{kind}: {sorted(node.keys())}")
    node = node[part]
  return None


def _canonical(value: Any) -> Any:
  """The JSON form of a config value (tuples become lists, as in config.json)."""
  return json.loads(json.dumps(value))


def identity(c: ml_collections.ConfigDict) -> dict[str, Any]:
  """A run's identity: every field of its resolved config by dotted path, minus
  RESUME_SAFE_FIELDS. Two runs with the same identity (and code) compute the same numbers."""
  return {path: _canonical(v) for path, v in _leaves(c) if path not in RESUME_SAFE_FIELDS}


def identity_differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
  """'config.<path>: <saved> in the checkpoint, <now> now' for every field that differs
  ('absent' for a field only one side has), in sorted order."""
  missing = object()
  out = []
  for path in sorted(set(saved) | set(now)):
    a, b = saved.get(path, missing), now.get(path, missing)
    if a != b:
      show = lambda v: "absent" if v is missing else repr(v)
      out.append(f"config.{path}: {show(a)} in the checkpoint, {show(b)} now")
  return out


_SECTION = re.compile(r"^\s*(\w+) = c\.(\w+) = ml_collections\.ConfigDict\(\)")
_FIELD = re.compile(r"^\s*(\w+)\.(\w+)\s*=[^#]*?(?:#\s*(.*))?$")
_COMMENT = re.compile(r"^\s*#\s?(.*)$")


def field_docs(source: str) -> dict[str, str]:
  """{dotted field: its one-line doc} from the text of a config file written like
  experiments/configs/base.py: a field's trailing comment, else the first line of the comment
  block right above it (with its continuation lines); "" where there is none."""
  aliases, docs, block = {"c": ""}, {}, []
  for line in source.splitlines():
    if m := _SECTION.match(line):
      aliases[m.group(1)] = m.group(2) + "."
      block = []
    elif (m := _FIELD.match(line)) and m.group(1) in aliases:
      doc = (m.group(3) or "").strip() or " ".join(block).strip()
      docs[aliases[m.group(1)] + m.group(2)] = doc
      block = []
    elif m := _COMMENT.match(line):
      block.append(m.group(1).strip())
    else:
      block = []
  return docs


def describe(c: ml_collections.ConfigDict, docs: Mapping[str, str]) -> list[str]:
  """'config.<field> = <value>  # <doc>' for every field of `c`, in order."""
  out = []
  for path, value in _leaves(c):
    doc = docs.get(path, "")
    out.append(f"config.{path} = {value!r}" + (f"  # {doc}" if doc else ""))
  return out
