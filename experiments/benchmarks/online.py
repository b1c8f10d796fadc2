"""Where one online chunk's time goes: the loop's step built up piece by piece, per algorithm.

For each algorithm (default: wombet and sac) the config's seeds (vmapped) run `steps` target
env steps in one jitted `lax.scan`, in variants that each add one piece of the loop's step
(`wombet_jax.online`: `env_step` then `learn`):

  env step            the target task's step with uniform actions
  + action sampling   the policy's sampled action instead
  + buffer insert     `replay.add` to D_on (and, for WOMBET, the model's real-data buffer)
  + batch sampling    the G batches of B rows drawn (mixed D_off/D_on for WOMBET) and
                      nothing done with them but a sum
  + critic updates    on them, G critic gradient steps only (`sac.critic_step`)
  + actor and temperature updates
                      G full gradient updates instead, without the TD batch and the beta
                      update: `update_many` of the same agent built with a beta that cannot
                      move (WOMBET), SAC's own `update_many` (no D_off)
  + TD/beta           the TD-error batch after the G updates and the loop's `beta.update`:
                      WOMBET's `update_many`; for SAC, its `update_many` followed by
                      `sac.td_stats` and `beta.update` (what SAC would run if it did not skip them)
  loop chunk          `Pipeline.chunk` itself (adds the non-finite checks, the learning-start
                      branch, episode bookkeeping)

"evaluation, per target step" is one `Pipeline.evaluate` (config.loop.eval_episodes episodes)
divided by config.loop.eval_every, the target steps between evaluations: its share of a run.

D_on and D_off are filled with random rows first (sizes, not values, set the cost), and every
step is past the learning start. Cases are compiled first, then timed round-robin
(`benchmarking.time_interleaved`).

  python experiments/benchmarks/online.py [--config PATH] [--quick] [--json PATH]
"""
import functools
import importlib.util
import os

import jax
import jax.numpy as jnp

from wombet_jax import beta as beta_lib
from wombet_jax import loop, online, replay
from wombet_jax.agents import sac
from wombet_jax.agents.protocol import AgentContext
from wombet_jax.harness import benchmarking
from wombet_jax.harness.config import validate

VARIANTS = ("env step", "+ action sampling", "+ buffer insert", "+ batch sampling",
            "+ critic updates", "+ actor and temperature updates", "+ TD/beta")
EVALUATION = "evaluation, per target step"
COLUMNS = ("algo", "variant", "ms_per_step", "added_ms", "cpu_ms_per_step", "steps_per_s",
           "compile_s")


def load_config(path):
  spec = importlib.util.spec_from_file_location("cfg", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config()


def parse_args():
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  p = benchmarking.base_parser(__doc__.splitlines()[0])
  p.add_argument("--config", default=os.path.join(root, "configs", "default.py"))
  p.add_argument("--algos", default="wombet,sac")
  p.add_argument("--seeds", type=int, default=None, help="vmapped seeds; default config.num_seeds")
  p.add_argument("--steps", type=int, default=None,
                 help="env steps per timed call; default 200, --quick 20")
  p.add_argument("--repeats", type=int, default=None, help="timed rounds; default 5, --quick 2")
  a = p.parse_args()
  for name, full, quick in (("steps", 200, 20), ("repeats", 5, 2)):
    if getattr(a, name) is None:
      setattr(a, name, quick if a.quick else full)
  if min(a.steps, a.repeats) < 1 or (a.seeds is not None and a.seeds < 1):
    raise ValueError("--steps, --repeats, --seeds must be >= 1")
  return a


def make_cases(config, algo, a):
  """{variant: (fn, args)} for `algo`; every fn runs `a.steps` steps of all seeds."""
  c = config.copy_and_resolve_references()
  c.algo, c.compare = algo, ""
  c.num_seeds = a.seeds or c.num_seeds
  c.loop.eval_every = c.loop.steps_per_iteration = c.loop.checkpoint_every = a.steps
  validate(c)
  pipe = loop.make_pipeline(c)
  c, spec, pair, agent = pipe.config, pipe.spec, pipe.pair, pipe.agent
  task, batch, utd = pair.target, int(c.agent.batch_size), int(c.agent.utd)
  n = c.num_seeds
  states = pipe.init(jax.vmap(jax.random.PRNGKey)(jnp.arange(n, dtype=jnp.uint32)))
  _, example = task.step(jax.tree_util.tree_map(lambda x: x[0], states.env),
                         jnp.zeros(pair.act_dim))

  def fill(buf, key, size):
    rows = benchmarking.random_transitions(key, size, example.obs.shape[-1],
                                           example.action.shape[-1])
    return replay.add_batch(buf, rows)
  fill_n = lambda bufs, key, size: jax.vmap(fill, in_axes=(0, 0, None))(
      bufs, jax.random.split(key, n), size)
  states = states.replace(online=fill_n(states.online, jax.random.PRNGKey(1),
                                        c.loop.online_capacity // 2))
  if spec.uses_offline:
    states = states.replace(offline=fill_n(states.offline, jax.random.PRNGKey(2),
                                           c.loop.offline_capacity))
  aux_of = (lambda s: s.model) if spec.uses_model_penalty else (lambda s: None)
  if spec.uses_offline:
    # The same agent with a beta that cannot move: its update_many skips the TD batch and
    # the beta update and is otherwise the same program.
    fixed = c.copy_and_resolve_references()
    fixed.sampling.mode = "fixed"
    penalty_fn = pipe.wm.uncertainty if spec.uses_model_penalty else None
    plain = spec.make(AgentContext(pair.obs_dim, pair.act_dim, fixed, pair, pipe.wm,
                                   penalty_fn))
  else:
    plain = agent
  # SAC's pieces as make_sac builds them (WOMBET and SAC), for the critic-only and TD steps.
  nets, hp = sac.make_networks(pair.act_dim, c.agent), sac.hyperparameters(pair.act_dim, c.agent)
  txs = sac.optimisers(c.agent)
  use_penalty = spec.uses_model_penalty and hp.lambda_q != 0.0
  penalty_of = lambda s: (functools.partial(pipe.wm.uncertainty, aux_of(s)) if use_penalty
                          else None)

  o = online.online_spec(c, spec, pair, agent)

  def step(s, level):
    key, k_act, k_rand, k_upd, k_batch, k_td = jax.random.split(s.key, 6)
    if level >= 2:  # the loop's env step itself (act, step, D_on and the model's data)
      s = online.env_step(o, s, jnp.bool_(False))
    else:
      if level == 0:
        action = jax.random.uniform(k_rand, (pair.act_dim,), minval=-1.0, maxval=1.0)
      else:
        action = agent.act(s.agent, k_act, s.env.obs)
      env, _ = task.step(s.env, action)
      s = s.replace(env=env)
    s = s.replace(key=key)
    offline = s.offline if spec.uses_offline else None

    def draw(k):
      if offline is None:
        return replay.sample(s.online, k, batch)
      return replay.sample_mixed(offline, s.online, k, batch, s.beta.beta)
    if level in (3, 4):
      def body(carry, k):
        k_sample, k_update = jax.random.split(k)
        rows = draw(k_sample)
        if level == 3:  # keep the draw alive, do nothing else with it
          return (carry[0], carry[1] + jnp.sum(rows.reward)), None
        return (sac.critic_step(nets, hp, txs, carry[0], k_update, rows, penalty_of(s))[0],
                carry[1]), None
      (ag, total), _ = jax.lax.scan(body, (s.agent, jnp.float32(0)),
                                    jax.random.split(k_upd, utd))
      s = s.replace(agent=ag, metrics=dict(s.metrics, td_error=total))
    elif level == 5:
      ag, _ = plain.update_many(s.agent, k_upd, offline, s.online, s.beta.beta, aux_of(s))
      s = s.replace(agent=ag)
    elif level == 6 and spec.uses_offline:  # the loop's learn itself
      s = online.learn(o, s)[0]
    elif level == 6:
      ag, info = agent.update_many(s.agent, k_upd, offline, s.online, s.beta.beta, aux_of(s))
      delta = sac.td_stats(nets, hp, ag, k_td, replay.sample(s.online, k_batch, batch),
                           penalty_of(s))[0]
      s = s.replace(agent=ag, beta=beta_lib.update(s.beta, delta, c.sampling))
    return s

  def run(states, level):
    # Seeds mapped as the loop maps them (one seed: no seed axis, see online.over_seeds).
    body = lambda st, _: (online.over_seeds(lambda s: step(s, level))(st), None)
    return jax.lax.scan(body, states, None, length=a.steps)[0]

  cases = {v: (jax.jit(lambda st, level=i: run(st, level)), (states,))
           for i, v in enumerate(VARIANTS)}
  t0 = jnp.int32(max(c.loop.start_steps, batch))
  cases["loop chunk"] = (pipe.chunk, (states, t0))
  cases[EVALUATION] = (pipe.evaluate, (states,))
  shapes = (f"{n} seeds, G={utd}, {c.agent.num_critics} critics of {c.agent.num_layers} x "
            f"{c.agent.hidden_size}, batch {batch}")
  return cases, shapes


def main():
  a = parse_args()
  config = load_config(a.config)
  load0 = os.getloadavg()[0]
  rows, shapes = [], {}
  for algo in a.algos.split(","):
    print(f"{algo}: compiling, then timing", flush=True)
    cases, shapes[algo] = make_cases(config, algo, a)
    t = benchmarking.time_interleaved(cases, a.repeats)
    prev = None
    for name, v in t.items():
      # An evaluation happens once per eval_every target steps; the rest run a.steps steps.
      per = int(config.loop.eval_every) if name == EVALUATION else a.steps
      ms = 1e3 * v["s"] / per
      row = dict(algo=algo, variant=name, ms_per_step=ms, cpu_ms_per_step=1e3 * v["cpu_s"] / per)
      if prev is not None and name in VARIANTS:
        row["added_ms"] = ms - prev
      rows.append(dict(row, steps_per_s=per / v["s"], compile_s=v["first_s"]))
      prev = ms if name in VARIANTS else prev
  load1 = os.getloadavg()[0]
  sizes = "; ".join(f"{k}: {v}" for k, v in shapes.items())
  title = (f"One online step of {config.env}, piece by piece ({sizes}; ms per step of all "
           f"seeds, {a.steps} steps per timed call; {benchmarking.device_description()}, load "
           f"average {load0:.1f} -> {load1:.1f})")
  benchmarking.report(title, rows, a.json, columns=COLUMNS, quick=a.quick,
                      steps_per_call=a.steps, repeats=a.repeats, config=os.path.relpath(a.config),
                      shapes=shapes, load_average=[load0, load1])


if __name__ == "__main__":
  main()
