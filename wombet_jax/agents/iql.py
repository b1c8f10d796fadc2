"""IQL (Kostrikov et al., 2022): offline-only (``iql``) and offline-to-online (``iql_ft``)
baseline of paper sec. 5.2-5.3. One agent serves both; the registry decides the phases.

Losses per update, in the reference code's order (value, actor, critic, then targets):
  V:  L_V = mean L_2^tau(min_i Q'_i(s, a) - V(s)),   L_2^tau(u) = |tau - 1(u < 0)| u^2
  pi: L_pi = -mean w log pi(a|s),  w = min(exp(beta (min_i Q'_i(s, a) - V(s))), w_max)   (AWR)
  Q:  L_Q = mean_i mean (Q_i(s, a) - y)^2,  y = r + gamma (1 - terminal) V(s')
Q' are Polyak-averaged target critics; the actor and critic steps use the freshly updated V.
tau = ``iql.expectile``, beta = ``iql.temperature``, w_max = ``iql.max_weight``.
Policy: ``common.TanhMeanGaussianActor`` as in the reference code (acting deterministically
with tanh(mean) for evaluation).

Online fine-tuning (``iql_ft``): the same updates on batches of round(beta B) rows from D_off
and the rest from D_on (``replay.sample_mixed``); the registry fixes beta = 0.5.
info["td_error"] = mean |y - Q_i(s, a)| on a D_on batch where it can move beta; with the
registry's fixed beta it is nan (``protocol.make_update_many``).
"""
import flax
import jax
import jax.numpy as jnp
import optax

from wombet_jax.agents import common
from wombet_jax.agents.protocol import Agent
from wombet_jax.networks import ValueNet, apply_ensemble, hidden_dims, init_ensemble


@flax.struct.dataclass
class IQLState:
  actor_params: object
  critic_params: object          # stacked (N_Q, ...)
  target_critic_params: object
  value_params: object
  actor_opt: object
  critic_opt: object
  value_opt: object
  step: jax.Array


def validate(cfg) -> None:
  i = cfg.iql
  common.require(0.0 < i.expectile < 1.0, "iql.expectile", i.expectile, "must lie in (0, 1)")
  common.check_positive(i, "iql", ("temperature", "max_weight"))


def expectile_loss(u: jax.Array, tau: float) -> jax.Array:
  """mean |tau - 1(u < 0)| u^2 (asymmetric L2; tau > 0.5 fits an upper expectile)."""
  weight = jnp.where(u < 0, 1.0 - tau, tau)
  return jnp.mean(weight * u ** 2)


def awr_weights(adv: jax.Array, temperature: float, max_weight: float) -> jax.Array:
  """min(exp(temperature * adv), max_weight); no gradient (weights are targets)."""
  return jax.lax.stop_gradient(jnp.minimum(jnp.exp(temperature * adv), max_weight))


def make_iql(ctx) -> Agent:
  """IQL agent for ``ctx`` (protocol.AgentContext): sizes/rates from config.agent, rest config.iql."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  common.check_agent(cfg.agent, obs_dim, act_dim)
  validate(cfg)
  i = cfg.iql
  hid = hidden_dims(cfg.agent.hidden_size, cfg.agent.num_layers)
  actor = common.TanhMeanGaussianActor(act_dim, hid)
  critic, n_q = common.twin_critic(cfg)
  value = ValueNet(hid, layer_norm=bool(cfg.baselines.layer_norm))
  actor_tx, critic_tx = optax.adam(cfg.agent.actor_lr), optax.adam(cfg.agent.critic_lr)
  value_tx = optax.adam(cfg.agent.critic_lr)
  gamma, tau = float(cfg.agent.discount), float(cfg.agent.tau)

  def init(key):
    k_a, k_c, k_v = jax.random.split(key, 3)
    obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
    ap, vp = actor.init(k_a, obs), value.init(k_v, obs)
    cp = init_ensemble(critic, k_c, n_q, obs, act)
    return IQLState(actor_params=ap, critic_params=cp, target_critic_params=cp, value_params=vp,
                    actor_opt=actor_tx.init(ap), critic_opt=critic_tx.init(cp),
                    value_opt=value_tx.init(vp), step=jnp.zeros((), jnp.int32))

  def q_all(params, obs, action):
    return apply_ensemble(critic, params, obs, action)

  def act(state, key, obs):
    return common.gaussian_sample(key, *actor.apply(state.actor_params, obs))

  def act_deterministic(state, obs):
    return actor.apply(state.actor_params, obs)[0]

  def value_loss(vp, obs, q_target):
    return expectile_loss(q_target - value.apply(vp, obs), i.expectile)

  def actor_loss(ap, obs, action, adv):
    mean, log_std = actor.apply(ap, obs)
    w = awr_weights(adv, i.temperature, i.max_weight)
    return -jnp.mean(w * common.gaussian_log_prob(mean, log_std, action))

  def critic_loss(cp, obs, action, y):
    q = q_all(cp, obs, action)
    return jnp.mean((q - y) ** 2), q

  def bellman_target(vp, batch):
    v_next = value.apply(vp, common.field(batch, "next_obs"))
    term = common.field(batch, "terminal")
    return jax.lax.stop_gradient(common.field(batch, "reward") + gamma * (1.0 - term) * v_next)

  def losses(state, key, batch, aux):
    """The three losses at ``state`` (each with the V of ``state``, i.e. before V's step)."""
    del key, aux
    obs, action = common.field(batch, "obs"), common.field(batch, "action")
    q_t = jnp.min(q_all(state.target_critic_params, obs, action), axis=0)
    adv = q_t - value.apply(state.value_params, obs)
    return dict(value_loss=value_loss(state.value_params, obs, q_t),
                actor_loss=actor_loss(state.actor_params, obs, action, adv),
                critic_loss=critic_loss(state.critic_params, obs, action,
                                        bellman_target(state.value_params, batch))[0])

  def update(state, key, batch, aux):
    del key, aux
    common.check_batch(batch, obs_dim, act_dim)
    obs, action = common.field(batch, "obs"), common.field(batch, "action")
    q_t = jax.lax.stop_gradient(jnp.min(q_all(state.target_critic_params, obs, action), axis=0))
    v_loss, gv = jax.value_and_grad(value_loss)(state.value_params, obs, q_t)
    vp, v_opt = common.apply_grads(value_tx, gv, state.value_opt, state.value_params)

    adv = q_t - value.apply(vp, obs)
    a_loss, ga = jax.value_and_grad(actor_loss)(state.actor_params, obs, action, adv)
    ap, a_opt = common.apply_grads(actor_tx, ga, state.actor_opt, state.actor_params)

    y = bellman_target(vp, batch)
    (c_loss, q), gc = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic_params, obs, action, y)
    cp, c_opt = common.apply_grads(critic_tx, gc, state.critic_opt, state.critic_params)
    new = IQLState(actor_params=ap, critic_params=cp,
                   target_critic_params=common.polyak(cp, state.target_critic_params, tau),
                   value_params=vp, actor_opt=a_opt, critic_opt=c_opt, value_opt=v_opt,
                   step=state.step + 1)
    return new, dict(value_loss=v_loss, actor_loss=a_loss, critic_loss=c_loss,
                     q_mean=jnp.mean(q), adv_mean=jnp.mean(adv),
                     td_abs=jnp.mean(jnp.abs(y - q)))

  def td_abs(state, key, batch, aux):
    del key, aux
    y = bellman_target(state.value_params, batch)
    q = q_all(state.critic_params, common.field(batch, "obs"), common.field(batch, "action"))
    return jnp.mean(jnp.abs(y - q))

  return common.assemble(
      cfg, init=init, act=act, act_deterministic=act_deterministic, update=update,
      td_abs=td_abs, losses=losses,
      extras=dict(q_values=lambda s, o, a: q_all(s.critic_params, o, a),
                  target_q_values=lambda s, o, a: q_all(s.target_critic_params, o, a),
                  value=lambda s, o: value.apply(s.value_params, o),
                  policy=lambda s, o: actor.apply(s.actor_params, o)))
