"""One command per paper figure: runs what is missing, then draws it.

  python experiments/figures.py --figure=5 --scale=cpu                 # one env, 2-core CPU
  python experiments/figures.py --figure=2 --scale=paper --env=hopper,walker2d
  python experiments/figures.py --figure=6 --draw_only                 # redraw from disk

Figures: 2 vs online RL (SAC, TD3, PPO), 3 vs offline RL (BC, IQL, CQL, MOPO, COMBO),
4 vs offline-to-online (IQL->online, Cal-QL, RLPD, AWAC), 5 adaptive vs fixed beta,
6 filter ablation. `--scale=cpu` uses experiments/configs/default.py (sized for 2 cores) with
the env replaced; `--scale=paper` uses experiments/configs/<env>.py (an accelerator's budget).
Runs go to --workdir keyed by their full config, so finished runs are reused across figures
and an interrupted figure resumes where it stopped. Writes <out>/figure<N>.png (one panel per
env, mean +- std over seeds), <out>/table.md, <out>/runs.json (means
and stds) and <out>/per_seed.json (every evaluation of every seed).
"""
import functools
import importlib
import os
import time

from absl import app, flags

from wombet_jax.harness import cli, provenance
from wombet_jax.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_FIGURE = flags.DEFINE_integer("figure", None, "Paper figure number, 2..6.", required=True)
_SCALE = flags.DEFINE_enum("scale", "cpu", ["cpu", "paper"], "Budget: 2-core CPU or paper.")
_ENV = flags.DEFINE_string("env", None, "Comma-separated task pairs (default: "
                           "inverted_double_pendulum for cpu, the six MJX pairs for paper).")
_SEEDS = flags.DEFINE_integer("num_seeds", 0, "Seeds per variant (0: the config's).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where runs live (default /tmp/wombet_figures/"
                               "<scale>).")
_OUT = flags.DEFINE_string("out", None, "Output folder (default experiments/results/figure<N>).")
_DRAW_ONLY = flags.DEFINE_bool("draw_only", False, "Draw from finished runs; run nothing.")


def paper_envs() -> tuple[str, ...]:
  """The pairs with a paper-scale config (the pair registry's list)."""
  from wombet_jax.envs import registry
  return registry.paper_names()


def base_config(scale: str, env: str):
  from wombet_jax.envs import registry
  if env not in registry.names():
    raise UserError(f"--env contains {env!r}; known pairs: {', '.join(registry.names())}")
  name = "default" if scale == "cpu" else env
  if scale == "paper" and env not in paper_envs():
    raise UserError(f"--scale=paper has configs for {', '.join(paper_envs())}, not {env!r}")
  c = importlib.import_module(f"wombet_jax.configs.{name}").get_config()
  c.env, c.compare = env, ""
  if _SEEDS.value:
    c.num_seeds = _SEEDS.value
  return c


@cli.one_line_errors("figures.py")
def main(argv):
  del argv
  from absl import logging as absl_logging

  from wombet_jax.harness import config as config_lib
  from wombet_jax.harness.reference import REFERENCE_SCORES
  from wombet_jax.harness import figures, results, runner
  absl_logging.set_verbosity(absl_logging.WARNING)
  fig = figures.get_figure(_FIGURE.value)
  scale = _SCALE.value
  envs = ([e.strip() for e in _ENV.value.split(",") if e.strip()] if _ENV.value
          else (["inverted_double_pendulum"] if scale == "cpu" else list(paper_envs())))
  workdir = _WORKDIR.value or os.path.join("/tmp/wombet_figures", scale)
  out = _OUT.value or os.path.join(ROOT, "experiments", "results", f"figure{fig.number}")
  configs = {env: {v.label: figures.apply_overrides(base_config(scale, env), v.overrides)
                   for v in fig.variants} for env in envs}
  for by_label in configs.values():  # every bad value fails before anything compiles
    for c in by_label.values():
      config_lib.validate(c)

  t0 = time.time()
  todo = [(env, label, c) for env, by_label in configs.items() for label, c in by_label.items()]
  for i, (env, label, c) in enumerate(todo):
    wd = figures.run_dir(workdir, c)
    print(f"[figure {fig.number}] {i + 1}/{len(todo)} {env}: {label} -> {wd}", flush=True)
    if _DRAW_ONLY.value:
      if not os.path.exists(os.path.join(wd, "metrics.jsonl")):
        raise UserError(f"--draw_only: no run for {env}/{label!r} in {wd}; run the "
                        "figure without --draw_only first")
      continue
    figures.ensure_run(c, wd,
                       run_fn=functools.partial(runner.run, reference_table=REFERENCE_SCORES))

  panels, units = figures.collect(fig, configs, workdir, REFERENCE_SCORES)
  os.makedirs(out, exist_ok=True)
  png = figures.draw(fig, panels, units, os.path.join(out, f"figure{fig.number}.png"))
  # --draw_only redraws exactly what the full command draws: record the full command.
  command = provenance.command(drop=("--draw_only", "--draw_only=true", "--draw_only=True"))
  table = figures.markdown_table(fig, panels, units)
  table += (f"\nProduced by `{command}` (scale {scale}); reference scores from "
            "wombet_jax/harness/reference_scores.json where the unit is normalised return.\n")
  results.atomic_write_bytes(os.path.join(out, "table.md"), table.encode())
  results.atomic_write_json(os.path.join(out, "runs.json"), {
      "figure": fig.number, "title": fig.title, "scale": scale, "command": command,
      "runs": {env: {label: {"dir": figures.run_dir(workdir, configs[env][label]),
                             "config_hash": figures.config_hash(configs[env][label]),
                             "overrides": dict(v.overrides), "unit": units[env],
                             **figures.final_stats(panels[env][label])}
                     for v in fig.variants for label in [v.label]}
               for env in envs}})
  results.atomic_write_json(os.path.join(out, "per_seed.json"), {
      "figure": fig.number, "command": command, "unit": units,
      "evaluations": figures.per_seed_evaluations(panels)})
  print(table)
  print(f"[figure {fig.number}] wrote {png} and {out}/table.md in {time.time() - t0:.0f} s")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
