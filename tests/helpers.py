"""Plain helpers shared by the test files: one config builder, one scripted pointmass
controller, one episode-return rollout, and the fault tests' workdir copies, file trees and
command lines.

They are plain functions rather than fixtures because they are called where fixtures cannot
be: at import time (parametrize tables), inside module-scoped fixtures, and inside jitted or
scanned code (the controller and the rollout).
"""
import hashlib
import importlib
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp

from wombet_jax.envs import pointmass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE_PY = os.path.join(ROOT, "experiments", "configs", "smoke.py")

# Tiny networks and buffers for the baseline agents on pointmass (tests/baseline_utils.py):
# compile-bound tests, sized so that every learning check still clears its threshold.
TINY_BASELINE = dict(
    agent=dict(hidden_size=32, num_layers=2, batch_size=64, utd=1, actor_lr=1e-3,
               critic_lr=1e-3, temp_lr=1e-3, discount=0.95, tau=0.01),
    loop=dict(online_capacity=4000, offline_capacity=4000, start_steps=200),
    sampling=dict(mode="fixed", beta_fixed=0.5))


def make_config(base="smoke", *layers, **fields):
  """A fresh config from experiments/configs/<base>.py with overrides applied in order.

  Each layer (and then ``fields``) maps a name to a value: a dict updates that section
  (``agent=dict(utd=2)``), a dotted name sets one nested field (``**{"planner.alpha": 1.0}``)
  and any other name sets a top-level field (``algo="sac"``). Later layers win field by field,
  so a layer of defaults followed by a test's own overrides merges them.
  """
  c = importlib.import_module(f"wombet_jax.configs.{base}").get_config()
  for layer in layers + (fields,):
    for name, value in layer.items():
      if isinstance(value, dict):
        c[name].update(value)
      elif "." in name:
        *parents, leaf = name.split(".")
        node = c
        for p in parents:
          node = node[p]
        node[leaf] = value
      else:
        c[name] = value
  return c


def pd_action(obs, goal=pointmass.TARGET_GOAL):
  """Saturated PD controller toward ``goal`` on pointmass observations (px, py, vx, vy), any
  batch shape: near-optimal on the target task (a return of about -13 over 50 steps)."""
  return jnp.clip(6.0 * (jnp.asarray(goal) - obs[..., :2]) - 4.0 * obs[..., 2:], -1.0, 1.0)


def rollout(task, policy, key, episodes, length):
  """Transitions (episodes, length, ...) of ``policy(key, obs) -> action`` in ``task``.

  Key use: episode i runs on split(key, episodes)[i], split again into a reset key and the
  per-step action keys, so the same key gives the same episodes in every test that uses it.
  The task auto-resets at its time limit, so ``length`` may span several episodes.
  """
  def one(k):
    k_reset, k_run = jax.random.split(k)

    def body(env, kk):
      env, tr = task.step(env, policy(kk, env.obs))
      return env, tr

    _, trs = jax.lax.scan(body, task.reset(k_reset), jax.random.split(k_run, length))
    return trs

  return jax.vmap(one)(jax.random.split(key, episodes))


def episode_returns(task, policy, key, episodes, length):
  """Undiscounted returns (episodes,) of ``rollout``'s episodes."""
  return jnp.sum(rollout(task, policy, key, episodes, length).reward, axis=-1)


def copy_run(full_run, tmp_path) -> str:
  """A copy of the session's finished smoke run (conftest.full_run) to change."""
  wd = str(tmp_path / "run")
  shutil.copytree(full_run[0], wd, symlinks=True)
  return wd


def file_tree(wd: str) -> dict:
  """Every file below `wd` with its size, mtime and content hash."""
  out = {}
  for root, _, files in os.walk(wd):
    for f in files:
      p = os.path.join(root, f)
      with open(p, "rb") as fh:
        out[os.path.relpath(p, wd)] = (os.path.getsize(p), os.stat(p).st_mtime_ns,
                                       hashlib.sha256(fh.read()).hexdigest())
  return out


def script(name: str, *args, timeout=600) -> subprocess.CompletedProcess:
  """experiments/<name> with `args`, run to its end."""
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", name), *args],
                        cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def run_cli(*args, timeout=600) -> subprocess.CompletedProcess:
  """experiments/run.py on the smoke config with `args`."""
  return script("run.py", "--config=" + SMOKE_PY, *args, timeout=timeout)


def error_lines(stderr: str, prefix: str = "error: ") -> list[str]:
  return [ln for ln in stderr.splitlines() if ln.startswith(prefix)]
