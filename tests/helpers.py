"""Plain helpers shared by the test files: one config builder, one scripted pointmass
controller and one episode-return rollout.

They are plain functions rather than fixtures because they are called where fixtures cannot
be: at import time (parametrize tables), inside module-scoped fixtures, and inside jitted or
scanned code (the controller and the rollout).
"""
import importlib

import jax
import jax.numpy as jnp

from wombet_jax.envs import pointmass

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
  c = importlib.import_module(f"experiments.configs.{base}").get_config()
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
