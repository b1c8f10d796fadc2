"""How good is the source phase of a run? PETS source return per episode against a random
policy and against SAC trained on the source task with as many source steps.

  python experiments/diagnostics/source_phase.py --workdir=experiments/results/halfcheetah_cpu

Reads the WOMBET run's metrics.jsonl (its "source" rows: one per source episode and seed) and
config.json (which episodes were random), and the reference table's "<pair>:source/<length>"
entry, made by

  python experiments/reference_scores.py --envs=<pair>:source --reference_steps=<source steps>

whose R_random is the uniform-random policy on the source task and whose final value is SAC's
return on the source task after that many source steps (the yardstick at equal source steps).
Writes <workdir>/source_phase.{md,json,png} (the table: wombet_jax.harness.tables).
"""
import json
import os

from absl import app, flags

from wombet_jax.harness import cli, tables
from wombet_jax.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None, "A WOMBET run directory.", required=True)
_TABLE = flags.DEFINE_string("table", None, "Reference table (default: the committed one).")


def plot(s: dict, path: str, title: str) -> None:
  from wombet_jax.harness import plotting
  plt = plotting.plt
  fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
  ep = [e["episode"] for e in s["episodes"]]
  colors = ["#7f7f7f" if e["phase"] == "random" else "#d62728" for e in s["episodes"]]
  ax.bar(ep, [e["mean"] for e in s["episodes"]], yerr=[e["std"] for e in s["episodes"]],
         color=colors, alpha=0.8, label="PETS episode (grey: random, red: MPC)")
  if "random" in s:
    ax.axhline(s["random"], color="#000000", ls=":", label="uniform random")
    ax.axhline(s["sac_source"]["final"], color=plotting.COLORS["sac"], ls="--",
               label=f"SAC after {s['sac_source']['steps']} source steps")
  ax.set_xlabel("source episode")
  ax.set_ylabel("source return")
  ax.set_title(title)
  ax.legend(frameon=False, fontsize=8)
  ax.grid(alpha=0.3, axis="y")
  fig.tight_layout()
  plotting.save(fig, path)


@cli.one_line_errors("source_phase.py")
def main(argv):
  del argv
  from wombet_jax.harness.reference import REFERENCE_SCORES
  from wombet_jax.harness import reference, results
  wd = _WORKDIR.value
  for f in ("metrics.jsonl", "config.json"):
    if not os.path.exists(os.path.join(wd, f)):
      raise UserError(f"--workdir={wd!r} holds no {f}: not a finished run directory")
  with open(os.path.join(wd, "config.json")) as f:
    config = json.load(f)
  rows = results.read_jsonl(os.path.join(wd, "metrics.jsonl"))
  episodes = tables.source_episodes(rows, config["pets"]["random_episodes"])
  if not episodes:
    raise UserError(f"--workdir={wd!r}: metrics.jsonl has no source episodes (algo "
                    f"{config['algo']!r} has no source phase)")
  ep_len = episodes[0]["source_env_steps"]
  yard = reference.lookup(f"{config['env']}:source", ep_len, _TABLE.value or REFERENCE_SCORES)
  s = tables.source_phase_summary(episodes, yard)
  results.atomic_write_json(os.path.join(wd, "source_phase.json"), s)
  table = tables.source_phase_table(s)
  results.atomic_write_bytes(os.path.join(wd, "source_phase.md"), table.encode())
  plot(s, os.path.join(wd, "source_phase.png"), f"{config['env']}: PETS source phase")
  print(table, end="")
  if yard is None:
    print(f"(no reference entry {config['env']}:source/{ep_len}: yardsticks left out)")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
