"""Env throughput: jit(lax.scan(vmap(task.step))) with uniform-random actions, per task pair.

Prints a markdown table (env, task, batch, steps, env-steps/s, compile seconds); --json PATH
writes the same rows. Compile time is for the scanned rollout program (reset compiled apart);
throughput is the best of --repeats timed runs after one warm-up run, auto-resets included.

  python experiments/benchmarks/envs.py --quick --envs pointmass,halfcheetah
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from wombet_jax import envs
from wombet_jax.harness import benchmarking


def make_rollout(task: envs.Task, act_dim: int, batch: int, steps: int):
  """Returns jit(rollout): (states, key) -> (states, summed reward), a scan of `steps` steps."""
  def rollout(states, key):
    def body(carry, k):
      s, total = carry
      a = jax.random.uniform(k, (batch, act_dim), minval=-1.0, maxval=1.0)
      s, tr = jax.vmap(task.step)(s, a)
      return (s, total + tr.reward.sum()), None
    (states, total), _ = jax.lax.scan(body, (states, jnp.zeros(())), jax.random.split(key, steps))
    return states, total
  return jax.jit(rollout)


def bench_pair(name: str, batch: int, steps: int, repeats: int, which: str) -> dict:
  pair = envs.make_pair(name)
  task = getattr(pair, which)
  key_reset, key_run = jax.random.split(jax.random.PRNGKey(0))
  states = jax.jit(jax.vmap(task.reset))(jax.random.split(key_reset, batch))
  rollout = make_rollout(task, pair.act_dim, batch, steps)
  start = time.perf_counter()
  compiled = rollout.lower(states, key_run).compile()
  compile_s = time.perf_counter() - start
  states, total = compiled(states, key_run)  # warm-up: first-call allocation and transfer
  jax.block_until_ready((states, total))
  best = float("inf")
  for i in range(repeats):
    start = time.perf_counter()
    states, total = compiled(states, jax.random.fold_in(key_run, i))
    jax.block_until_ready((states, total))
    best = min(best, time.perf_counter() - start)
  return {"env": name, "task": which, "batch": batch, "steps": steps,
          "env_steps_per_s": batch * steps / best, "compile_s": compile_s,
          "run_s": best, "device": str(jax.devices()[0].device_kind)}


def main() -> None:
  parser = benchmarking.base_parser(__doc__.splitlines()[0])
  parser.add_argument("--envs", default=",".join(envs.names()),
                      help="comma-separated pair names (default: all)")
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--steps", type=int, default=200, help="scanned steps per timed run")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--task", choices=("source", "target"), default="target")
  args = parser.parse_args()
  names = [n.strip() for n in args.envs.split(",") if n.strip()]
  unknown = [n for n in names if n not in envs.names()]
  if unknown:
    raise ValueError(f"--envs: unknown pair(s) {unknown}; known: {', '.join(envs.names())}")
  if args.batch < 1 or args.steps < 1 or args.repeats < 1:
    raise ValueError(f"--batch, --steps, --repeats must be >= 1, got "
                     f"{args.batch}, {args.steps}, {args.repeats}")
  steps, repeats = (50, 1) if args.quick else (args.steps, args.repeats)

  rows = []
  for name in names:
    rows.append(bench_pair(name, args.batch, steps, repeats, args.task))
    print(f"{name}: {rows[-1]['env_steps_per_s']:,.0f} env-steps/s, "
          f"compile {rows[-1]['compile_s']:.1f} s", flush=True)
  table = [{"env": r["env"], "task": r["task"], "batch": r["batch"], "steps": r["steps"],
            "env-steps/s": r["env_steps_per_s"], "compile s": r["compile_s"]} for r in rows]
  benchmarking.report(f"Batched env stepping ({benchmarking.device_description()}, "
                      f"jax {jax.__version__})", table, args.json)


if __name__ == "__main__":
  main()
