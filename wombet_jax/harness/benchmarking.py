"""Small helpers shared by the scripts in experiments/benchmarks/: timing jitted functions,
markdown tables, atomic JSON output, random transitions and the variants of our networks
that the benchmarks price."""
import argparse
import os
import statistics
import time
from typing import Any, Callable, Iterable, Sequence

import jax
import jax.numpy as jnp

from wombet_jax.envs.base import Transition
from wombet_jax.harness import results


def time_fn(fn: Callable, *args, warmup: int = 1, repeats: int = 5, **kwargs) -> dict:
  """Wall time of fn(*args, **kwargs) including `jax.block_until_ready` on its output.

  The first `warmup` calls (compilation, caches) are not timed. Returns seconds: median, min,
  mean, std over `repeats` timed calls, plus `first_s`, the time of the first warm-up call
  (compile + run when fn is a fresh `jax.jit`).
  """
  if repeats < 1 or warmup < 0:
    raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
  first_s = float("nan")
  for i in range(warmup):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args, **kwargs))
    if i == 0:
      first_s = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args, **kwargs))
    times.append(time.perf_counter() - start)
  return {"median_s": statistics.median(times), "min_s": min(times),
          "mean_s": statistics.fmean(times),
          "std_s": statistics.stdev(times) if len(times) > 1 else 0.0,
          "first_s": first_s, "repeats": repeats}


def time_interleaved(cases: dict[str, tuple[Callable, tuple]], repeats: int) -> dict:
  """Min wall and process-CPU seconds of each case's fn(*args), timed round-robin.

  Every case is first called once untimed (compilation; its time is `first_s`); then each of
  `repeats` rounds times every case once. On a shared machine whose speed drifts over minutes,
  a case timed in one block lands in a fast or a slow stretch as a whole; interleaved, every
  case sees the same stretches, so ratios between cases (x floor) hold.
  """
  if repeats < 1:
    raise ValueError(f"need repeats >= 1, got repeats={repeats}")
  out = {}
  for name, (fn, args) in cases.items():
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    out[name] = {"s": float("inf"), "cpu_s": float("inf"), "first_s": time.perf_counter() - start}
  for _ in range(repeats):
    for name, (fn, args) in cases.items():
      wall, cpu = time.perf_counter(), time.process_time()
      jax.block_until_ready(fn(*args))
      out[name]["s"] = min(out[name]["s"], time.perf_counter() - wall)
      out[name]["cpu_s"] = min(out[name]["cpu_s"], time.process_time() - cpu)
    print(f"  round done: { {k: round(v['s'], 3) for k, v in out.items()} }", flush=True)
  return out


def _cell(value: Any) -> str:
  if isinstance(value, float):
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
  if isinstance(value, int) and not isinstance(value, bool):
    return f"{value:,}"
  return str(value)


def markdown_table(rows: Sequence[dict], columns: Iterable[str] | None = None) -> str:
  """A GitHub markdown table of `rows` (dicts); columns default to the first row's keys."""
  if not rows:
    raise ValueError("markdown_table needs at least one row")
  columns = list(columns) if columns is not None else list(rows[0])
  lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
  for row in rows:
    lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
  return "\n".join(lines)


def write_json(path: str, obj: Any) -> None:
  """Writes `obj` as JSON to `path` atomically, so a reader never sees a half-written file."""
  results.atomic_write_json(path, obj)


def device_description() -> str:
  """The default JAX device, e.g. 'cpu (2 cores)' or 'gpu: NVIDIA H100 80GB HBM3'."""
  device = jax.devices()[0]
  if device.platform == "cpu":
    return f"cpu ({os.cpu_count()} cores)"
  return f"{device.platform}: {getattr(device, 'device_kind', '')}"


def base_parser(description: str) -> argparse.ArgumentParser:
  """Argument parser with the flags every benchmark has: --quick and --json PATH."""
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
  parser.add_argument("--json", metavar="PATH", default=None,
                      help="also write the figures as JSON to PATH")
  return parser


# Keys of a planner variant that are not planner config fields: "penalty_share" sets
# planner.penalty_particles to that share of the section's particles (at least 1), so a variant
# keeps its meaning when a benchmark shrinks the particles; "weights_dtype" is the model's
# (generation.plan_dtype), applied by the benchmark to the model state.
VARIANT_KEYS = ("penalty_share", "weights_dtype")


def apply_planner_variant(planner_cfg, overrides: dict) -> None:
  """Sets a planner variant's overrides on a `planner` config section, in place."""
  planner_cfg.update({k: v for k, v in overrides.items() if k not in VARIANT_KEYS})
  share = overrides.get("penalty_share")
  if share is not None:
    planner_cfg.penalty_particles = max(1, round(share * planner_cfg.particles))


def random_transitions(key: jax.Array, n: int, obs_dim: int, act_dim: int) -> Transition:
  """n random transitions (Gaussian obs and rewards, actions uniform in [-1, 1], no
  terminals): data for timing updates, not for learning."""
  ks = jax.random.split(key, 4)
  return Transition(obs=jax.random.normal(ks[0], (n, obs_dim)),
                    action=jax.random.uniform(ks[1], (n, act_dim), minval=-1, maxval=1),
                    reward=jax.random.normal(ks[2], (n,)),
                    next_obs=jax.random.normal(ks[3], (n, obs_dim)),
                    terminal=jnp.zeros(n), done=jnp.zeros(n))


def apply_critics_one_by_one(module, params, *inputs) -> jax.Array:
  """A critic ensemble applied member by member in Python: the same numbers as
  `networks.apply_ensemble`, N copies of the program (the benchmarks' price of the vmap)."""
  n = jax.tree_util.tree_leaves(params)[0].shape[0]
  return jnp.stack([module.apply(jax.tree_util.tree_map(lambda x: x[i], params), *inputs)
                    for i in range(n)])


def resolve_sizes(args: argparse.Namespace, defaults: Sequence[tuple[str, Any, Any]],
                  positive: Sequence[str]) -> argparse.Namespace:
  """Fill each unset (None) option `name` from `defaults` = (name, full, quick) by `--quick`,
  then require every option in `positive` to be >= 1 (one ValueError naming them)."""
  for name, full, quick in defaults:
    if getattr(args, name) is None:
      setattr(args, name, quick if args.quick else full)
  if min(getattr(args, n) for n in positive) < 1:
    raise ValueError(", ".join(f"--{n}" for n in positive) + " must be >= 1")
  return args


def report(title: str, rows: Sequence[dict], json_path: str | None,
           columns: Iterable[str] | None = None, **extra) -> None:
  """Prints `title` and the table of `rows`; with `json_path` writes the same figures (and
  `extra` fields, plus the device) as JSON."""
  print(f"## {title}\n\n{markdown_table(rows, columns)}\n")
  if json_path:
    write_json(json_path, {"title": title, "device": device_description(), "rows": list(rows),
                           **extra})
