"""An oracle D_off: SAC trained on the source task, its policy rolled out in the real source env.

  python experiments/oracle_dataset.py --config=experiments/configs/cpu/halfcheetah.py \
      --out=/tmp/oracle/halfcheetah.npz

What the best offline data could be at the source budget a WOMBET run spends: SAC (the config's
`agent` section, as in the source-task yardstick of `experiments/reference_scores.py`) trained
for --source_steps real source-env steps (default: the config's source phase, (random + MPC
episodes) x episode length), then --episodes episodes of its deterministic action plus
N(0, --action_noise^2) noise (clipped to [-1, 1]) in the real source env, from fresh resets.
The file is in the layout `config.offline.dataset` reads (D4RL keys): `rewards` are the target
rewards (relabelled, as in a run's own export), `source_rewards` the source rewards.
`<out>.json` holds the command, the SAC run, the per-episode source returns and the wall time.

The SAC run lives in --workdir (default /tmp/wombet_oracle/<env>-seed<seed>) and is reused if
finished, resumed if not.
"""
import json
import os
import time

from absl import app, flags

from wombet_jax.harness import cli, provenance
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "cpu",
                           "halfcheetah.py"),
    "The run config whose pair, episode length, SAC agent and source budget are used.")
_OUT = flags.DEFINE_string("out", None, "Output .npz path (a <out>.json is written beside it).")
_SOURCE_STEPS = flags.DEFINE_integer(
    "source_steps", 0, "SAC's real source-env steps; 0: the config's source phase budget.")
_EVALS = flags.DEFINE_integer("num_evals", 5, "Evaluations along the SAC run.")
_SEED = flags.DEFINE_integer("seed", 1000, "SAC's seed; keep it apart from compared runs' seeds.")
_EPISODES = flags.DEFINE_integer("episodes", 10, "Source episodes rolled out into the file.")
_NOISE = flags.DEFINE_float("action_noise", 0.1, "Std of the Gaussian action noise (>= 0).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the SAC run lives.")
flags.mark_flag_as_required("out")


@cli.one_line_errors("oracle_dataset.py")
def main(argv):
  del argv
  import jax

  from wombet_jax.envs import make_pair, registry
  from wombet_jax.errors import UserError
  from wombet_jax.harness import config as config_lib
  from wombet_jax.harness import dataset, figures, policy, reference, results, runner
  t0 = time.time()
  c = _CONFIG.value.copy_and_resolve_references()
  base = registry.base_name(c.env)
  ep_len = c.episode_length or registry.default_episode_length(base)
  steps = _SOURCE_STEPS.value or (c.pets.random_episodes + c.pets.mpc_episodes) * ep_len
  if _EPISODES.value < 1 or _NOISE.value < 0:
    raise UserError(f"--episodes={_EPISODES.value} must be >= 1 and --action_noise="
                    f"{_NOISE.value} >= 0")
  c.seed = _SEED.value
  c = reference.sac_run_config(c, base + registry.SOURCE_SUFFIX, steps, 1, _EVALS.value)
  config_lib.validate(c)
  wd = _WORKDIR.value or os.path.join("/tmp/wombet_oracle", f"{base}-seed{_SEED.value}")
  figures.ensure_run(c, wd, run_fn=runner.run)
  with open(os.path.join(wd, "summary.json")) as f:
    summary = json.load(f)
  act = policy.load(os.path.join(wd, "policy"), seed=_SEED.value)
  pair = make_pair(base, ep_len)
  arrays = dataset.policy_rollouts(pair, act, ep_len, jax.random.PRNGKey(_SEED.value + 1),
                                   _EPISODES.value, _NOISE.value)
  dataset.save_d4rl(_OUT.value, arrays)
  ends = arrays["terminals"] | arrays["timeouts"]
  src = dataset.trajectory_returns(arrays["source_rewards"], ends)
  tgt = dataset.trajectory_returns(arrays["rewards"], ends)
  meta = {
      "command": provenance.command(), "date": provenance.today(), "env": base,
      "episode_length": ep_len,
      "sac_run": wd, "sac_source_steps": steps, "sac_seed": _SEED.value,
      "sac_final_eval_return": summary["return"]["mean"], "episodes": _EPISODES.value,
      "action_noise": _NOISE.value, "transitions": int(ends.size),
      "source_return_per_episode": src.tolist(), "target_return_per_episode": tgt.tolist(),
      "seconds": provenance.seconds_since(t0)}
  results.atomic_write_json(_OUT.value + ".json", meta)
  print(f"[oracle {base}] SAC on the source task, {steps} steps (seed {_SEED.value}): final "
        f"eval return {meta['sac_final_eval_return']:.2f}; wrote {_EPISODES.value} episodes "
        f"({ends.size} transitions), source return {src.mean():.2f} ± {src.std():.2f}, target "
        f"return {tgt.mean():.2f} to {_OUT.value} ({meta['seconds']:.0f} s)", flush=True)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
