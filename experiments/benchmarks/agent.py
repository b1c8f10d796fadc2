"""SAC agent throughput: critic ensemble via vmap vs a Python loop, and one online chunk vs seeds.

Part 1: gradient updates per second of `SAC.update` (critic + actor + temperature step) with
N_Q critics at batch B, the ensemble evaluated by `jax.vmap` over stacked parameters versus a
Python loop over members (same numbers, N_Q copies of the program). Updates run inside one
jitted `lax.scan` so Python dispatch is not timed.

Part 2: wall time of one jitted chunk of S env steps x G updates (the loop's online step,
`wombet_jax.online.online_chunk`: act, step the pointmass target env, add to D_on,
`update_many` on mixed D_off/D_on batches, the beta rule) for several vmapped seed counts, and
its ratio to one seed. Compilation is excluded (first call).

  python experiments/benchmarks/agent.py [--quick] [--json PATH]
"""

import jax
import jax.numpy as jnp

from wombet_jax.configs.base import get_config
from wombet_jax import online, replay
from wombet_jax.harness import benchmarking
from wombet_jax.agents import sac
from wombet_jax.agents.sac import make_sac
from wombet_jax.envs import make_pair


def parse_args():
  p = benchmarking.base_parser(__doc__.splitlines()[0])
  p.add_argument("--critics", type=int, default=10, help="N_Q")
  p.add_argument("--batch", type=int, default=256)
  p.add_argument("--hidden", type=int, default=None, help="default: config.agent.hidden_size")
  p.add_argument("--updates", type=int, default=None,
                 help="updates per timed call (part 1); default 200, --quick 20")
  p.add_argument("--steps", type=int, default=None,
                 help="env steps per chunk (part 2); default 1000, --quick 5")
  p.add_argument("--utd", type=int, default=20, help="G (part 2)")
  p.add_argument("--seeds", default=None,
                 help="vmapped seed counts (part 2); default 1,8,32, --quick 1,4,8")
  p.add_argument("--repeats", type=int, default=None, help="timed calls; default 3, --quick 1")
  a = p.parse_args()
  # --quick is CPU-sized: the same N_Q, B, hidden size and G; fewer updates, env steps, seeds.
  return benchmarking.resolve_sizes(
      a, (("updates", 200, 20), ("steps", 1000, 5), ("seeds", "1,8,32", "1,4,8"),
          ("repeats", 3, 1)),
      ("critics", "batch", "updates", "steps", "utd", "repeats"))


def agent_config(a):
  c = get_config()
  c.agent.update(dict(num_critics=a.critics, batch_size=a.batch, utd=a.utd))
  if a.hidden:
    c.agent.hidden_size = a.hidden
  return c


def ensemble_networks(impl, act_dim, cfg):
  """SAC's networks with the critic ensemble applied by `impl`: "vmap" (as defined) or
  "loop" (`benchmarking.apply_critics_one_by_one`)."""
  nets = sac.make_networks(act_dim, cfg)
  if impl == "vmap":
    return nets
  return nets._replace(apply_critics=benchmarking.apply_critics_one_by_one)


def bench_ensemble(a, c, obs_dim, act_dim):
  """Part 1: updates/s, vmap vs Python loop over critics."""
  batch = benchmarking.random_transitions(jax.random.PRNGKey(0), a.batch, obs_dim, act_dim)
  out = {}
  for impl in ("vmap", "loop"):
    agent = make_sac(obs_dim, act_dim, c.agent, c.sampling,
                     networks=ensemble_networks(impl, act_dim, c.agent))
    state = agent.init(jax.random.PRNGKey(1))

    def run(state, key, agent=agent):
      body = lambda s, k: agent.update(s, k, batch, None)
      return jax.lax.scan(body, state, jax.random.split(key, a.updates))[0]
    t = benchmarking.time_fn(jax.jit(run), state, jax.random.PRNGKey(2), repeats=a.repeats)
    out[impl] = dict(updates_per_s=a.updates / t["median_s"], compile_and_first_s=t["first_s"])
  return out


def make_chunk(a, c, pair):
  """Part 2: init(key) -> one seed's state with D_off and D_on filled, and chunk(states) ->
  states after S env steps of every seed, each followed by G = utd updates and the beta rule:
  the loop's own online step (`wombet_jax.online.online_chunk`)."""
  task = pair.target
  agent = make_sac(pair.obs_dim, pair.act_dim, c.agent, c.sampling)
  n_off = 4 * a.batch
  spec = online.Online(pair=pair, agent=agent, sampling=c.sampling, uses_offline=True,
                       uses_model_penalty=False, keeps_model_data=False,
                       explore_randomly=False, start_steps=0, learn_start=1, steps=a.steps)

  def init(key):
    k_env, k_agent, k_off, k_on = jax.random.split(key, 4)
    rows = benchmarking.random_transitions(k_off, n_off, pair.obs_dim, pair.act_dim)
    # Transition-shaped example so env transitions can be appended to D_on.
    _, tr = task.step(task.reset(k_env), jnp.zeros(pair.act_dim))
    offline = replay.add_batch(replay.init_buffer(tr, n_off), rows)
    first = benchmarking.random_transitions(k_on, a.batch, pair.obs_dim, pair.act_dim)
    on = replay.add_batch(replay.init_buffer(tr, a.batch + a.steps), first)
    return online.online_state(key, agent.init(k_agent), task.reset(k_env), on, c.sampling,
                               agent.metrics, offline=offline)

  def chunk(states):
    return online.online_chunk(spec, states, jnp.int32(0))[0]

  return init, chunk


def main():
  a = parse_args()
  pair = make_pair("pointmass")
  c = agent_config(a)
  dev = benchmarking.device_description()
  ens = bench_ensemble(a, c, pair.obs_dim, pair.act_dim)
  rows1 = [dict(impl=impl, critics=a.critics, batch=a.batch, hidden=c.agent.hidden_size,
                updates_per_s=ens[impl]["updates_per_s"],
                speedup_vs_loop=ens[impl]["updates_per_s"] / ens["loop"]["updates_per_s"],
                compile_and_first_s=ens[impl]["compile_and_first_s"])
           for impl in ("vmap", "loop")]
  benchmarking.report(f"SAC update throughput, ensemble vmap vs Python loop ({dev})", rows1, None)

  init, chunk = make_chunk(a, c, pair)
  rows2, base = [], None
  for n in [int(s) for s in a.seeds.split(",")]:
    carry = jax.jit(jax.vmap(init))(jax.random.split(jax.random.PRNGKey(0), n))
    t = benchmarking.time_fn(jax.jit(chunk), carry, repeats=a.repeats)
    base = base if base is not None else t["median_s"]
    rows2.append(dict(seeds=n, env_steps=a.steps, utd=a.utd, updates_per_seed=a.steps * a.utd,
                      chunk_s=t["median_s"], ratio_to_1_seed=t["median_s"] / base,
                      seed_updates_per_s=n * a.steps * a.utd / t["median_s"],
                      compile_and_first_s=t["first_s"]))
  benchmarking.report(f"One jitted online chunk vs vmapped seeds ({dev})", rows2, a.json,
                      ensemble=rows1, quick=a.quick, critics=a.critics, batch=a.batch,
                      hidden=c.agent.hidden_size)


if __name__ == "__main__":
  main()
