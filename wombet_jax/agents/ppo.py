"""PPO (Schulman et al., 2017): the on-policy online baseline of paper sec. 5.1.

Tanh-Gaussian actor and a state-value net V(s), one Adam optimiser (with global-norm clipping)
on the summed loss of each minibatch (advantages normalised per minibatch):

  L = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)) + c_v mean((V(s) - R)^2) - c_e H,
  rho = pi(a|s) / pi_old(a|s),  R = A + V_old(s),
  H = entropy of the pre-tanh Gaussian (the tanh-squashed one has no closed form).

GAE over a time-ordered rollout, with episode ends handled exactly because every transition
stores its true next observation:
  delta_t = r_t + gamma (1 - terminal_t) V(s'_t) - V(s_t),
  A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}   (A after the last step = 0).

How on-policy learning fits the shared loop (one env per seed, ``update_many`` every env step):
the agent counts its ``update_many`` calls; on every ``ppo.rollout_length``-th call (lax.cond)
it reads the LAST rollout_length transitions of D_on by the buffer's ``ptr``, recomputes the
old log-probs and values with the current parameters (they are the behaviour parameters: they
only change at these updates) and runs ``num_epochs`` x ``num_minibatches`` gradient steps.
Other calls change nothing but the counter. Transitions from the loop's uniform-random warm-up
that fall into the first rollout are treated as if on-policy. ``update(state, key, rollout)``
is one full PPO iteration on a given time-ordered rollout (PPO has no offline pretraining).
info["td_error"] is mean |delta_t| of V on the last rollout (nan before the first update).
Network sizes and the discount come from config.agent; agent.batch_size and agent.utd are
not used (PPO's minibatches and epochs are config.ppo's).
"""
import flax
import jax
import jax.numpy as jnp
import optax

from wombet_jax.agents import common
from wombet_jax.agents.protocol import Agent, jit_agent
from wombet_jax.networks import (TanhGaussianActor, ValueNet, hidden_dims, tanh_gaussian_log_prob,
                                 tanh_gaussian_sample)

_HALF_LOG_2PI_E = 0.5 * (1.0 + jnp.log(2.0 * jnp.pi))
LOSSES = ("policy_loss", "value_loss")  # the losses update_many reports


@flax.struct.dataclass
class PPOState:
  params: dict              # {"actor": TanhGaussianActor params, "value": ValueNet params}
  opt: object
  count: jax.Array          # () int32, update_many calls so far
  last_td: jax.Array        # () float32, mean |delta| of the last rollout (nan before any)


def validate(cfg) -> None:
  p = cfg.ppo
  common.check_positive(p, "ppo", ("rollout_length", "num_epochs", "num_minibatches"),
                        integer=True)
  common.check_positive(p, "ppo", ("clip_eps", "learning_rate", "max_grad_norm"))
  common.require(p.rollout_length % p.num_minibatches == 0, "ppo.num_minibatches",
                 p.num_minibatches, f"must divide ppo.rollout_length={p.rollout_length}")
  common.require(p.rollout_length <= cfg.loop.online_capacity, "ppo.rollout_length",
                 p.rollout_length, f"must be <= loop.online_capacity={cfg.loop.online_capacity}")
  common.require(0.0 <= p.gae_lambda <= 1.0, "ppo.gae_lambda", p.gae_lambda, "must lie in [0, 1]")
  for n in ("value_coef", "entropy_coef"):
    common.require(p[n] >= 0, f"ppo.{n}", p[n], "must be >= 0")


def gae(reward, terminal, done, value, next_value, gamma: float, lam: float):
  """(advantages, TD errors delta) of a time-ordered rollout, all (L,); see module doc."""
  delta = reward + gamma * (1.0 - terminal) * next_value - value

  def back(a_next, x):
    d, dn = x
    a = d + gamma * lam * (1.0 - dn) * a_next
    return a, a

  _, adv = jax.lax.scan(back, jnp.zeros_like(delta[0]), (delta, done), reverse=True)
  return adv, delta


def clipped_surrogate(logp, logp_old, adv, clip_eps: float):
  """-mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)), rho = exp(logp - logp_old)."""
  ratio = jnp.exp(logp - logp_old)
  return -jnp.mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv))


def make_ppo(ctx) -> Agent:
  """PPO agent for ``ctx`` (protocol.AgentContext); sizes from config.agent, rest config.ppo."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  common.check_agent(cfg.agent, obs_dim, act_dim)
  validate(cfg)
  p = cfg.ppo
  hid = hidden_dims(cfg.agent.hidden_size, cfg.agent.num_layers)
  actor, value = TanhGaussianActor(act_dim, hid), ValueNet(hid, layer_norm=False)
  tx = optax.chain(optax.clip_by_global_norm(p.max_grad_norm), optax.adam(p.learning_rate))
  gamma, lam = float(cfg.agent.discount), float(p.gae_lambda)
  length, n_mb, epochs = int(p.rollout_length), int(p.num_minibatches), int(p.num_epochs)

  def init(key):
    k_a, k_v = jax.random.split(key)
    obs = jnp.zeros((1, obs_dim))
    params = {"actor": actor.init(k_a, obs), "value": value.init(k_v, obs)}
    return PPOState(params=params, opt=tx.init(params), count=jnp.zeros((), jnp.int32),
                    last_td=jnp.float32(jnp.nan))

  def act(state, key, obs):
    mean, log_std = actor.apply(state.params["actor"], obs)
    return tanh_gaussian_sample(key, mean, log_std)[0]

  def act_deterministic(state, obs):
    return jnp.tanh(actor.apply(state.params["actor"], obs)[0])

  def prepare(state, rollout):
    """Old log-probs, values, GAE advantages and returns of a time-ordered rollout."""
    f = lambda n: common.field(rollout, n)
    obs, action = f("obs"), f("action")
    mean, log_std = actor.apply(state.params["actor"], obs)
    v = value.apply(state.params["value"], obs)
    v_next = value.apply(state.params["value"], f("next_obs"))
    adv, delta = gae(f("reward"), f("terminal"), f("done"), v, v_next, gamma, lam)
    out = dict(obs=obs, action=action, logp_old=tanh_gaussian_log_prob(mean, log_std, action),
               adv=adv, ret=adv + v, delta=delta)
    return jax.tree_util.tree_map(jax.lax.stop_gradient, out)

  def loss(params, mb):
    """L of the module docstring on one minibatch; returns (L, parts)."""
    mean, log_std = actor.apply(params["actor"], mb["obs"])
    logp = tanh_gaussian_log_prob(mean, log_std, mb["action"])
    adv = (mb["adv"] - jnp.mean(mb["adv"])) / (jnp.std(mb["adv"]) + 1e-8)
    pg = clipped_surrogate(logp, mb["logp_old"], adv, p.clip_eps)
    v_loss = jnp.mean((value.apply(params["value"], mb["obs"]) - mb["ret"]) ** 2)
    entropy = jnp.mean(jnp.sum(log_std + _HALF_LOG_2PI_E, axis=-1))
    total = pg + p.value_coef * v_loss - p.entropy_coef * entropy
    return total, dict(policy_loss=pg, value_loss=v_loss, entropy=entropy,
                       approx_kl=jnp.mean(mb["logp_old"] - logp))

  def update(state, key, rollout, aux):
    """One PPO iteration: epochs x minibatches of Adam steps on a time-ordered rollout."""
    del aux
    common.check_batch(rollout, obs_dim, act_dim)
    data = prepare(state, rollout)
    n = data["adv"].shape[0]
    mb_size = n // n_mb
    train = {k: data[k] for k in ("obs", "action", "logp_old", "adv", "ret")}

    def mb_step(carry, mb):
      params, opt = carry
      (_, parts), g = jax.value_and_grad(loss, has_aux=True)(params, mb)
      params, opt = common.apply_grads(tx, g, opt, params)
      return (params, opt), parts

    def epoch(carry, k):
      perm = jax.random.permutation(k, n)[: n_mb * mb_size].reshape(n_mb, mb_size)
      return jax.lax.scan(mb_step, carry, jax.tree_util.tree_map(lambda x: x[perm], train))

    (params, opt), parts = jax.lax.scan(epoch, (state.params, state.opt),
                                        jax.random.split(key, epochs))
    td = jnp.mean(jnp.abs(data["delta"]))
    new = state.replace(params=params, opt=opt, last_td=td)
    return new, dict(jax.tree_util.tree_map(jnp.mean, parts), td_abs=td)

  def last_rollout(online):
    """The last ``rollout_length`` transitions of D_on in time order, read by its ptr."""
    idx = (online.ptr - length + jnp.arange(length)) % online.capacity
    return jax.tree_util.tree_map(lambda d: d[idx], online.data)

  def update_many(state, key, offline, online, beta, aux):
    """Counts the call; every rollout_length-th call runs ``update`` on the last rollout.
    info: td_error, and the update's mean policy_loss and value_loss (nan on the calls
    without an update)."""
    del offline, beta  # on-policy: D_off is never used
    state = state.replace(count=state.count + 1)

    def run(s):
      s, info = update(s, key, last_rollout(online), aux)
      return s, {k: info[k] for k in LOSSES}

    state, losses = jax.lax.cond(state.count % length == 0, run,
                                 lambda s: (s, no_losses()), state)
    return state, dict(losses, td_error=state.last_td)

  def no_losses():
    return {k: jnp.float32(jnp.nan) for k in LOSSES}

  def tick(state):
    """update_many on a call that is not an update's: only the counter moves."""
    state = state.replace(count=state.count + 1)
    return state, dict(no_losses(), td_error=state.last_td)

  def td_abs(state, key, batch, aux):
    """Mean |delta| of V on ``batch`` (transitions need not be ordered for TD(0))."""
    del key, aux
    f = lambda n: common.field(batch, n)
    v = value.apply(state.params["value"], f("obs"))
    v_next = value.apply(state.params["value"], f("next_obs"))
    return jnp.mean(jnp.abs(f("reward") + gamma * (1.0 - f("terminal")) * v_next - v))

  def losses(state, key, rollout, aux):
    del key, aux
    total, parts = loss(state.params, prepare(state, rollout))
    return dict(parts, total=total)

  return jit_agent(Agent(
      init=init, act=act, act_deterministic=act_deterministic, update=update,
      update_many=update_many, td_abs=td_abs, losses=losses,
      extras=dict(prepare=prepare, loss=loss, last_rollout=last_rollout,
                  policy=lambda s, o: actor.apply(s.params["actor"], o),
                  value=lambda s, o: value.apply(s.params["value"], o)),
      update_period=length, tick=tick, optional_losses=LOSSES))
