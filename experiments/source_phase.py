"""How good is the source phase of a run? PETS source return per episode against a random
policy and against SAC trained on the source task with as many source steps.

  python experiments/source_phase.py --workdir=experiments/results/halfcheetah_cpu

Reads the WOMBET run's metrics.jsonl (its "source" rows: one per source episode and seed) and
config.json (which episodes were random), and the reference table's "<pair>:source/<length>"
entry, made by

  python experiments/reference_scores.py --envs=<pair>:source --reference_steps=<source steps>

whose R_random is the uniform-random policy on the source task and whose final value is SAC's
return on the source task after that many source steps (the yardstick at equal source steps).
Writes <workdir>/source_phase.{md,json,png}.
"""
import json
import os

from absl import app, flags

from wombet_jax.harness import cli
from wombet_jax.errors import UserError

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Only when run as a script: importing the module's functions defines no absl flags."""
  flags.DEFINE_string("workdir", None, "A WOMBET run directory.", required=True)
  flags.DEFINE_string("table", None, "Reference table (default: the committed one).")


def source_episodes(rows, random_episodes: int) -> list[dict]:
  """Per source episode (in order): phase, source steps after it, per-seed returns."""
  from wombet_jax.harness import results
  by_steps = results.by_step_and_seed(rows, "return", phase="source",
                                      step_key="source_env_steps")
  return [{"episode": i + 1, "phase": "random" if i < random_episodes else "MPC",
           "source_env_steps": steps, "returns": by_steps[steps]}
          for i, steps in enumerate(sorted(by_steps))]


def summary(episodes: list[dict], yardstick: dict | None) -> dict:
  import numpy as np
  out = {"episodes": []}
  for e in episodes:
    v = np.array(list(e["returns"].values()))
    out["episodes"].append(dict(e, mean=float(v.mean()), std=float(v.std()), n=len(v)))
  if yardstick is not None:
    out["random"] = yardstick["random"]
    out["sac_source"] = {"final": yardstick["reference_final"],
                         "final_std": yardstick["reference_final_std"],
                         "best": yardstick["reference"],
                         "steps": yardstick["reference_steps"],
                         "seeds": yardstick["reference_seeds"],
                         "command": yardstick["command"]}
  return out


def table(s: dict) -> str:
  lines = ["| source episode | policy | source steps after it | source return (mean ± std over "
           "seeds) |", "| ---: | --- | ---: | ---: |"]
  for e in s["episodes"]:
    lines.append(f"| {e['episode']} | {e['phase']} | {e['source_env_steps']} | "
                 f"{e['mean']:.1f} ± {e['std']:.1f} (n={e['n']}) |")
  if "random" in s:
    y = s["sac_source"]
    lines += ["", f"Yardsticks on the source task: uniform-random policy {s['random']:.1f}; SAC "
              f"after {y['steps']} source steps {y['final']:.1f} ± {y['final_std']:.1f} "
              f"({y['seeds']} seeds; best evaluation {y['best']:.1f}); `{y['command']}`."]
  return "\n".join(lines) + "\n"


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
  wd = FLAGS.workdir
  for f in ("metrics.jsonl", "config.json"):
    if not os.path.exists(os.path.join(wd, f)):
      raise UserError(f"--workdir={wd!r} holds no {f}: not a finished run directory")
  with open(os.path.join(wd, "config.json")) as f:
    config = json.load(f)
  rows = results.read_jsonl(os.path.join(wd, "metrics.jsonl"))
  episodes = source_episodes(rows, config["pets"]["random_episodes"])
  if not episodes:
    raise UserError(f"--workdir={wd!r}: metrics.jsonl has no source episodes (algo "
                    f"{config['algo']!r} has no source phase)")
  ep_len = episodes[0]["source_env_steps"]
  yard = reference.lookup(f"{config['env']}:source", ep_len, FLAGS.table or REFERENCE_SCORES)
  s = summary(episodes, yard)
  results.atomic_write_json(os.path.join(wd, "source_phase.json"), s)
  results.atomic_write_bytes(os.path.join(wd, "source_phase.md"), table(s).encode())
  plot(s, os.path.join(wd, "source_phase.png"), f"{config['env']}: PETS source phase")
  print(table(s), end="")
  if yard is None:
    print(f"(no reference entry {config['env']}:source/{ep_len}: yardsticks left out)")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
