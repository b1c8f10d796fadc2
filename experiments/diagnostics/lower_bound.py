"""Lower-bound diagnostic (eqs. 4-5): penalised model return vs the true return.

  python experiments/diagnostics/lower_bound.py             # default config: IDP on MJX
  python experiments/diagnostics/lower_bound.py --lambdas=0,1,5 --num_trajectories=32 --horizon=30

Trains the world model on the source task as a WOMBET run does (PETS: random then MPC episodes,
a fit after each; the run's own jitted pieces), then for each lambda generates trajectories by
MPC inside the model with lambda_plan = lambda, replays their actions in the real source env
from the same start states and reports the fraction with penalised model return <= true
return. The start states and model samples are the same for every lambda (one key), so the
rows differ only by lambda. Writes lower_bound.json, lower_bound.md and lower_bound.png
into --out (the table: wombet_jax.harness.tables.lower_bound_markdown).
"""
import os
import time

from absl import app, flags
from ml_collections import config_flags

from wombet_jax.configs import CONFIGS
from wombet_jax.errors import UserError
from wombet_jax.harness import cli, provenance, tables


_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(CONFIGS, "default.py"), "ml_collections config file.")
_LAMBDAS = flags.DEFINE_list("lambdas", ["0", "0.5", "1", "2", "5"],
                             "lambda_plan values (planning and penalty weight).")
_NUM = flags.DEFINE_integer("num_trajectories", None,
                            "M per seed (default: config.generation.num_trajectories).")
_HORIZON = flags.DEFINE_integer("horizon", None,
                                "H per trajectory (default: config.generation.horizon).")
_OUT = flags.DEFINE_string("out", "experiments/results/lower_bound", "Output directory.")


def plot(rows, cross, lambdas, path, title):
  import matplotlib.pyplot as plt

  from wombet_jax.harness import plotting
  fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
  ax0.plot(lambdas, [r["fraction_bound_holds"] for r in rows], "o-", lw=2,
           label="planned and penalised with lambda")
  ax0.plot(lambdas, cross[0], "s--", label=f"planned with {lambdas[0]:g}, penalised with lambda")
  ax0.plot(lambdas, [r["fraction_bound_holds_full_window"] for r in rows], "^:",
           label="planned and penalised with lambda, real env alive all window")
  ax0.set_xlabel("lambda_plan")
  ax0.set_ylabel("fraction: penalised model return <= true")
  ax0.set_ylim(-0.02, 1.02)
  ax0.legend(frameon=False, fontsize=8)
  for key, label in (("mean_model_return", "model"), ("mean_penalised_return", "penalised model"),
                     ("mean_true_return", "true (replayed)")):
    ax1.plot(lambdas, [r[key] for r in rows], "o-", label=label)
  ax1.set_xlabel("lambda_plan")
  ax1.set_ylabel("mean discounted return")
  ax1.legend(frameon=False, fontsize=8)
  for ax in (ax0, ax1):
    ax.grid(alpha=0.3)
  fig.suptitle(title)
  fig.tight_layout()
  plotting.save(fig, path)


@cli.one_line_errors("lower_bound.py")
def main(argv):
  del argv
  import jax
  import jax.numpy as jnp
  import numpy as np

  from wombet_jax.harness import config as config_lib
  from wombet_jax import generation, loop
  from wombet_jax.harness import lower_bound, results

  t_start = time.time()
  config = _CONFIG.value
  config_lib.validate(config)
  lambdas = [float(x) for x in _LAMBDAS.value]
  if not lambdas or any(not np.isfinite(x) or x < 0 for x in lambdas):
    raise UserError(f"--lambdas must be finite numbers >= 0, got {_LAMBDAS.value}")
  pipe = loop.make_pipeline(config)
  c, pair = pipe.config, pipe.pair
  m = _NUM.value or c.generation.num_trajectories
  h = _HORIZON.value or c.generation.horizon
  seeds = [c.seed + i for i in range(c.num_seeds)]
  log = lambda msg: print(f"[lower_bound {c.env}] {msg}", flush=True)

  states = pipe.init(jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds, jnp.uint32)))
  states = lower_bound.train_source_model(pipe, states, log)

  planner = generation.make_model_planner(c, pair, pipe.wm, pair.source.reward_fn)
  discount = float(c.planner.discount)
  diag = jax.jit(jax.vmap(
      lambda model, key, lam: lower_bound.diagnose(pair, pipe.wm, planner, m, h, key, model, lam,
                                                   discount), in_axes=(0, 0, None)))
  # One key per seed, the same for every lambda: same start states and model noise.
  keys = jax.vmap(lambda k: jax.random.fold_in(k, 8))(states.key)
  rows, cross, per_traj = [], [], []
  for lam in lambdas:
    t0 = time.time()
    d = jax.device_get(diag(states.model, keys, jnp.float32(lam)))
    row = {k: float(v) for k, v in jax.device_get(lower_bound.summarize(d, lam)).items()}
    row["num_trajectories"] = int(row["num_trajectories"])
    row["lambda_plan"] = lam
    rows.append(row)
    cross.append([float(lower_bound.summarize(d, e)["fraction_bound_holds"]) for e in lambdas])
    per_traj.append({"model_return": d.model_return, "model_penalty": d.model_penalty,
                     "true_return": d.true_return, "mean_u": d.mean_u,
                     "model_steps": d.model_steps, "true_steps": d.true_steps})
    log(f"lambda {lam:g}: bound holds for {row['fraction_bound_holds']:.3f}, model "
        f"{row['mean_model_return']:.2f}, penalised {row['mean_penalised_return']:.2f}, true "
        f"{row['mean_true_return']:.2f}, u {row['mean_u']:.4f} ({time.time() - t0:.1f} s)")

  out = _OUT.value
  meta = {
      "env": c.env,
      "config_file": os.path.relpath(config_flags.get_config_filename(flags.FLAGS["config"])),
      "command": provenance.command(),
      "seeds": seeds, "num_trajectories_per_seed": m, "horizon": h, "discount": discount,
      "uncertainty": c.world_model.uncertainty,
      "source_env_steps": int(np.asarray(jax.device_get(states.source_steps))[0]),
      "pets": f"{c.pets.random_episodes} random + {c.pets.mpc_episodes} MPC episodes of "
              f"{pipe.episode_length} steps",
      "wall_s": provenance.seconds_since(t_start, ndigits=None)}
  results.atomic_write_json(os.path.join(out, "lower_bound.json"), {
      "meta": meta, "lambdas": lambdas, "rows": rows,
      "fraction_planned_x_penalised": cross,
      "per_trajectory": per_traj, "config": c.to_dict()})
  results.atomic_write_bytes(os.path.join(out, "lower_bound.md"),
                             tables.lower_bound_markdown(rows, cross, lambdas, meta).encode())
  plot(rows, cross, lambdas, os.path.join(out, "lower_bound.png"),
       f"{c.env}: penalised model return vs true return ({len(seeds)} seeds x {m})")
  log(f"wrote {out}/lower_bound.{{json,md,png}} in {meta['wall_s']:.0f} s")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
