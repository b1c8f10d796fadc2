"""Protocol A: objective gap to a known optimum against model evaluations, CEM vs iCEM.

One cold-start planning step (zero warm start, one particle, deterministic dynamics) per key;
the gap is J* - J(returned mean sequence), relative to |J*|, over --keys keys (mean and max).
Model evaluations = candidate sequences scored (each a horizon-long rollout).

  lqr:      the planner tests' double integrator (horizon 10, discount 0.95); J* analytic.
  obstacle: 2-D point x' = x + 0.25 a from (-1, 0) to (1, 0) around a Gaussian obstacle
            just below the axis (the planner tests' navigation task, horizon 10, discount 1):
            two locally optimal routes. J* is the best objective found by a long CEM run
            (population 1000, 20 iterations) or any row (a reference, not a proof).

  python experiments/benchmarks/optimizers.py [--json PATH] [--keys 10] [--small]
"""
import argparse
import json
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from wombet_jax.configs import base
from wombet_jax.planner import Dynamics, make_planner

# The LQR of tests/test_planner.py.
A = np.array([[1.0, 0.5], [0.0, 1.0]])
B = np.array([0.125, 0.5])
Q = np.diag([1.0, 0.1])
H, GAMMA = 10, 0.95
X0 = np.array([1.0, 0.0])


def lqr_optimum():
  phi = [np.linalg.matrix_power(A, t + 1) for t in range(H)]
  m, g = np.zeros((H, H)), np.zeros(H)
  c = 0.0
  for t in range(H):
    gt = np.zeros((2, H))
    for k in range(t + 1):
      gt[:, k] = np.linalg.matrix_power(A, t - k) @ B
    m += GAMMA**t * (gt.T @ Q @ gt + np.outer(np.eye(H)[t], np.eye(H)[t]))
    g += GAMMA**t * gt.T @ Q @ phi[t] @ X0
    c += GAMMA**t * X0 @ phi[t].T @ Q @ phi[t] @ X0
  a = -np.linalg.solve(m, g)
  return float(-(a @ m @ a + 2 * g @ a + c))


TASKS = {
    "lqr": dict(
        act_dim=1, discount=GAMMA, x0=X0,
        dyn=Dynamics(step=lambda p, e, o, a, m: (jnp.asarray(A, jnp.float32) @ o
                                                 + jnp.asarray(B, jnp.float32) * a[0]),
                     uncertainty=lambda p, o, a: jnp.float32(0.0), num_members=1),
        reward=lambda o, a, o2: -(o2 @ jnp.asarray(Q, jnp.float32) @ o2 + a[0] ** 2)),
    "obstacle": dict(
        act_dim=2, discount=1.0, x0=np.array([-1.0, 0.0]),
        dyn=Dynamics(step=lambda p, e, o, a, m: o + 0.25 * a,
                     uncertainty=lambda p, o, a: jnp.float32(0.0), num_members=1),
        reward=lambda o, a, o2: (-jnp.linalg.norm(o2 - jnp.array([1.0, 0.0]))
                                 - 5.0 * jnp.exp(-jnp.sum((o2 - jnp.array([0.0, -0.15])) ** 2)
                                                 / 0.18))),
}


def planner_config(method, population, iterations, beta, discount):
  c = base.get_config().planner
  c.update(dict(method=method, horizon=H, population=population, iterations=iterations,
                num_elites=max(2, population // 10), particles=1, discount=discount,
                icem_noise_beta=beta))
  return c


def run_one(task, method, population, iterations, beta, keys):
  """Objectives of the returned plans (keys,) and evaluations per plan."""
  t = TASKS[task]
  cfg = planner_config(method, population, iterations, beta, t["discount"])
  planner = make_planner(cfg, t["act_dim"], t["dyn"], t["reward"])

  @jax.jit
  def objectives(ks):
    def one(k):
      act, state, _ = planner.plan(planner.init(), k, jnp.asarray(t["x0"], jnp.float32), None,
                                   0.0)
      seq = jnp.concatenate([act[None], state.mean[:-1]], axis=0)
      return planner.evaluate(None, k, jnp.asarray(t["x0"], jnp.float32), seq[None],
                              0.0)["objective"][0]
    return jax.vmap(one)(ks)

  from wombet_jax import budget
  full = ml_collections.ConfigDict({"planner": cfg, "world_model": {"num_elites": 1,
                                                                     "hidden_size": 1,
                                                                     "num_layers": 1}})
  evals = budget.plan_step_flops(full, 1, 1)["evaluations"]
  return np.asarray(objectives(keys)), evals


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--json", default=None)
  ap.add_argument("--keys", type=int, default=10)
  ap.add_argument("--small", action="store_true", help="one budget, two keys (a smoke run)")
  args = ap.parse_args()
  # iCEM's iterations are unrolled (their sizes differ), so each budget is a slow compile on
  # a CPU (about a minute here): three budgets.
  budgets = [(50, 5), (100, 5), (400, 5)]
  variants = [("cem", 0.0), ("icem", 2.0), ("icem", 1.0)]
  n_keys = args.keys
  if args.small:
    budgets, n_keys = budgets[:1], 2
  keys = jax.random.split(jax.random.key(0), n_keys)
  t_start = time.time()
  raw = {}
  for task in TASKS:
    for method, beta in variants:
      for pop, iters in budgets:
        j, evals = run_one(task, method, pop, iters, beta, keys)
        raw[(task, method, beta, pop, iters)] = (j, evals)
        print(f"  {task} {method} beta={beta} pop={pop} iters={iters}: evals {evals}, "
              f"J mean {j.mean():.4f}", flush=True)
  # Optimum: analytic for the LQR; for the obstacle the best of a long reference run (CEM,
  # population 1000, 20 iterations) and of everything above.
  optimum = {"lqr": lqr_optimum()}
  ref = run_one("obstacle", "cem", 1000, 20, 0.0, keys)[0].max()
  optimum["obstacle"] = float(max([ref] + [v[0].max() for k, v in raw.items()
                                           if k[0] == "obstacle"]))
  rows = []
  for (task, method, beta, pop, iters), (j, evals) in raw.items():
    gap = (optimum[task] - j) / abs(optimum[task])
    rows.append({"task": task, "method": method, "beta": beta if method == "icem" else None,
                 "population": pop, "iterations": iters, "evaluations": evals,
                 "gap_mean": float(gap.mean()), "gap_max": float(gap.max()),
                 "optimum": optimum[task]})
  lines = ["| task | method | population x iterations | model evaluations | "
           "relative gap mean | max |", "| --- | --- | --- | ---: | ---: | ---: |"]
  for r in rows:
    name = r["method"] + (f" (beta {r['beta']:g})" if r["beta"] is not None else "")
    lines.append(f"| {r['task']} | {name} | {r['population']} x {r['iterations']} | "
                 f"{r['evaluations']} | {r['gap_mean']:.4f} | {r['gap_max']:.4f} |")
  print("\n".join(lines))
  wall = time.time() - t_start
  print(f"\n{n_keys} keys per row; optimum {optimum}; wall {wall:.0f} s")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"rows": rows, "keys": n_keys, "wall_s": wall, "optimum": optimum}, f, indent=1)


if __name__ == "__main__":
  main()
