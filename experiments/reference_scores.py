"""R_random and R_reference per target task: the table every normalised return uses.

  python experiments/reference_scores.py                                   # IDP, CPU budget
  python experiments/reference_scores.py --scale=paper --envs=hopper --reference_steps=1000000
  python experiments/reference_scores.py --envs=reacher --episode_length=50   # CPU budget

R_random: a uniform-random policy on the target task, mean over --random_episodes batched
episodes. R_reference: a long SAC run on the target (the config's SAC, --reference_steps env
steps, --num_seeds vmapped seeds); its score is the best point of the mean-over-seeds learning
curve (the final point is recorded too). Both depend on the episode length, which is part of
each entry's key. Entries are merged into wombet_jax/harness/reference_scores.json with the
command and budget that made them; the file is written atomically.
"""
import json
import os
import time

from absl import app, flags

from wombet_jax.harness import cli, provenance
from wombet_jax import errors
from wombet_jax.errors import UserError


_ENVS = flags.DEFINE_string("envs", "inverted_double_pendulum", "Comma-separated task pairs.")
_SCALE = flags.DEFINE_enum("scale", "cpu", ["cpu", "paper"],
                           "cpu: experiments/configs/cpu/<env>.py where it exists, else "
                           "experiments/configs/default.py with the env replaced; paper: "
                           "experiments/configs/<env>.py (its episode length and agent).")
_RANDOM_EPISODES = flags.DEFINE_integer("random_episodes", 1000, "Episodes for R_random.")
_STEPS = flags.DEFINE_integer("reference_steps", 30_000, "Target env steps of the SAC run.")
_SEEDS = flags.DEFINE_integer("num_seeds", 3, "Seeds of the SAC run.")
_EVALS = flags.DEFINE_integer("num_evals", 10, "Evaluations along the SAC run.")
_SEED = flags.DEFINE_integer(
    "seed", 0, "First seed of the SAC run (seeds seed..seed+num_seeds-1). A reference should "
    "not share seeds with the runs it normalises: the locomotion entries use --seed=100.")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/wombet_reference", "Where the SAC runs live.")
_TABLE = flags.DEFINE_string("table", None, "Output table (default: the committed one).")
_RUN = flags.DEFINE_string(
    "run", None, "A finished SAC run directory (metrics.jsonl, config.json) to take R_reference "
    "from instead of training one; its env and episode length must match (one pair only).")
_EPISODE_LENGTH = flags.DEFINE_integer(
    "episode_length", None, "Episode length (part of the table's key); default: the config's "
    "(default.py's 200 at --scale=cpu), 0: the pair's own.")


@cli.one_line_errors("reference_scores.py")
def main(argv):
  del argv
  import jax
  from absl import logging as absl_logging

  from wombet_jax.harness.reference import REFERENCE_SCORES
  from wombet_jax.harness import config as config_lib
  from wombet_jax import generation
  from wombet_jax.harness import figures, plotting, reference, results, runner
  from wombet_jax.envs import registry
  absl_logging.set_verbosity(absl_logging.WARNING)
  table_path = _TABLE.value or REFERENCE_SCORES
  table = {"scores": {}}
  if os.path.exists(table_path):
    with open(table_path) as f:
      table = json.load(f)
  command = provenance.command()
  envs = [e.strip() for e in _ENVS.value.split(",") if e.strip()]
  if _RUN.value and len(envs) != 1:
    raise UserError(f"--run takes one pair in --envs, got {envs}")
  for env in envs:
    if not registry.is_known(env):
      raise UserError(f"--envs contains {env!r}; known pairs: {', '.join(registry.names())} "
                      f"(each also as <pair>{registry.SOURCE_SUFFIX})")
    c = reference.reference_config(_SCALE.value, env, _STEPS.value, _SEEDS.value,
                                   _EVALS.value, _EPISODE_LENGTH.value)
    c.seed = _SEED.value
    config_lib.validate(c)
    pair = registry.make_pair(env, c.episode_length or None)
    ep_len = pair.episode_length
    t0 = time.time()
    uniform = lambda obs, k: jax.random.uniform(k, (pair.act_dim,), minval=-1.0, maxval=1.0)
    r_random = float(jax.jit(lambda k: generation.rollout_policy(
        pair, uniform, ep_len, k, _RANDOM_EPISODES.value, keyed=True))(jax.random.PRNGKey(0)))
    print(f"[reference {env}] R_random = {r_random:.2f} over {_RANDOM_EPISODES.value} episodes "
          f"of {ep_len} steps ({time.time() - t0:.0f} s)", flush=True)

    if _RUN.value:
      wd = _RUN.value
      reference.check_run(wd, env, ep_len)
    else:
      wd = os.path.join(_WORKDIR.value, env, f"sac-{figures.config_hash(c)}")
      figures.ensure_run(c, wd, run_fn=runner.run)  # R_reference comes from these runs
    rows = results.read_jsonl(os.path.join(wd, "metrics.jsonl"))
    steps, mean, std, n = plotting.curve(rows, "return")
    best = int(mean.argmax())
    entry = {
        "env": env, "episode_length": ep_len, "random": r_random,
        "reference": float(mean[best]), "reference_std": float(std[best]),
        "reference_at_step": int(steps[best]), "reference_final": float(mean[-1]),
        "reference_final_std": float(std[-1]), "reference_algo": "sac",
        "reference_steps": int(steps[-1]), "reference_seeds": n,
        "reference_first_seed": None if _RUN.value else _SEED.value,
        "random_episodes": _RANDOM_EPISODES.value, "scale": _SCALE.value,
        "reference_run": _RUN.value, "command": command, "date": provenance.today(),
        "seconds": provenance.seconds_since(t0)}
    if entry["reference"] <= r_random:
      raise errors.RunError(f"{env}: the SAC reference ({entry['reference']:.2f}) does not beat "
                       f"the random policy ({r_random:.2f}); raise --reference_steps")
    table["scores"][reference.key(env, ep_len)] = entry
    table["formula"] = "normalized = 100 * (R - random) / (reference - random), target task"
    results.atomic_write_json(table_path, table)
    print(f"[reference {env}] R_reference = {entry['reference']:.2f} (best mean eval at step "
          f"{entry['reference_at_step']}; final {entry['reference_final']:.2f}); wrote "
          f"{table_path}", flush=True)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
