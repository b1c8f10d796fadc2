"""Wall time and memory of one online chunk for 1, 8, 64 and 256 vmapped seeds.

Sizes a run of thousands of seeds: prints per-seed memory (the slope of the compiled
program's memory between the two largest seed counts, from XLA's own memory analysis:
arguments + outputs + temporaries) and the largest seed count that fits in this device's
memory. Only the online chunk is timed (env steps + G updates per step), the part that
dominates a run; D_off is left empty, which changes no shapes or FLOPs.

  python experiments/benchmarks/seeds.py [--config experiments/configs/default.py]
"""
import importlib.util
import os
import time

import jax
import jax.numpy as jnp

from wombet_jax import loop
from wombet_jax.harness import benchmarking
from wombet_jax.harness.config import validate


def load_config(path):
  spec = importlib.util.spec_from_file_location("cfg", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config()


def device_memory_bytes() -> int:
  stats = jax.devices()[0].memory_stats() or {}
  return int(stats.get("bytes_limit") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def main():
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  p = benchmarking.base_parser(__doc__.splitlines()[0])
  p.add_argument("--config", default=os.path.join(root, "configs", "default.py"))
  p.add_argument("--seeds", default="1,8,64,256")
  p.add_argument("--chunk", type=int, default=None, help="env steps per chunk (default eval_every)")
  a = p.parse_args()
  config = load_config(a.config)
  if a.chunk:
    config.loop.eval_every = a.chunk
  if a.quick:
    config.loop.eval_every = 100
  config.loop.steps_per_iteration = config.loop.eval_every
  config.loop.checkpoint_every = config.loop.eval_every
  validate(config)
  seeds = [int(s) for s in a.seeds.split(",")]
  rows = []
  mem = {}
  base_time = None
  for n in seeds:
    config.num_seeds = n
    pipe = loop.make_pipeline(config)
    states = pipe.init(jax.vmap(jax.random.PRNGKey)(jnp.arange(n, dtype=jnp.uint32)))
    # Skip the from-scratch warm-up so every step runs G updates, as in steady state.
    t0 = jnp.int32(config.loop.start_steps + config.agent.batch_size)
    c0 = time.perf_counter()
    compiled = jax.jit(pipe.chunk).lower(states, t0).compile()
    compile_s = time.perf_counter() - c0
    ma = compiled.memory_analysis()
    total = (ma.argument_size_in_bytes + ma.output_size_in_bytes + ma.temp_size_in_bytes
             - ma.alias_size_in_bytes)
    mem[n] = total
    jax.block_until_ready(compiled(states, t0))  # warm
    start = time.perf_counter()
    jax.block_until_ready(compiled(states, t0))
    dt = time.perf_counter() - start
    base_time = base_time or dt / n
    steps = config.loop.eval_every * n
    rows.append({"seeds": n, "chunk steps": config.loop.eval_every, "wall s": dt,
                 "env steps/s (all seeds)": steps / dt, "time/seed vs 1 seed": dt / n / base_time,
                 "memory MiB": total / 2**20, "compile s": compile_s})
    # Progress and partial results as each size finishes: a run cut off by a time limit
    # (e.g. a lent accelerator) still leaves what it measured.
    print(f"  {n} seeds: wall {dt:.3f} s, memory {total / 2**20:.1f} MiB, compile "
          f"{compile_s:.1f} s", flush=True)
    if a.json:
      benchmarking.write_json(a.json, {"rows": rows, "partial": True,
                                       "device": benchmarking.device_description()})
  hi, lo = seeds[-1], seeds[-2] if len(seeds) > 1 else seeds[-1]
  per_seed = (mem[hi] - mem[lo]) / max(hi - lo, 1) if hi != lo else mem[hi] / hi
  fixed = mem[hi] - per_seed * hi
  avail = device_memory_bytes()
  fits = int((0.9 * avail - fixed) // per_seed) if per_seed > 0 else None
  benchmarking.report(
      f"One chunk of {config.algo} on {config.env} ({benchmarking.device_description()}, "
      f"G={config.agent.utd}, {config.agent.num_critics} critics, batch {config.agent.batch_size})",
      rows, a.json, per_seed_mib=per_seed / 2**20, largest_seed_count=fits,
      device_memory_gib=avail / 2**30)
  print(f"per-seed memory: {per_seed / 2**20:.2f} MiB; fixed: {fixed / 2**20:.1f} MiB; "
        f"device memory {avail / 2**30:.1f} GiB -> largest seed count that fits (90%): {fits}")


if __name__ == "__main__":
  main()
