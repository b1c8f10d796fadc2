"""Protocol B: planner variants compared on one frozen world model (the decisive check).

A world model is trained by the source phase of a config (PETS episodes and fits, exactly as a
WOMBET run's first phase), saved with orbax under --model_dir, and reused frozen. From the
same --starts source start states and the same keys, every variant x budget generates
trajectories of --steps steps in the model (`generation.generate`, lambda_plan of the config);
their actions are replayed in the real source env from the same states
(`harness.lower_bound.replay`). Per trajectory: penalised model return (discounted, eq. 4),
true-env return of the replayed actions, U(tau) and R_S(tau) (the filter's aggregates), and the
dual filter's accept decision with thresholds fixed once from the reference run (the config's
quantiles of the reference CEM batch, so every variant faces the same bar). Per start state,
the objective of the first plan under a high-precision evaluation (--precise_particles
particles, u always on, averaged over 4 evaluation keys).

The reference is the config's planner (CEM) run with --planner_keys keys: the key-to-key
spread (the largest mean paired difference between key 0 and another key) is the noise
floor. A variant is "equal" on a metric when its mean paired difference to reference key 0
(same start states, same generation key) is within that spread.

  python experiments/benchmarks/frozen_model.py --config=experiments/configs/halfcheetah.py \\
      --model_dir=/tmp/hc_model --starts=16 --steps=20 --json=out.json
  python experiments/benchmarks/frozen_model.py --config=experiments/configs/smoke.py --small

CPU size: a model trained by a CPU config's source phase (its own, cheaper planner), then the
variants at the paper planner (--plan_config: only its planner section is used), with every
finished run kept in --runs so an interrupted protocol resumes where it stopped:

  python experiments/benchmarks/frozen_model.py --config=experiments/configs/cpu/halfcheetah.py \
      --plan_config=experiments/configs/halfcheetah.py --model_dir=/tmp/hc_cpu_model \
      --runs=/tmp/hc_runs.jsonl --starts=8 --steps=10 --json=out.json
"""
import os
import time

from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (+ overrides).")
_PLAN_CONFIG = config_flags.DEFINE_config_file(
    "plan_config", None, "The variants plan with this config's planner section (default: "
    "--config's); the model is trained by --config's source phase either way.")
_RUNS = flags.DEFINE_string("runs", None, "JSON-lines file of finished runs: read to resume, "
                            "appended after each run.")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Frozen model (trained and saved if absent).")
_STARTS = flags.DEFINE_integer("starts", 16, "Source start states.")
_STEPS = flags.DEFINE_integer("steps", 20, "Generated steps per trajectory.")
_POPULATIONS = flags.DEFINE_list("populations", None, "Budgets (default: config's, /2, /4).")
_VARIANTS = flags.DEFINE_list("variants", ["cem", "cem_stepping_u", "icem", "cem_q", "icem_q"],
                              "Variants.")
_KEYS = flags.DEFINE_integer("planner_keys", 3, "Keys of the reference (spread).")
_PRECISE = flags.DEFINE_integer("precise_particles", 200, "Particles of the precise objective.")
_SMALL = flags.DEFINE_bool("small", False, "Tiny sizes: checks that the script runs.")
_JSON = flags.DEFINE_string("json", None, "Write the results here.")

# planner overrides per variant; "icem" plans with u from the stepping pass too. "penalty_share":
# benchmarking.VARIANT_KEYS (the penalty on 4 of the paper's 20 particles).
VARIANTS = {"cem": {"stepping_u": False}, "cem_stepping_u": {"stepping_u": True},
            "icem": {"method": "icem", "stepping_u": True},
            "cem_q": {"stepping_u": True, "penalty_share": 0.2},
            "icem_q": {"method": "icem", "stepping_u": True, "penalty_share": 0.2}}


METRICS = ("penalised_model_return", "true_return", "traj_unc", "traj_return", "accept",
           "precise_objective")


def shrink(c):
  """--small: a tiny run of the whole protocol (minutes on a CPU)."""
  c.episode_length = 20
  c.pets.random_episodes, c.pets.mpc_episodes = 1, 1
  c.world_model.update(dict(hidden_size=16, num_layers=2, max_epochs=2, ensemble_size=3,
                            num_elites=2))
  c.planner.update(dict(horizon=4, population=16, iterations=2, num_elites=4, particles=2))


def make_variant(pipe, model, planner_cfg, obs0, env0, steps, precise):
  """key -> per-trajectory metrics of one planner on the frozen model (a dict of (starts,)
  arrays); compiled once per planner, whatever the key."""
  import jax
  import jax.numpy as jnp

  from wombet_jax import filtering, generation
  from wombet_jax.harness import lower_bound
  c, pair, wm = pipe.config, pipe.pair, pipe.wm
  cfg = c.copy_and_resolve_references()
  cfg.planner = planner_cfg
  planner = generation.make_model_planner(cfg, pair, wm, pair.source.reward_fn)
  lam, disc = jnp.float32(planner_cfg.lambda_plan), float(planner_cfg.discount)
  n = obs0.shape[0]

  @jax.jit
  def go(key):
    ro = generation.generate(pair, wm, planner, n, steps, key, model, lam, obs0=obs0)
    rep = lower_bound.replay(pair.source, env0, ro.action, ro.valid)
    d = lower_bound.evaluate(ro, rep, disc)
    traj_unc = filtering.trajectory_uncertainty(ro.uncertainty, c.filter.aggregate,
                                                valid=ro.valid)
    traj_ret = filtering.trajectory_return(ro.source_reward, valid=ro.valid)
    # The first plan from each start state, evaluated with many particles and full u.
    acts, states, _ = jax.vmap(planner.plan, in_axes=(None, 0, 0, None, None))(
        planner.init(), jax.random.split(jax.random.fold_in(key, 1), n), obs0, model, lam)
    seqs = jnp.concatenate([acts[:, None], states.mean[:, :-1]], axis=1)
    obj = jax.vmap(lambda o, s, k: jnp.mean(jax.vmap(
        lambda kk: precise.evaluate(model, kk, o, s[None], lam)["objective"][0])(
            jax.random.split(k, 4))))(obs0, seqs, jax.random.split(jax.random.fold_in(key, 2), n))
    return {"penalised_model_return": d.model_return - lam * d.model_penalty,
            "true_return": d.true_return, "traj_unc": traj_unc, "traj_return": traj_ret,
            "precise_objective": obj}

  return lambda key: jax.device_get(go(key))


def variant_planner(reference, name, population):
  """The reference planner config with variant `name`'s overrides at `population`; a smaller
  budget keeps the elite fraction."""
  from wombet_jax.harness import benchmarking
  cfg = reference.copy_and_resolve_references()
  benchmarking.apply_planner_variant(cfg, VARIANTS[name])
  cfg.population = population
  if population < reference.population:
    cfg.num_elites = max(2, round(reference.num_elites * population / reference.population))
  return cfg


def read_runs(path, env, starts, steps):
  """Finished runs of an interrupted protocol: the file's records and {(name, population, key
  index): metrics}."""
  import numpy as np

  from wombet_jax.harness import results
  records = results.read_jsonl(path) if os.path.exists(path) else []
  for r in records:
    if (r.get("env"), r["starts"], r["steps"]) != (env, starts, steps):
      raise SystemExit(f"--runs {path} holds runs of {r.get('env')} at {r['starts']} starts "
                       f"x {r['steps']} steps, not {env} at {starts} x {steps}: use another "
                       "file")
  return records, {(r["name"], r["population"], r["key"]):
                   {m: (np.asarray(v) if isinstance(v, list) else v) for m, v in r["out"].items()}
                   for r in records}


def main(argv):
  del argv
  import jax
  import jax.numpy as jnp
  import numpy as np

  from wombet_jax import budget, generation, loop
  from wombet_jax.harness import config as config_lib
  from wombet_jax.harness import benchmarking, lower_bound, results
  from wombet_jax.planner import make_planner
  from wombet_jax.world_model import checkpoint
  t_start = time.time()
  for name in _VARIANTS.value:  # before hours of source training
    if name not in VARIANTS:
      raise SystemExit(f"--variants contains {name!r}: must be among {sorted(VARIANTS)}")
  c = _CONFIG.value
  starts, steps = _STARTS.value, _STEPS.value
  if _SMALL.value:
    shrink(c)
    starts, steps = min(starts, 3), min(steps, 3)
  c.num_seeds = 1
  config_lib.validate(c)
  plan_c = _PLAN_CONFIG.value
  if plan_c is not None:  # checked before hours of source training
    plan_c.num_seeds = 1
    if _SMALL.value:
      shrink(plan_c)
    config_lib.validate(plan_c)
    if plan_c.env != c.env:
      raise SystemExit(f"--plan_config is for env {plan_c.env!r}, --config for {c.env!r}: "
                       "they must be the same env")
  records, done = read_runs(_RUNS.value, c.env, starts, steps) if _RUNS.value else ([], {})
  pipe = loop.make_pipeline(c)
  log = lambda msg: print(f"[frozen_model {c.env}] {msg}", flush=True)
  states = pipe.init(jax.vmap(jax.random.PRNGKey)(jnp.asarray([c.seed], jnp.uint32)))
  model_dir = _MODEL_DIR.value
  if model_dir and os.path.isdir(model_dir):
    model = checkpoint.restore(model_dir, jax.tree_util.tree_map(lambda x: x[0], states.model))
    log(f"restored the frozen model from {model_dir}")
  else:
    states = lower_bound.train_source_model(pipe, states, log)
    model = jax.tree_util.tree_map(lambda x: x[0], states.model)
    if model_dir:
      checkpoint.save(model_dir, model)
      log(f"saved the frozen model to {model_dir}")
  if plan_c is not None:  # the source phase is over: every run below plans with this planner
    c.planner = plan_c.planner.copy_and_resolve_references()
    config_lib.validate(c)
  pair = pipe.pair
  key = jax.random.PRNGKey(c.seed + 1000)
  env0 = lower_bound.start_states(pair, key, starts)
  pops = ([int(p) for p in _POPULATIONS.value] if _POPULATIONS.value
          else [c.planner.population, c.planner.population // 2, c.planner.population // 4])
  precise_cfg = c.planner.copy_and_resolve_references()
  precise_cfg.particles, precise_cfg.penalty_particles = _PRECISE.value, 0  # every u
  precise = make_planner(precise_cfg, pair.act_dim, generation.model_dynamics(pipe.wm),
                         pair.source.reward_fn, termination_fn=pair.source.termination_fn)
  runs, planners = {}, {}  # per run: its metrics and its planner config
  ref_keys = jax.random.split(jax.random.PRNGKey(c.seed + 2000), _KEYS.value)
  reference = make_variant(pipe, model, c.planner, env0.obs, env0, steps, precise)
  def run(tag, planner_cfg, fn, k):
    planners[tag] = planner_cfg
    if tag in done:
      runs[tag] = done[tag]
      log(f"{tag[0]} population {tag[1]} key {tag[2]}: read from {_RUNS.value}")
      return
    t0 = time.time()
    out = fn(k)
    out["seconds"] = time.time() - t0
    runs[tag] = out
    log(f"{tag[0]} population {tag[1]} key {tag[2]}: {out['seconds']:.0f} s")
    if _RUNS.value:  # the whole file rewritten atomically: a kill never leaves half a line
      records.append({"name": tag[0], "population": tag[1], "key": tag[2], "env": c.env,
                      "starts": starts, "steps": steps, "out": out})
      results.write_jsonl(_RUNS.value, records)

  for i, k in enumerate(ref_keys):  # the reference: the config's planner, several keys
    run(("reference", c.planner.population, i), c.planner, reference, k)
  for name in _VARIANTS.value:
    for pop in pops:
      cfg = variant_planner(c.planner, name, pop)
      if cfg == c.planner:  # the reference's own planner and key: the same run, not redone
        log(f"{name} population {pop} is the reference's planner: key 0 stands for it")
        continue
      run((name, pop, 0), cfg, make_variant(pipe, model, cfg, env0.obs, env0, steps, precise),
          ref_keys[0])
  # Filter thresholds fixed from the reference key 0 batch (the config's quantiles).
  ref0 = runs[("reference", c.planner.population, 0)]
  fc = c.filter
  eps_u, eps_r = fc.eps_u, fc.eps_r
  if fc.threshold_mode == "quantile":
    eps_u = float(np.quantile(ref0["traj_unc"], fc.eps_u))
    eps_r = float(np.quantile(ref0["traj_return"], fc.eps_r))
  for out in runs.values():
    out["accept"] = ((out["traj_unc"] <= eps_u) & (out["traj_return"] >= eps_r)).astype(float)
  refs = [runs[("reference", c.planner.population, i)] for i in range(_KEYS.value)]
  # The noise floor: the largest mean paired difference between reference key 0 and another
  # key of the same planner (a reference key is "equal" to key 0 by construction).
  spread = {m: max([float(abs(np.mean(r[m] - refs[0][m]))) for r in refs[1:]] + [0.0])
            for m in METRICS}
  obs_dim, act_dim = pair.obs_dim, pair.act_dim
  rows, table = [], []

  def flops(planner_cfg):  # model TFLOP per generated trajectory-step of this planner
    full = c.copy_and_resolve_references()
    full.planner = planner_cfg
    return budget.plan_step_flops(full, obs_dim, act_dim)["flops"] / 1e12

  ref_tflop = flops(c.planner)
  for (name, pop, i), out in runs.items():
    variant = name if name != "reference" else f"reference key {i}"
    tflop = flops(planners[(name, pop, i)])
    row = {"variant": variant, "population": pop, "seconds": out.get("seconds"),
           "tflop_per_step": tflop, "flops_vs_reference": ref_tflop / tflop}
    cells = {"variant": variant, "population": pop,
             "FLOPs / reference": f"1/{ref_tflop / tflop:.2f}"}
    for m in METRICS:
      diff = float(np.mean(out[m] - ref0[m]))
      row[m] = float(np.mean(out[m]))
      row[m + "_diff"] = diff
      row[m + "_equal"] = bool(abs(diff) <= spread[m])
      cells[m] = (f"{row[m]:.3f}" if (name, i) == ("reference", 0) else
                  f"{row[m]:.3f} ({diff:+.3f}{'' if row[m + '_equal'] else ' !'})")
    row["equal"] = all(row[m + "_equal"] for m in METRICS)
    cells["equal on all"] = "yes" if row["equal"] else "no"
    rows.append(row)
    table.append(cells)
  table.append({"variant": "key-to-key spread",
                **{m: f"{spread[m]:.3f}" for m in METRICS}})
  text = benchmarking.markdown_table(table)
  note = (f"'!': paired difference to reference key 0 larger than the key-to-key spread (not "
          f"equal). {starts} start states x {steps} steps; dual-filter thresholds eps_u="
          f"{eps_u:.4g}, eps_r={eps_r:.4g} (the config's quantiles of reference key 0)")
  print(text + "\n\n" + note + f"; wall {time.time() - t_start:.0f} s")
  if _JSON.value:
    p = c.planner
    title = (f"Protocol B on {c.env}: {starts} start states x {steps} generated steps, planner "
             f"H={p.horizon}, population {p.population}, {p.iterations} iterations, "
             f"{p.particles} particles, {p.num_elites} elites; model {c.world_model.num_elites}"
             f" elites of {c.world_model.num_layers} x {c.world_model.hidden_size}; "
             f"precise objective: {_PRECISE.value} particles x 4 keys")
    benchmarking.write_json(_JSON.value, {
        "title": title, "device": benchmarking.device_description(), "env": c.env,
        "starts": starts, "steps": steps, "spread": spread, "rows": rows, "table": table,
        "note": note, "eps_u": eps_u, "eps_r": eps_r, "wall_s": time.time() - t_start,
        "run_seconds": float(sum(o.get("seconds") or 0.0 for o in runs.values()))})

if __name__ == "__main__":
  app.run(main)
