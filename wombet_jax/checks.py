"""The checks config validators are built from, and the one error format of a bad value.

Every message names the offending field, its value and what is allowed. The module that uses
a config section owns that section's validator and builds it from ``Section``'s checks;
``wombet_jax.harness.config.validate`` calls each of them once. This module imports nothing of
the package but its errors, so every section owner can use it.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from wombet_jax.errors import UserError

FLOAT32_MAX = float(np.finfo(np.float32).max)
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1


def invalid(field: str, value, allowed: str) -> UserError:
  """The one error of a bad config value: 'config.<field>=<value> is invalid: <allowed>'."""
  return UserError(f"config.{field}={value!r} is invalid: {allowed}")


def show_number(x: float) -> str:
  return f"{x:.8g}" if abs(x) == FLOAT32_MAX else repr(x)


class Section:
  """The checks of one config section's fields (`path` "" is the top level). Each failure is
  `invalid(...)`, naming the field's dotted path, its value and what is allowed. The module
  that uses a section owns its validator and builds it from these checks."""

  def __init__(self, node, path: str = ""):
    self.node, self.path = node, path

  def name(self, field: str) -> str:
    return f"{self.path}.{field}" if self.path else field

  def get(self, field: str):
    if field not in self.node:
      raise UserError(f"config.{self.name(field)} is missing; see experiments/configs/base.py")
    return self.node[field]

  def fail(self, field: str, allowed: str):
    raise invalid(self.name(field), self.get(field), allowed)

  def choice(self, field: str, choices: Iterable[str]) -> None:
    if self.get(field) not in choices:
      self.fail(field, f"must be one of {sorted(choices)}")

  def integer(self, field: str, lo: int = 1, hi: int = INT32_MAX) -> None:
    """Sizes and counts live in int32 arrays (step counters, buffer indices)."""
    value = self.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
      self.fail(field, f"must be an integer in [{lo}, {hi}]")

  def number(self, field: str, lo: float, hi: float, lo_open: bool = False,
             hi_open: bool = False, why: str = "") -> None:
    """A number in the interval; the bounds are clipped to what float32 holds, since every
    value ends up in a float32 computation (1e39 would be inf there). `why` (optional) says
    why an open bound is excluded."""
    value = self.get(field)
    lo, hi = max(lo, -FLOAT32_MAX), min(hi, FLOAT32_MAX)
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value) and lo <= value <= hi
          and not (lo_open and value == lo) and not (hi_open and value == hi))
    if not ok:
      self.fail(field, f"must be a finite number in {'(' if lo_open else '['}{show_number(lo)}, "
                       f"{show_number(hi)}{')' if hi_open else ']'}" + (f" ({why})" if why else ""))

  def nonnegative(self, field: str) -> None:
    self.number(field, 0.0, math.inf)

  def boolean(self, field: str) -> None:
    if not isinstance(self.get(field), bool):
      self.fail(field, "must be True or False")

  def at_most(self, field: str, bound: str) -> None:
    """field <= bound, another field of this section (checked before as a number)."""
    if self.get(field) > self.get(bound):
      self.fail(field, f"must be <= {self.name(bound)}={self.get(bound)}")
