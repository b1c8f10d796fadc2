"""SAC against brax's SAC at the same shapes: gradient updates/s and one seed's online step.

brax's side is built as `brax.training.agents.sac.train` builds it (its `train` itself cannot
run on this jax, which lacks `jax.device_put_replicated`): `networks.make_sac_networks`,
`losses.make_losses`, `gradients.gradient_update_fn` with Adam, and the body of its `sgd_step`
(temperature, critic, actor, Polyak target), with and without `q_network_layer_norm` (ours
always has LayerNorm in its critics). Both sides: batch B, two hidden layers of H units, two
critics, the obs/action sizes of inverted_double_pendulum. The algorithms differ in details
that cost little (brax: min over critics in the actor loss, target entropy -|A|/2, a policy
pass of its own in the temperature loss; ours: mean over critics, -|A|, one shared pass).

Part 1: updates/s of one gradient step, `updates` of them inside one jitted `lax.scan` over
pre-drawn batches (the same data for both), so neither sampling nor Python is timed. Two
variants of ours price parts of the definition: its critics evaluated one by one (brax's
q-network runs one MLP per critic; ours is one vmapped parameter stack) and its critics without
LayerNorm (like brax's default, so "ours without LayerNorm" / "brax" is like for like too);
"vmapped over 1 seed" is ours under the loop's vmap over seeds.

Part 2: one seed's online step, `steps` of them in one jitted `lax.scan`: sample an action,
step the inverted_double_pendulum target task (`wombet_jax.envs.make_pair`), insert the
transition, G = utd updates on fresh batches from the buffer. Ours: `SAC.act`, `replay.add`,
`SAC.update_many` without D_off (the loop's SAC-from-scratch step), and the loop's own chunk
(`wombet_jax.loop`, algo sac, one seed: adds the vmap over seeds and the non-finite check).
brax-style: its inference policy, the same env step, `running_statistics.update`,
`UniformSamplingQueue` insert and one sample of G x B rows, a scan of G `sgd_step`s, as in its
`training_step`. "env step only" is the floor both share; "vmapped over 1 seed" is our step
under the loop's seed axis.

All cases are compiled first, then timed round-robin (`benchmarking.time_interleaved`); ratio
is ours/brax in throughput (> 1: ours faster).

  python experiments/benchmarks/peers.py [--quick] [--json PATH]
"""
import os

import jax
import jax.numpy as jnp
import optax

from wombet_jax.configs.default import get_config
from wombet_jax import beta as beta_lib
from wombet_jax import loop, replay
from wombet_jax.harness import benchmarking
from wombet_jax.agents import sac
from wombet_jax.agents.sac import make_sac
from wombet_jax.networks import Critic, hidden_dims
from wombet_jax.envs import make_pair

from brax.training import gradients, replay_buffers, types
from brax.training.acme import running_statistics, specs
from brax.training.agents.sac import losses as brax_losses
from brax.training.agents.sac import networks as brax_networks
from brax.training.agents.sac.train import TrainingState


def parse_args():
  p = benchmarking.base_parser(__doc__.splitlines()[0])
  p.add_argument("--batch", type=int, default=256)
  p.add_argument("--hidden", type=int, default=256)
  p.add_argument("--utd", type=int, default=2, help="G (part 2)")
  p.add_argument("--updates", type=int, default=None,
                 help="updates per timed call (part 1); default 200, --quick 20")
  p.add_argument("--steps", type=int, default=None,
                 help="online steps per timed call (part 2); default 200, --quick 20")
  p.add_argument("--repeats", type=int, default=None, help="timed rounds; default 5, --quick 2")
  a = p.parse_args()
  return benchmarking.resolve_sizes(
      a, (("updates", 200, 20), ("steps", 200, 20), ("repeats", 5, 2)),
      ("batch", "hidden", "utd", "updates", "steps", "repeats"))


def run_config(a):
  """The default config at the benchmark's shapes: SAC from scratch, 2 critics of 2 x H."""
  c = get_config()
  c.algo, c.compare, c.num_seeds = "sac", "", 1
  c.agent.update(dict(num_critics=2, critic_subset=2, hidden_size=a.hidden, num_layers=2,
                      batch_size=a.batch, utd=a.utd))
  return c


def to_brax(rows):
  """Our transition fields as brax's Transition (discount = 1 - terminal, as acting.py)."""
  return types.Transition(
      observation=rows.obs, action=rows.action, reward=rows.reward,
      discount=1.0 - rows.terminal, next_observation=rows.next_obs,
      extras={"state_extras": {"truncation": rows.done * (1.0 - rows.terminal)},
              "policy_extras": {}})


class Brax:
  """brax's SAC pieces as its train() builds them, and its sgd_step."""

  def __init__(self, obs_dim, act_dim, c, layer_norm):
    ag = c.agent
    self.obs_dim, self.act_dim, self.tau = obs_dim, act_dim, float(ag.tau)
    self.net = brax_networks.make_sac_networks(
        observation_size=obs_dim, action_size=act_dim,
        hidden_layer_sizes=(ag.hidden_size,) * ag.num_layers, q_network_layer_norm=layer_norm)
    self.make_policy = brax_networks.make_inference_fn(self.net)
    self.alpha_tx, self.policy_tx, self.q_tx = (optax.adam(ag.temp_lr), optax.adam(ag.actor_lr),
                                                optax.adam(ag.critic_lr))
    alpha_loss, critic_loss, actor_loss = brax_losses.make_losses(
        sac_network=self.net, reward_scaling=1.0, discounting=float(ag.discount),
        action_size=act_dim)
    self.alpha_update = gradients.gradient_update_fn(alpha_loss, self.alpha_tx, None)
    self.critic_update = gradients.gradient_update_fn(critic_loss, self.q_tx, None)
    self.actor_update = gradients.gradient_update_fn(actor_loss, self.policy_tx, None)

  def init(self, key):
    k_policy, k_q = jax.random.split(key)
    log_alpha = jnp.asarray(0.0, jnp.float32)
    policy_params = self.net.policy_network.init(k_policy)
    q_params = self.net.q_network.init(k_q)
    return TrainingState(
        policy_optimizer_state=self.policy_tx.init(policy_params), policy_params=policy_params,
        q_optimizer_state=self.q_tx.init(q_params), q_params=q_params, target_q_params=q_params,
        gradient_steps=types.UInt64(hi=0, lo=0), env_steps=types.UInt64(hi=0, lo=0),
        alpha_optimizer_state=self.alpha_tx.init(log_alpha), alpha_params=log_alpha,
        normalizer_params=running_statistics.init_state(
            specs.Array((self.obs_dim,), jnp.dtype("float32"))))

  def sgd_step(self, carry, transitions):
    ts, key = carry
    key, key_alpha, key_critic, key_actor = jax.random.split(key, 4)
    alpha_loss, alpha_params, alpha_opt = self.alpha_update(
        ts.alpha_params, ts.policy_params, ts.normalizer_params, transitions, key_alpha,
        optimizer_state=ts.alpha_optimizer_state)
    alpha = jnp.exp(ts.alpha_params)
    critic_loss, q_params, q_opt = self.critic_update(
        ts.q_params, ts.policy_params, ts.normalizer_params, ts.target_q_params, alpha,
        transitions, key_critic, optimizer_state=ts.q_optimizer_state)
    actor_loss, policy_params, policy_opt = self.actor_update(
        ts.policy_params, ts.normalizer_params, ts.q_params, alpha, transitions, key_actor,
        optimizer_state=ts.policy_optimizer_state)
    target = jax.tree_util.tree_map(lambda x, y: x * (1 - self.tau) + y * self.tau,
                                    ts.target_q_params, q_params)
    ts = ts.replace(policy_optimizer_state=policy_opt, policy_params=policy_params,
                    q_optimizer_state=q_opt, q_params=q_params, target_q_params=target,
                    gradient_steps=ts.gradient_steps + 1, alpha_optimizer_state=alpha_opt,
                    alpha_params=alpha_params)
    metrics = dict(critic_loss=critic_loss, actor_loss=actor_loss, alpha_loss=alpha_loss,
                   alpha=jnp.exp(alpha_params))
    return (ts, key), metrics


OURS = "ours (LayerNorm critics)"
OURS_STEP = "ours: act + env step + replay.add + update_many"
OURS_VMAPPED = "ours, vmapped over 1 seed"


def ours_variants(act_dim, cfg):
  """{name: SAC networks}: ours as defined, its critics applied one by one, and its critics
  without LayerNorm."""
  nets = sac.make_networks(act_dim, cfg)
  return {OURS: nets,
          "ours, critics one by one": nets._replace(
              apply_critics=benchmarking.apply_critics_one_by_one),
          "ours without LayerNorm": nets._replace(
              critic=Critic(hidden_dims(cfg.hidden_size, cfg.num_layers), layer_norm=False))}


def update_cases(a, c, obs_dim, act_dim):
  """Part 1: {name: (jitted fn, args)}, each running `a.updates` gradient steps."""
  rows = benchmarking.random_transitions(jax.random.PRNGKey(0), a.updates * a.batch, obs_dim,
                                         act_dim)
  stacked = jax.tree_util.tree_map(lambda x: x.reshape((a.updates, a.batch) + x.shape[1:]), rows)
  key = jax.random.PRNGKey(2)
  cases = {}
  # Ours as defined, then two variants that price parts of the definition: the critics
  # evaluated one by one (brax's q-network runs one MLP per critic) instead of one vmapped
  # parameter stack, and the critics without LayerNorm (like brax's default).
  for name, nets in ours_variants(act_dim, c.agent).items():
    ours = make_sac(obs_dim, act_dim, c.agent, c.sampling, networks=nets)

    def run_ours(state, key, batches, ours=ours):
      def body(s, x):
        return ours.update(s, x[0], x[1], None)[0], None
      return jax.lax.scan(body, state, (jax.random.split(key, a.updates), batches))[0]
    cases[name] = (jax.jit(run_ours), (ours.init(jax.random.PRNGKey(1)), key, stacked))
  # Ours under a vmap over one seed: what the seed axis alone costs.
  fn, args = cases[OURS]
  cases[OURS_VMAPPED] = (jax.jit(jax.vmap(fn)), jax.tree_util.tree_map(lambda x: x[None], args))
  for ln in (False, True):
    b = Brax(obs_dim, act_dim, c, ln)

    def run_brax(ts, key, batches, b=b):
      return jax.lax.scan(b.sgd_step, (ts, key), batches)[0][0]
    cases[f"brax{' (q_network_layer_norm)' if ln else ''}"] = (
        jax.jit(run_brax), (b.init(jax.random.PRNGKey(1)), key, to_brax(stacked)))
  return cases


def online_cases(a, c, pair):
  """Part 2: {name: (jitted fn, args)}, each running `a.steps` online steps of one seed."""
  task, obs_dim, act_dim = pair.target, pair.obs_dim, pair.act_dim
  capacity, prefill = a.batch * a.utd + a.steps, a.batch * a.utd
  rows = benchmarking.random_transitions(jax.random.PRNGKey(3), prefill, obs_dim, act_dim)
  env0 = task.reset(jax.random.PRNGKey(4))
  key = jax.random.PRNGKey(5)
  cases = {}

  def env_only(env, key):
    def body(env, k):
      return task.step(env, jax.random.uniform(k, (act_dim,), minval=-1, maxval=1))[0], None
    return jax.lax.scan(body, env, jax.random.split(key, a.steps))[0]
  cases["env step only (uniform actions)"] = (jax.jit(env_only), (env0, key))

  ours = make_sac(obs_dim, act_dim, c.agent, c.sampling)
  _, example = task.step(env0, jnp.zeros(act_dim))
  online = replay.add_batch(replay.init_buffer(example, capacity), rows)

  def ours_steps(carry):
    def body(carry, _):
      state, beta, env, online, key = carry
      key, k_act, k_upd = jax.random.split(key, 3)
      env, tr = task.step(env, ours.act(state, k_act, env.obs))
      online = replay.add(online, tr)
      state, _ = ours.update_many(state, k_upd, None, online, beta.beta, None)
      return (state, beta, env, online, key), None
    return jax.lax.scan(body, carry, None, length=a.steps)[0]
  carry = (ours.init(jax.random.PRNGKey(1)), beta_lib.init(c.sampling), env0, online, key)
  cases[OURS_STEP] = (jax.jit(ours_steps), (carry,))
  # The same step under the loop's vmap over seeds, with one seed: what the seed axis costs.
  cases["ours: the same, vmapped over 1 seed"] = (
      jax.jit(jax.vmap(ours_steps)), (jax.tree_util.tree_map(lambda x: x[None], carry),))

  lc = c.copy_and_resolve_references()
  lc.loop.eval_every = lc.loop.steps_per_iteration = lc.loop.checkpoint_every = a.steps
  pipe = loop.make_pipeline(lc)
  states = pipe.init(jax.random.PRNGKey(1)[None])
  # From the first step with updates on (as experiments/benchmarks/seeds.py).
  t0 = jnp.int32(max(lc.loop.start_steps, lc.agent.batch_size))
  cases["ours: wombet_jax.loop chunk (algo sac, 1 seed)"] = (pipe.chunk, (states, t0))

  for ln in (False, True):
    b = Brax(obs_dim, act_dim, c, ln)
    buf = replay_buffers.UniformSamplingQueue(
        max_replay_size=capacity, dummy_data_sample=jax.tree_util.tree_map(
            lambda x: x[0], to_brax(rows)), sample_batch_size=a.batch * a.utd)
    # insert_internal / sample_internal: the buffer's jitted work without its host-side
    # size bookkeeping (brax's check_can_* methods, "do not JIT").
    buffer_state = buf.insert_internal(buf.init(jax.random.PRNGKey(6)), to_brax(rows))

    def brax_steps(carry, b=b, buf=buf):
      def body(carry, _):
        ts, env, buffer_state, key = carry
        key, experience_key, training_key = jax.random.split(key, 3)
        policy = b.make_policy((ts.normalizer_params, ts.policy_params))
        action, _ = policy(env.obs[None], experience_key)
        env, tr = task.step(env, action[0])
        transitions = to_brax(jax.tree_util.tree_map(lambda x: x[None], dict(
            obs=tr.obs, action=tr.action, reward=tr.reward, next_obs=tr.next_obs,
            terminal=tr.terminal, done=tr.done)))
        normalizer = running_statistics.update(ts.normalizer_params, transitions.observation)
        buffer_state = buf.insert_internal(buffer_state, transitions)
        ts = ts.replace(normalizer_params=normalizer, env_steps=ts.env_steps + 1)
        buffer_state, batch = buf.sample_internal(buffer_state)
        batch = jax.tree_util.tree_map(lambda x: x.reshape((a.utd, -1) + x.shape[1:]), batch)
        (ts, _), _ = jax.lax.scan(b.sgd_step, (ts, training_key), batch)
        return (ts, env, buffer_state, key), None
      return jax.lax.scan(body, carry, None, length=a.steps)[0]
    name = f"brax-style: policy + env step + insert + {a.utd} sgd_step"
    cases[name + (" (q_network_layer_norm)" if ln else "")] = (
        jax.jit(brax_steps), ((b.init(jax.random.PRNGKey(1)), env0, buffer_state, key),))
  return cases


def ratio(rate, base):
  return rate / base if base else float("nan")


def main():
  a = parse_args()
  c = run_config(a)
  pair = make_pair(c.env, c.episode_length or None)
  dev = benchmarking.device_description()
  load0 = os.getloadavg()[0]

  print("part 1: compiling, then timing gradient updates", flush=True)
  t = benchmarking.time_interleaved(update_cases(a, c, pair.obs_dim, pair.act_dim), a.repeats)
  rates = {k: a.updates / v["s"] for k, v in t.items()}
  brax_plain, brax_ln = rates["brax"], rates["brax (q_network_layer_norm)"]
  ours = rates[OURS]
  update_rows = [dict(case=k, updates_per_s=r, ms_per_update=1e3 / r,
                      cpu_ms_per_update=1e3 * t[k]["cpu_s"] / a.updates,
                      ours_over_this=ratio(ours, r), compile_s=t[k]["first_s"])
                 for k, r in rates.items()]

  print("part 2: compiling, then timing online steps", flush=True)
  t = benchmarking.time_interleaved(online_cases(a, c, pair), a.repeats)
  steps = {k: a.steps / v["s"] for k, v in t.items()}
  ours_step = steps[OURS_STEP]
  online_rows = [dict(case=k, steps_per_s=r, ms_per_step=1e3 / r,
                      cpu_ms_per_step=1e3 * t[k]["cpu_s"] / a.steps,
                      ours_over_this=ratio(ours_step, r), compile_s=t[k]["first_s"])
                 for k, r in steps.items()]
  load1 = os.getloadavg()[0]

  shapes = (f"batch {a.batch}, 2 x {a.hidden} units, 2 critics, obs {pair.obs_dim}, "
            f"act {pair.act_dim}")
  benchmarking.report(f"Gradient updates/s, ours vs brax 0.14 SAC ({shapes}; {dev})",
                      update_rows, None)
  title = (f"One seed's online step on {pair.name}, G={a.utd} ({shapes}; {dev}, load average "
           f"{load0:.1f} -> {load1:.1f})")
  print(f"ours/brax updates/s: {ours / brax_plain:.3g} (brax without LayerNorm), "
        f"{ours / brax_ln:.3g} (with)\n")
  benchmarking.report(title, online_rows, a.json, updates=update_rows,
                      updates_title=f"Gradient updates/s ({shapes}, {a.updates} per timed call)",
                      ours_over_brax_updates=ours / brax_plain,
                      ours_over_brax_ln_updates=ours / brax_ln,
                      ours_without_layernorm_over_brax_updates=ratio(
                          rates["ours without LayerNorm"], brax_plain),
                      ours_over_brax_online=ratio(ours_step, steps[
                          f"brax-style: policy + env step + insert + {a.utd} sgd_step"]),
                      ours_over_brax_ln_online=ratio(ours_step, steps[
                          f"brax-style: policy + env step + insert + {a.utd} sgd_step "
                          "(q_network_layer_norm)"]),
                      quick=a.quick, batch=a.batch, hidden=a.hidden, utd=a.utd,
                      updates_per_call=a.updates, steps_per_call=a.steps, repeats=a.repeats,
                      load_average=[load0, load1])


if __name__ == "__main__":
  main()
