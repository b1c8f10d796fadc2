"""Planner speed: seconds per MPC planning step at mbrl-lib's PETS halfcheetah defaults, beside
the FLOP-bound floor measured in the same run.

Defaults (mbrl-lib conf/overrides/pets_halfcheetah.yaml): CEM, horizon 30, population 400,
5 iterations, 20 particles, ensemble of 5 Gaussian MLPs with 4 hidden layers of 200 (SiLU),
obs 18, act 6, reward next_obs[0] - 0.1 |a|^2. The dynamics are a stacked-array ensemble
applied to one member per particle group (what the planner's grouped vmap is built for), plus
one row with the project's world model through its `next_from_noise`. The floor is the time of
the same FLOPs as jnp.dot: (a) the MLP's own matmul shapes, chained over horizon x iterations,
(b) one square matmul. Also: M start states planned at once (vmap, as data generation does)
vs one at a time.

  python experiments/benchmarks/planner.py [--quick] [--json PATH] [--no-world-model] [--no-batch]
  python experiments/benchmarks/planner.py --variants experiments/configs/halfcheetah.py \
      [--variant-small] [--batch M] [--json PATH]   # current planner vs stepping-pass u, iCEM

The machine may be shared: cpu_s (process CPU seconds) and "x floor (cpu)" are the figures
that survive other load; wall seconds need an otherwise idle machine.
"""
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from wombet_jax.configs import base
from wombet_jax.harness import benchmarking
from wombet_jax.planner import Dynamics, make_planner

OBS_DIM, ACT_DIM = 18, 6
PEER_S = 4.46  # mbrl-lib 0.2.0's own PETS CEM at these sizes on the 2-core CPU (not rerun here)


def timed(fn, *args, repeats, warmup=None):
  """Min wall and process-CPU seconds of fn(*args) after one untimed warm-up call (of
  `warmup()` if given: compiling without paying for a whole slow call)."""
  start = time.perf_counter()
  jax.block_until_ready(warmup() if warmup else fn(*args))
  first = time.perf_counter() - start
  walls, cpus = [], []
  for _ in range(repeats):
    w, c = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn(*args))
    walls.append(time.perf_counter() - w)
    cpus.append(time.process_time() - c)
  out = {"s": min(walls), "cpu_s": min(cpus), "first_s": first}
  print(f"  {getattr(fn, '__name__', 'fn')}: {out}", flush=True)  # progress on slow machines
  return out


def layer_sizes(hidden, layers):
  return [OBS_DIM + ACT_DIM] + [hidden] * layers + [2 * OBS_DIM]


def make_ensemble(key, members, hidden, layers):
  """Stacked (members, fan_in, fan_out) weights of a PETS Gaussian MLP, random init."""
  sizes = layer_sizes(hidden, layers)
  keys = jax.random.split(key, len(sizes) - 1)
  return [(jax.random.normal(k, (members, i, o)) / np.sqrt(i), jnp.zeros((members, o)))
          for k, i, o in zip(keys, sizes[:-1], sizes[1:])]


def gaussian_mlp(params, obs, act, activation=jax.nn.silu):
  """One member: MLP -> mean and soft-bounded log-variance of the state delta."""
  h = jnp.concatenate([obs, act], axis=-1)
  for w, b in params[:-1]:
    h = activation(h @ w + b)
  mean, logvar = jnp.split(h @ params[-1][0] + params[-1][1], 2, axis=-1)
  logvar = 0.5 - jax.nn.softplus(0.5 - logvar)
  return mean, -10.0 + jax.nn.softplus(logvar + 10.0)


def ensemble_dynamics(members, activation=jax.nn.silu, noise=True) -> Dynamics:
  """noise=False predicts the mean (no Gaussian sample): the row that prices the sampling."""
  def step(params, eps, obs, act, member):
    mean, logvar = gaussian_mlp(jax.tree.map(lambda x: x[member], params), obs, act,
                                activation)
    if not noise:
      return obs + mean
    return obs + mean + jnp.exp(0.5 * logvar) * eps

  def uncertainty(params, obs, act):  # MOPO: max over members of ||sigma||
    _, logvar = jax.vmap(lambda p: gaussian_mlp(p, obs, act, activation))(params)
    return jnp.max(jnp.linalg.norm(jnp.exp(0.5 * logvar), axis=-1))

  return Dynamics(step=step, uncertainty=uncertainty, num_members=members)


def reward(obs, act, next_obs):
  return next_obs[0] - 0.1 * jnp.sum(jnp.square(act))


def planner_config(**kw):
  cfg = base.get_config().planner
  return ml_collections.ConfigDict({**cfg.to_dict(), **kw})


def forward_flops(rollout_steps, hidden, layers):
  sizes = layer_sizes(hidden, layers)
  return 2 * rollout_steps * sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))


def make_floor_chain(members, rows, hidden, layers, sequential):
  """jnp.dot of exactly the MLP's shapes (members, rows, .), `sequential` dependent passes."""
  params = make_ensemble(jax.random.key(9), members, hidden, layers)
  x0 = jnp.full((members, rows, OBS_DIM + ACT_DIM), 0.1, jnp.float32)

  @jax.jit
  def run(x):
    def body(x, _):
      h = x
      for w, _b in params:
        h = jax.vmap(jnp.dot)(h, w)
      # Feed the output back so that no pass is dead code or loop-invariant.
      return x + 1e-3 * h[..., :OBS_DIM + ACT_DIM], None
    return jax.lax.scan(body, x, None, length=sequential)[0]

  return run, x0


def make_floor_square(flops):
  n = int(round((flops / 2) ** (1 / 3)))
  a = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  return jax.jit(jnp.dot), (a, a), 2 * n ** 3


def batch_rows_for(batch, common, population, particles, dyn, params):
  """M start states at once (vmap over plan, as data generation does) vs one at a time."""
  cfg = planner_config(**{**common, "population": population, "particles": particles,
                          "num_elites": min(10, population)})
  planner = make_planner(cfg, ACT_DIM, dyn, reward)
  obs_m = jax.random.normal(jax.random.key(4), (batch, OBS_DIM))
  keys_m = jax.random.split(jax.random.key(5), batch)
  lam = jnp.float32(1.0)
  plan_v = jax.jit(jax.vmap(planner.plan, in_axes=(0, 0, 0, None, None)))
  t_v = timed(plan_v, planner.init(batch_size=batch), keys_m, obs_m, params, lam, repeats=2)
  plan_1 = jax.jit(planner.plan)
  single = planner.init()

  def one_at_a_time():
    return [plan_1(single, keys_m[i], obs_m[i], params, lam) for i in range(batch)]

  t_1 = timed(one_at_a_time, repeats=1,
              warmup=lambda: plan_1(single, keys_m[0], obs_m[0], params, lam))
  return [{"case": f"M={batch} at once (vmap)", "s": t_v["s"], "s per state": t_v["s"] / batch,
           "cpu_s": t_v["cpu_s"]},
          {"case": f"M={batch} one at a time (loop of jitted plan)", "s": t_1["s"],
           "s per state": t_1["s"] / batch, "cpu_s": t_1["cpu_s"]}]


# Planner variants of the paper configs (--variants): planner overrides, the first is the
# current planner every other is timed against. "penalty_share" and "weights_dtype":
# benchmarking.VARIANT_KEYS (4 of the paper's 20 particles; bfloat16 weight matrices).
PLAN_VARIANTS = {"current": {"stepping_u": False}, "stepping_u": {"stepping_u": True},
                 "icem": {"method": "icem", "stepping_u": True},
                 "icem_half": {"method": "icem", "stepping_u": True, "population": 200,
                               "num_elites": 32},
                 "cem_q": {"stepping_u": True, "penalty_share": 0.2},
                 "icem_q": {"method": "icem", "stepping_u": True, "penalty_share": 0.2},
                 "icem_half_q": {"method": "icem", "stepping_u": True, "population": 200,
                                 "num_elites": 32, "penalty_share": 0.2},
                 # generation.plan_dtype="bfloat16": the same FLOPs on the matrix units
                 "stepping_u_bf16": {"stepping_u": True, "weights_dtype": "bfloat16"}}


def variant_rows(config_file: str, batch: int, repeats: int, small: bool) -> list[dict]:
  """Per variant: analytic model FLOPs per generated trajectory-step (budget.plan_step_flops,
  at the config's sizes), seconds per vmapped planning step of `batch` trajectories timed in
  alternation with the current planner (ratio), and the ratio to a square matmul of the same
  FLOPs (the floor). The project's world model at the config's sizes, random weights (time
  does not depend on them). `small` shrinks the planner for a CPU (FLOPs stay the config's)."""
  import importlib.util
  from wombet_jax import budget, generation
  from wombet_jax import world_model as wm_lib
  from wombet_jax.world_model import networks
  spec = importlib.util.spec_from_file_location("paper_config", config_file)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  config = mod.get_config()
  wm = wm_lib.make_world_model(OBS_DIM, ACT_DIM, config.world_model)
  params = wm.init(jax.random.key(0))
  obs = jax.random.normal(jax.random.key(4), (batch, OBS_DIM))
  keys = jax.random.split(jax.random.key(5), batch)
  lam = jnp.float32(config.planner.lambda_plan)
  steps, flops = {}, {}
  for name, over in PLAN_VARIANTS.items():
    c = config.copy_and_resolve_references()
    benchmarking.apply_planner_variant(c.planner, over)
    flops[name] = budget.plan_step_flops(c, OBS_DIM, ACT_DIM)["flops"]
    if small:
      pop = max(8, c.planner.population // 8)  # keeps the variants' population ratios
      c.planner.update(dict(horizon=8, particles=4, population=pop, num_elites=max(2, pop // 6),
                            penalty_particles=0))
      benchmarking.apply_planner_variant(c.planner, {k: v for k, v in over.items()
                                                     if k == "penalty_share"})
    planner = make_planner(c.planner, ACT_DIM, generation.model_dynamics(wm), reward)
    plan = jax.jit(jax.vmap(planner.plan, in_axes=(0, 0, 0, None, None)))
    dtype = over.get("weights_dtype", "float32")
    model = params if dtype == "float32" else params.replace(
        params=networks.cast_weights(params.params, jnp.dtype(dtype)))
    steps[name] = (plan, (planner.init(batch_size=batch), keys, obs, model, lam),
                   budget.plan_step_flops(c, OBS_DIM, ACT_DIM)["flops"])
  times = {name: [] for name in steps}
  for name, (fn, args, _) in steps.items():
    jax.block_until_ready(fn(*args))  # compile
  for _ in range(repeats):  # interleaved: every round times each variant once
    for name, (fn, args, _) in steps.items():
      t0 = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times[name].append(time.perf_counter() - t0)
  rows = []
  for name, (fn, args, timed_flops) in steps.items():
    # At most 4096^2 (a paper step's FLOPs as one square matmul would not fit memory); the
    # floor is scaled to the step's FLOPs.
    floor_fn, floor_args, floor_flops = make_floor_square(min(batch * timed_flops, 2 * 4096**3))
    jax.block_until_ready(floor_fn(*floor_args))
    t0 = time.perf_counter()
    jax.block_until_ready(floor_fn(*floor_args))
    floor_s = (time.perf_counter() - t0) * batch * timed_flops / floor_flops
    s = min(times[name])
    rows.append({"case": name, "tflop_per_generated_step": flops[name] / 1e12,
                 "flop_ratio_to_current": flops["current"] / flops[name],
                 "s_per_step": s, "time_ratio_to_current": min(times["current"]) / s,
                 "x_floor": s / floor_s})
  return rows


def main():
  parser = benchmarking.base_parser(__doc__.splitlines()[0])
  parser.add_argument("--variants", default=None, metavar="CONFIG",
                      help="instead: planner variants at this paper config's sizes (FLOPs, "
                           "time ratio to the current planner, x floor)")
  parser.add_argument("--variant-small", action="store_true",
                      help="with --variants: time a shrunk planner (FLOPs stay the config's)")
  parser.add_argument("--repeats", type=int, default=None,
                      help="timed rounds over all cases, default 5; 2 with --quick")
  parser.add_argument("--no-world-model", action="store_true",
                      help="skip the row with wombet_jax.world_model")
  parser.add_argument("--no-batch", action="store_true",
                      help="skip M start states at once vs one at a time")
  parser.add_argument("--batch", type=int, default=None,
                      help="M start states planned at once (default 256; 16 with --quick)")
  args = parser.parse_args()
  if args.variants:
    rows = variant_rows(args.variants, args.batch or (2 if args.quick else 256),
                        args.repeats or 3, args.variant_small)
    shrunk = " (timed shrunk: horizon 8, particles 4, population / 8)"
    title = (f"Planner variants at {args.variants}'s sizes: model FLOPs per generated "
             f"trajectory-step and seconds per planning step"
             f"{shrunk if args.variant_small else ''}")
    benchmarking.report(title, rows, None,
                        columns=["case", "tflop_per_generated_step", "flop_ratio_to_current",
                                 "s_per_step", "time_ratio_to_current", "x_floor"])
    if args.json:
      benchmarking.write_json(args.json, {"title": title, "rows": rows,
                                          "device": benchmarking.device_description()})
    return
  q = args.quick
  repeats = args.repeats or (2 if q else 5)
  horizon, population, iterations, particles = (10, 100, 2, 10) if q else (30, 400, 5, 20)
  members, hidden, layers = 5, 200, 4
  batch = args.batch or (16 if q else 256)
  # Smaller population and particles for M states at once: at the defaults M=256 would be
  # 256 x 8000 rollouts per step (GBs of activations and minutes per call on a CPU).
  b_population, b_particles = (10, 2) if q else (20, 2)
  common = dict(horizon=horizon, iterations=iterations, particles=particles,
                num_elites=min(64, population), alpha=0.1)
  params = make_ensemble(jax.random.key(0), members, hidden, layers)
  dyn = ensemble_dynamics(members)
  obs = jax.random.normal(jax.random.key(1), (OBS_DIM,))
  rollout_steps = population * particles * horizon * iterations
  flops = forward_flops(rollout_steps, hidden, layers)
  rows = []

  load_before = os.getloadavg()[0]
  # Every case is built first and then timed round-robin (benchmarking.time_interleaved): the
  # machine's speed drifts, and the x-floor ratios must compare like with like.
  cases, flop_mult = {}, {}
  run, x0 = make_floor_chain(members, population * particles // members, hidden, layers,
                             horizon * iterations)
  cases["floor: jnp.dot, the MLP's shapes"] = (run, (x0,))
  sq, sq_args, sq_flops = make_floor_square(flops)
  cases["floor: one square jnp.dot, same FLOPs"] = (sq, sq_args)

  def plan_case(name, dynamics, model_params, propagation, lam, mult, **overrides):
    cfg = planner_config(**{**common, "population": population, "propagation": propagation,
                            **overrides})
    planner = make_planner(cfg, ACT_DIM, dynamics, reward)
    cases[name] = (jax.jit(planner.plan), (planner.init(), jax.random.key(2), obs, model_params,
                                           jnp.float32(lam)))
    flop_mult[name] = mult

  plan_case("CEM ts_inf, lambda=0", dyn, params, "ts_inf", 0.0, 1)
  plan_case("CEM ts_inf, lambda=0, noise per rollout (common_noise=False)", dyn, params,
            "ts_inf", 0.0, 1, common_noise=False)
  plan_case("CEM ts1, lambda=0", dyn, params, "ts1", 0.0, 1)
  plan_case("MPPI ts_inf, lambda=0", dyn, params, "ts_inf", 0.0, 1, method="mppi")
  plan_case(f"CEM ts_inf, lambda=1 (u adds {members} passes)", dyn, params, "ts_inf", 1.0,
            1 + members)
  # Where the time over the floor goes: SiLU, the Gaussian sample, and what is left (bias +
  # activation as one extra memory pass per layer, reward, CEM's own work).
  plan_case("CEM ts_inf, lambda=0, ReLU MLP (without SiLU's cost)",
            ensemble_dynamics(members, jax.nn.relu), params, "ts_inf", 0.0, 1)
  plan_case("CEM ts_inf, lambda=0, mean prediction (without sampling's cost)",
            ensemble_dynamics(members, noise=False), params, "ts_inf", 0.0, 1)
  plan_case("CEM ts_inf, lambda=0, ReLU MLP, mean prediction",
            ensemble_dynamics(members, jax.nn.relu, noise=False), params, "ts_inf", 0.0, 1)
  if not args.no_world_model:
    try:
      import wombet_jax.world_model as W
    except ImportError as e:
      print(f"(world model row skipped: {e})")
    else:
      wm_cfg = base.get_config().world_model
      wm_cfg.hidden_size, wm_cfg.num_layers, wm_cfg.num_elites = hidden, layers, members
      wm = W.make_world_model(OBS_DIM, ACT_DIM, wm_cfg)
      wm_dyn = Dynamics(step=wm.next_from_noise, uncertainty=wm.uncertainty,
                        num_members=wm.num_elites)
      # next_from_noise evaluates every elite and picks one; with the planner's constant member
      # per group XLA keeps only the picked member's matmuls, so the FLOPs are one pass's.
      plan_case("world_model.next_from_noise, lambda=0", wm_dyn, wm.init(jax.random.key(3)),
                "ts_inf", 0.0, 1)

  times = benchmarking.time_interleaved(cases, repeats)
  chain = times["floor: jnp.dot, the MLP's shapes"]
  scale = flops / sq_flops  # the cube root rounds the size: rescale to exactly `flops`
  sq_t = times["floor: one square jnp.dot, same FLOPs"]
  rows.append({"case": "floor: jnp.dot, the MLP's shapes", "flops": flops, "s": chain["s"],
               "cpu_s": chain["cpu_s"], "GFLOP/s": flops / chain["s"] / 1e9, "x floor": 1.0,
               "x floor (cpu)": 1.0})
  rows.append({"case": "floor: one square jnp.dot, same FLOPs", "flops": flops,
               "s": sq_t["s"] * scale, "cpu_s": sq_t["cpu_s"] * scale,
               "GFLOP/s": flops / (sq_t["s"] * scale) / 1e9,
               "x floor": sq_t["s"] * scale / chain["s"],
               "x floor (cpu)": sq_t["cpu_s"] * scale / chain["cpu_s"]})
  for name, mult in flop_mult.items():
    t = times[name]
    rows.append({"case": name, "flops": flops * mult, "s": t["s"], "cpu_s": t["cpu_s"],
                 "GFLOP/s": flops * mult / t["s"] / 1e9, "x floor": t["s"] / (chain["s"] * mult),
                 "x floor (cpu)": t["cpu_s"] / (chain["cpu_s"] * mult),
                 "compile_s": t["first_s"]})
  if not q:
    rows.append({"case": "peer: mbrl-lib PETS CEM (measured separately, not rerun)", "flops": flops,
                 "s": PEER_S, "x floor": PEER_S / chain["s"]})

  load = (load_before, os.getloadavg()[0])
  title = (f"Planner: one planning step, H={horizon}, population {population}, {iterations} "
           f"iterations, {particles} particles, ensemble {members} x {layers}x{hidden} SiLU, "
           f"obs {OBS_DIM}, act {ACT_DIM} ({benchmarking.device_description()}, load average "
           f"{load[0]:.1f} -> {load[1]:.1f}; s: min wall seconds over rounds that time every "
           f"case in turn, cpu_s: process CPU seconds, x floor: vs the first row scaled by "
           f"FLOPs)")
  benchmarking.report(title, rows, None,
                      columns=["case", "flops", "s", "cpu_s", "GFLOP/s", "x floor",
                               "x floor (cpu)", "compile_s"])
  out = {"title": title, "device": benchmarking.device_description(), "rows": rows,
         "load_average": load,
         "settings": {"horizon": horizon, "population": population, "iterations": iterations,
                      "particles": particles, "members": members, "hidden": hidden,
                      "layers": layers, "batch": batch, "batch_population": b_population,
                      "batch_particles": b_particles, "repeats": repeats, "quick": q}}
  if not args.no_batch:
    batch_rows = batch_rows_for(batch, common, b_population, b_particles, dyn, params)
    ratio = batch_rows[1]["s"] / batch_rows[0]["s"]
    cpu_ratio = batch_rows[1]["cpu_s"] / batch_rows[0]["cpu_s"]
    b_title = (f"M={batch} start states, lambda_plan=1, population {b_population} (not "
               f"{population}: M x {population} x {particles} rollouts would not fit time and "
               f"memory), {b_particles} particles, H={horizon}, {iterations} iterations; one at "
               f"a time / at once = {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU")
    benchmarking.report(b_title, batch_rows, None, columns=["case", "s", "s per state", "cpu_s"])
    out.update(batch_title=b_title, batch_rows=batch_rows, batch_ratio=ratio,
               batch_cpu_ratio=cpu_ratio)
  if args.json:
    benchmarking.write_json(args.json, out)


if __name__ == "__main__":
  main()
