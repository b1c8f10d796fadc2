"""Paper-scale readiness: builds and runs every piece of each paper config on this machine for
a few steps, and projects the wall time of the full budget.

  python experiments/diagnostics/check_configs.py          # six pairs, WOMBET + SAC
  python experiments/diagnostics/check_configs.py --envs=hopper --algos=wombet --json=/tmp/c.json
  python experiments/diagnostics/check_configs.py --merge=/tmp/a.json,/tmp/b.json --json=/tmp/ab.json

For each config (experiments/configs/<env>.py, one seed) every jitted piece is compiled and then
timed on a short run with the paper's shapes: source episodes and evaluations of --steps steps
(a step costs the same in a short episode), the world-model fit for one epoch over --fit_data
random transitions, data generation with --gen_trajectories trajectories of --steps steps, and
--steps online target steps with every step learning (G updates). The projection scales each
measured cost to the config's counts:

  source   = ep_len * (random episodes * t_random_step + MPC episodes * t_mpc_step)
  fits     = per fit max_epochs * t_epoch * transitions / fit_data (an upper bound: holdout early
             stopping usually ends sooner), after each source episode and at each iteration
  generate = iterations * H_gen * t_gen_step * num_trajectories / gen_trajectories
  online   = iterations * steps_per_iteration * t_target_step
  evals    = (evaluations + 1) * ep_len * t_eval_step

per seed; seeds are a vmap axis, so on a CPU S seeds cost about S times this and on an
accelerator much less. Memory per seed is the size of one seed's run state (buffers, model,
agent). Not part of CI: compiling the paper shapes takes minutes per config.

  python experiments/diagnostics/check_configs.py --memory [--json=PATH]  # compiles, runs nothing

--memory instead reports, per paper config, the run state per seed beside the generation
temporaries of XLA's memory_analysis() of `generation.generate` compiled (not run) for one
block of 1 and 2 trajectories (linear in the block: intercept + slope x block), without
(before) and with (after) planner.stepping_u, the unblocked M-trajectory figure that
implies, the estimate `wombet_jax.budget` makes before compiling, and the largest number of
vmapped seeds that fits an 80 GB and a 141 GB device: jax takes 75% of it, half of that is
the generation budget (`generation.device_budget_bytes`), each seed's block is sized from it,
and seeds x (run state + block temporaries) must fit the 75%. It also compiles the 5-seed
vmapped block at 80 GB to check the linear model, and projects GPU-hours of generation per
paper-scale seed from `budget.plan_step_flops` at --tflops (a sustained rate; 33 is what the
planner reached on an H100).
"""
import json
import os
import time

from absl import app, flags

from wombet_jax.harness import cli
from wombet_jax.harness.tables import check_configs_table as table, memory_table
from wombet_jax.errors import UserError
from wombet_jax.configs import CONFIGS

_ENVS = flags.DEFINE_list("envs", None, "Paper configs to check (default: every pair with one, "
                          "from the pair registry).")
_ALGOS = flags.DEFINE_list("algos", ["wombet", "sac"], "Algorithms per config.")
_STEPS = flags.DEFINE_integer("steps", 5, "Steps per timed piece (episodes, chunks, generation).")
_FIT_DATA = flags.DEFINE_integer("fit_data", 20_000, "Random transitions for the timed fit.")
_GEN = flags.DEFINE_integer("gen_trajectories", 2, "Trajectories in the timed generation.")
_JSON = flags.DEFINE_string("json", None, "Also write the results as JSON here.")
_MEMORY = flags.DEFINE_bool("memory", False, "Report generation memory and FLOPs only.")
_TFLOPS = flags.DEFINE_float("tflops", 33.0, "Sustained device TFLOP/s for the projection.")
_MERGE = flags.DEFINE_list("merge", None, "Instead of checking: JSON files of earlier runs "
                           "(e.g. one per env) whose rows are joined, in order, into --json "
                           "and printed as one table.")


def _timed(fn, *args):
  """(first-call seconds, second-call seconds, output of the second call)."""
  import jax
  t0 = time.time()
  jax.block_until_ready(fn(*args))
  first = time.time() - t0
  t0 = time.time()
  out = jax.block_until_ready(fn(*args))
  return first, time.time() - t0, out


def shrunk(config, steps: int, gen_trajectories: int):
  """The config with the counts that set no per-step shape shrunk to `steps`."""
  c = config.copy_and_resolve_references()
  c.num_seeds = 1
  c.episode_length = steps
  c.loop.eval_every = c.loop.checkpoint_every = steps
  c.loop.steps_per_iteration = steps
  c.loop.start_steps = 0
  c.generation.horizon = steps
  c.generation.num_trajectories = gen_trajectories
  c.loop.offline_capacity = max(c.loop.offline_capacity, steps * gen_trajectories)
  c.world_model.max_epochs = 1
  return c


def check(config, steps: int, fit_data: int, gen_trajectories: int) -> dict:
  """Compile and per-step times of every piece of `config`'s run, and the projection."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from wombet_jax.harness import config as config_lib
  from wombet_jax import loop
  from wombet_jax import world_model as wm_lib
  from wombet_jax.harness import schedule

  config_lib.validate(config)
  full = loop.make_pipeline(config)  # the real config builds (its shapes are what is timed)
  ep_len, spec = full.episode_length, full.spec
  c = shrunk(config, steps, gen_trajectories)
  config_lib.validate(c)
  pipe = loop.make_pipeline(c)
  states = pipe.init(jax.vmap(jax.random.PRNGKey)(jnp.zeros((1,), jnp.uint32)))
  state_bytes = sum(x.nbytes for x in jax.tree_util.tree_leaves(states))
  lo, t = config.loop, {}
  compile_s = 0.0
  if spec.uses_offline:
    first, t_rand, _ = _timed(lambda s: pipe.source_episode(s, False), states)
    compile_s += first - t_rand
    first, t_mpc, (states, _) = _timed(lambda s: pipe.source_episode(s, True), states)
    compile_s += first - t_mpc
    t["random_step"], t["mpc_step"] = t_rand / steps, t_mpc / steps
    obs_dim, act_dim = pipe.pair.obs_dim, pipe.pair.act_dim
    n = min(fit_data, config.world_model.capacity)
    rnd = np.random.default_rng(0)
    real = jax.vmap(lambda d, o, a, o2: wm_lib.add_to_data(d, o, a, o2))(
        states.real, *(jnp.asarray(rnd.normal(size=(1, n, d)), jnp.float32)
                       for d in (obs_dim, act_dim, obs_dim)))
    fit_states = states.replace(real=real)
    first, t_epoch, _ = _timed(pipe.fit_model, fit_states)
    compile_s += first - t_epoch
    t["fit_epoch_per_transition"] = t_epoch / n
    first, t_gen, (states, _) = _timed(pipe.regenerate, states)
    compile_s += first - t_gen
    t["gen_step_per_trajectory"] = t_gen / steps / gen_trajectories
  if spec.offline_pretrain:
    first, t_pre, (states, _) = _timed(lambda s: pipe.pretrain(s, 0, steps), states)
    compile_s += first - t_pre
    t["pretrain_update"] = t_pre / steps
  # Online: one chunk from t0 = 0 fills the buffer; timed chunks start past learn_start, so
  # every step runs its G updates.
  states, _ = pipe.chunk(states, jnp.int32(0))
  t0 = jnp.int32(max(config.agent.batch_size, lo.start_steps))
  first, t_chunk, _ = _timed(lambda s: pipe.chunk(s, t0), states)
  compile_s += first - t_chunk
  t["target_step"] = t_chunk / steps
  first, t_eval, _ = _timed(pipe.evaluate, states)
  compile_s += first - t_eval
  t["eval_step"] = t_eval / steps
  proj = schedule.projected_seconds(schedule.pipeline_tasks(full), full.config, ep_len, t,
                 keeps_model_data=spec.uses_offline and spec.refresh_each_iteration)
  total = sum(proj.values())
  return {"env": config.env, "algo": config.algo, "episode_length": ep_len,
          "target_steps": lo.num_iterations * lo.steps_per_iteration,
          "compile_seconds": compile_s, "seconds_per_1000_target_steps": 1000 * t["target_step"],
          "state_mib_per_seed": state_bytes / 2**20, "per_step_seconds": t,
          "projected_seconds_per_seed": proj, "projected_total_hours_per_seed": total / 3600}


DEVICE_FRACTION = 0.75  # of a device's memory that jax takes by default


def largest_seeds(config, state: int, temp_of_block, device_gb: float) -> int:
  """Most seeds whose run states and blocks fit DEVICE_FRACTION of device_gb (see --memory)."""
  c = config.copy_and_resolve_references()
  usable = DEVICE_FRACTION * device_gb * 1e9
  c.generation.memory_budget_gib = usable / 2 / 2**30
  best, s = 0, 1
  while s <= 1 << 16:
    block = _block(c, s, temp_of_block)
    if s * (state + temp_of_block(block)) > usable:
      break
    best, s = s, s + 1
  return best


def _block(c, seeds: int, temp_of_block) -> int:
  """The block each seed gets: the largest whose XLA temporaries fit budget / seeds."""
  per_seed = c.generation.memory_budget_gib * 2**30 / seeds
  m = c.generation.num_trajectories
  slope = temp_of_block(2) - temp_of_block(1)
  return int(max(1, min(m, (per_seed - (temp_of_block(1) - slope)) // max(slope, 1))))


def memory_check(config, tflops: float) -> dict:
  """The --memory row of one paper config."""
  from wombet_jax import budget, generation
  from wombet_jax.envs import make_pair
  pair = make_pair(config.env, config.episode_length or None)
  state = budget.run_state_bytes(config)
  m, h_gen = config.generation.num_trajectories, config.generation.horizon
  row = {"env": config.env, "obs_dim": pair.obs_dim, "act_dim": pair.act_dim,
         "state_mib_per_seed": state / 2**20, "num_trajectories": m}
  for name, stepping_u in (("before", False), ("after", True)):
    c = config.copy_and_resolve_references()
    c.planner.stepping_u = stepping_u
    t1, t2 = budget.generation_temp_bytes(c, 1), budget.generation_temp_bytes(c, 2)
    temp = lambda b, t1=t1, t2=t2: t1 + (t2 - t1) * (b - 1)
    flops = budget.plan_step_flops(c, pair.obs_dim, pair.act_dim)["flops"]
    seed_steps = config.loop.num_iterations * m * h_gen
    row[name] = {
        "temp_mib_block1": t1 / 2**20, "temp_mib_per_trajectory": (t2 - t1) / 2**20,
        "unblocked_gib_per_seed": temp(m) / 2**30,
        "estimate_gib_per_seed_unblocked":
            m * generation.trajectory_bytes(c, pair.obs_dim) / 2**30,
        "max_seeds_80gb": largest_seeds(c, state, temp, 80.0),
        "max_seeds_141gb": largest_seeds(c, state, temp, 141.0),
        "tflop_per_generated_step": flops / 1e12,
        "gpu_hours_per_seed": flops * seed_steps / (tflops * 1e12) / 3600}
    if name == "after":
      c.generation.memory_budget_gib = DEVICE_FRACTION * 80e9 / 2 / 2**30
      b5 = _block(c, 5, temp)
      measured = budget.generation_temp_bytes(c, b5, num_seeds=5)
      row["five_seeds_80gb"] = {"block": b5, "xla_temp_gib": measured / 2**30,
                                "total_gib": (measured + 5 * state) / 2**30}
  return row


@cli.one_line_errors("check_configs.py")
def main(argv):
  del argv
  import importlib

  import jax
  from absl import logging as absl_logging
  absl_logging.set_verbosity(absl_logging.WARNING)
  if _STEPS.value < 1 or _GEN.value < 1 or _FIT_DATA.value < 1:
    raise UserError(f"--steps={_STEPS.value}, --gen_trajectories={_GEN.value} and "
                    f"--fit_data={_FIT_DATA.value} must be integers >= 1")
  if _MERGE.value:
    merged = [json.load(open(p)) for p in _MERGE.value]
    devices = {(m["device"], m["cpu_count"], json.dumps(m["flags"], sort_keys=True))
               for m in merged}
    if len(devices) != 1:
      raise UserError(f"--merge: the files come from different machines or flags: {devices}")
    rows = [r for m in merged for r in m["rows"]]
    print(table(rows), end="")
    if _JSON.value:
      from wombet_jax.harness import results
      results.atomic_write_json(_JSON.value, dict(merged[0], rows=rows))
    return
  rows = []
  from wombet_jax.envs import registry
  for env in _ENVS.value or registry.paper_names():
    path = os.path.join(CONFIGS, f"{env}.py")
    if not os.path.exists(path):
      raise UserError(f"--envs contains {env!r}: no paper config experiments/configs/{env}.py")
    if _MEMORY.value:
      t0 = time.time()
      rows.append(memory_check(importlib.import_module(f"wombet_jax.configs.{env}")
                               .get_config(), _TFLOPS.value))
      print(memory_table(rows[-1:], _TFLOPS.value).splitlines()[-1],
            f"({time.time() - t0:.0f} s)", flush=True)
      if _JSON.value:
        write_json(_JSON.value, rows)
      continue
    for algo in _ALGOS.value:
      config = importlib.import_module(f"wombet_jax.configs.{env}").get_config()
      config.algo, config.compare = algo, ""
      t0 = time.time()
      r = check(config, _STEPS.value, _FIT_DATA.value, _GEN.value)
      r["check_seconds"] = time.time() - t0
      rows.append(r)
      print(table([r]).splitlines()[-1], f"({r['check_seconds']:.0f} s)", flush=True)
      if _JSON.value:  # after every row: a run stopped part way keeps what it measured
        write_json(_JSON.value, rows)
  device = jax.devices()[0]
  print(f"\n{device.platform} ({device.device_kind}), {os.cpu_count()} CPU cores\n")
  print((memory_table(rows, _TFLOPS.value) if _MEMORY.value else table(rows)), end="")


def write_json(path: str, rows: list[dict]):
  import jax

  from wombet_jax.harness import results
  device = jax.devices()[0]
  results.atomic_write_json(path, {"device": f"{device.platform} {device.device_kind}",
                                   "cpu_count": os.cpu_count(),
                                   "flags": {"steps": _STEPS.value, "fit_data": _FIT_DATA.value,
                                             "gen_trajectories": _GEN.value},
                                   "rows": rows})


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
