"""Reference scores for the normalised return (docs/method.md, "Normalised return").

normalized = 100 * (R - R_random) / (R_reference - R_random) on the target task. A table is
a JSON file {"scores": {"<env>/<episode length>": {"random": ..., "reference": ...}}}; the
repository's, REFERENCE_SCORES (package data, so an installed wheel has it too), is produced by
`experiments/reference_scores.py`, committed with the command that made it, and handed to the
library by the scripts: the library reads only the table it is given. Returns depend on the time limit, so an entry holds
the episode length it was measured at and is only used for runs with that length.
"""
from __future__ import annotations

import json
import os

from wombet_jax.errors import UserError

REFERENCE_SCORES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "reference_scores.json")


def load(path: str | None) -> dict:
  """The scores of the table at `path` ({} for None: no table, nothing is normalised)."""
  if path is None:
    return {}
  if not os.path.exists(path):
    raise UserError(f"reference table {path!r} is invalid: no such file (make one with "
                    "experiments/reference_scores.py, or pass none)")
  with open(path) as f:
    return json.load(f).get("scores", {})


def key(env: str, episode_length: int) -> str:
  return f"{env}/{int(episode_length)}"


def lookup(env: str, episode_length: int, path: str | None) -> dict | None:
  """{'random': R_random, 'reference': R_reference, ...} or None if the table at `path` has
  no entry for it (or there is no table)."""
  return load(path).get(key(env, episode_length))


def normalize(ret: float, ref: dict | None) -> float | None:
  if ref is None:
    return None
  span = ref["reference"] - ref["random"]
  if span == 0:
    raise ValueError(f"reference scores for this env have reference == random ({span}); "
                     "rerun experiments/reference_scores.py")
  return 100.0 * (ret - ref["random"]) / span


def ceiling_text(env: str, episode_length: int, ref: dict | None) -> str:
  """The analytic ceiling of the target return beside a reference (`registry.return_ceiling`),
  in words and, given `ref`, normalised: how far R_reference is from the best possible."""
  from wombet_jax.envs import registry
  top = registry.return_ceiling(env, episode_length)
  if top is None:
    return "the target reward has no analytic ceiling"
  scaled = "" if ref is None else f" (normalised {normalize(top, ref):.1f})"
  return f"the target return's analytic ceiling is {top:.1f}{scaled}"


def sac_run_config(c, env: str, steps: int, seeds: int, evals: int):
  """`c` turned into one SAC run of `steps` env steps on `env` (a pair, or "<pair>:source" for
  the source task as the target) with `seeds` seeds and `evals` evaluations along the way: the
  run behind a reference score (`experiments/reference_scores.py`) and behind an oracle source
  policy (`experiments/oracle_dataset.py`). Raises UserError unless `evals` divides `steps`."""
  if steps <= 0 or evals <= 0 or steps % evals:
    raise UserError(f"steps={steps} must be a positive multiple of evals={evals}")
  c.env, c.algo, c.compare, c.num_seeds = env, "sac", "", seeds
  lo = c.loop
  lo.num_iterations, lo.steps_per_iteration = 1, steps
  lo.eval_every = lo.checkpoint_every = steps // evals
  lo.online_capacity = max(lo.online_capacity, steps)
  lo.start_steps = min(lo.start_steps, lo.eval_every)
  return c


def reference_config(scale: str, env: str, steps: int, seeds: int, evals: int,
                     episode_length: int | None = None):
  """The SAC run behind a reference score of `env` at `scale` ("cpu": the pair's CPU config,
  else default.py; "paper": the pair's paper config), `episode_length` overriding the config's
  (0: the pair's own). Raises UserError naming the script's flag that is out of range."""
  import importlib

  from wombet_jax.configs import CONFIGS
  from wombet_jax.envs import registry
  pair = registry.base_name(env)  # "hopper:source" uses hopper's config
  if scale == "cpu":
    cpu = os.path.join(CONFIGS, "cpu", f"{pair}.py")
    name = f"cpu.{pair}" if os.path.exists(cpu) else "default"
  else:
    name = pair
  c = importlib.import_module(f"wombet_jax.configs.{name}").get_config()
  if episode_length is not None:
    if episode_length < 0:
      raise UserError(f"--episode_length={episode_length}: must be >= 0 (0: the pair's own)")
    c.episode_length = episode_length
  if steps <= 0 or evals <= 0 or steps % evals:
    raise UserError(f"--reference_steps={steps} must be a positive multiple of "
                    f"--num_evals={evals}")
  return sac_run_config(c, env, steps, seeds, evals)


def check_run(wd: str, env: str, episode_length: int) -> None:
  """Raises ValueError unless `wd` holds a finished SAC run of `env` at `episode_length`."""
  for f in ("metrics.jsonl", "config.json", "summary.json"):
    if not os.path.exists(os.path.join(wd, f)):
      raise UserError(f"--run={wd!r} holds no {f}: not a finished run directory")
  with open(os.path.join(wd, "config.json")) as f:
    c = json.load(f)
  with open(os.path.join(wd, "summary.json")) as f:
    complete = json.load(f).get("complete")
  from wombet_jax.envs import registry
  length = c["episode_length"] or registry.default_episode_length(c["env"])
  got = (c["algo"], c["env"], length, complete)
  if got != ("sac", env, episode_length, True):
    raise UserError(f"--run={wd!r} is (algo, env, episode length, complete) = {got}; allowed: "
                    f"('sac', {env!r}, {episode_length}, True)")
