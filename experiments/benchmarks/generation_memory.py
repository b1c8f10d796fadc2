"""XLA memory_analysis() of one generation block at a paper config, for 1 and 5 vmapped seeds
(compiled on this machine's backend, not run), and the fail-fast estimate beside it.

  python experiments/benchmarks/generation_memory.py --config experiments/configs/halfcheetah.py \\
      [--block 0] [--small] [--json PATH]

--block 0: the block `loop.make_pipeline` would use for 5 seeds on this device. --small shrinks
the planner (population 16, particles 2, horizon 4) and H_gen to 3: a CPU smoke run.
"""
import argparse
import importlib.util
import json
import time


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--config", required=True)
  ap.add_argument("--block", type=int, default=0)
  ap.add_argument("--small", action="store_true")
  ap.add_argument("--json", default=None)
  args = ap.parse_args()
  import jax

  from wombet_jax.budget import generation_temp_bytes
  from wombet_jax import generation
  from wombet_jax.envs import make_pair
  spec = importlib.util.spec_from_file_location("paper_config", args.config)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  c = mod.get_config()
  if args.small:
    c.planner.update(dict(population=16, particles=2, horizon=4, num_elites=4, iterations=2))
    c.generation.horizon = 3
  obs_dim = make_pair(c.env, c.episode_length or None).obs_dim
  out = {"config": args.config, "device": str(jax.devices()[0]), "rows": []}
  for seeds in (1, 5):
    block = args.block or generation.resolve_block_size(c, obs_dim, seeds)
    t0 = time.time()
    temp = generation_temp_bytes(c, block, num_seeds=seeds)
    row = {"seeds": seeds, "block": block, "xla_temp_gib": temp / 2**30,
           "estimate_gib": seeds * block * generation.trajectory_bytes(c, obs_dim) / 2**30,
           "compile_s": time.time() - t0}
    out["rows"].append(row)
    print(row, flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(out, f, indent=1)


if __name__ == "__main__":
  main()
