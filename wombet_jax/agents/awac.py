"""AWAC (Nair et al., 2020): offline-to-online baseline of paper sec. 5.3.

Critic (twin, Polyak targets Q'), no entropy term:
  y = r + gamma (1 - terminal) min_i Q'_i(s', a'),  a' ~ pi(.|s'),
  L_Q = mean_i mean (Q_i(s, a) - y)^2.
Actor: advantage-weighted maximum likelihood on the batch's actions,
  A(s, a) = min_i Q_i(s, a) - min_i Q_i(s, a~),  a~ ~ pi(.|s)  (one-sample estimate of V^pi),
  w = min(exp(A / lambda), w_max),  L_pi = -mean w log pi(a|s),
with lambda = ``awac.temperature`` and the freshly updated critic (update order: critic, actor,
targets). Policy: ``common.TanhMeanGaussianActor``; samples are clipped to [-1, 1].

Offline pretraining runs ``update`` on D_off; online fine-tuning the same updates on batches of
round(beta B) rows of D_off and the rest of D_on (``replay.sample_mixed``, beta fixed at 0.5 by
the registry) instead of AWAC's single growing buffer: same data, symmetric weighting.
info["td_error"] = mean |y - Q_i(s, a)| on a D_on batch where it can move beta; with the
registry's fixed beta it is nan (``protocol.make_update_many``).
"""
import flax
import jax
import jax.numpy as jnp
import optax

from wombet_jax.agents import common
from wombet_jax.agents.protocol import Agent
from wombet_jax.agents.iql import awr_weights
from wombet_jax.networks import apply_ensemble, hidden_dims, init_ensemble


@flax.struct.dataclass
class AWACState:
  actor_params: object
  critic_params: object          # stacked (N_Q, ...)
  target_critic_params: object
  actor_opt: object
  critic_opt: object
  step: jax.Array


def validate(cfg) -> None:
  common.check_positive(cfg.awac, "awac", ("temperature", "max_weight"))


def make_awac(ctx) -> Agent:
  """AWAC agent for ``ctx`` (protocol.AgentContext): sizes/rates config.agent, rest config.awac."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  common.check_agent(cfg.agent, obs_dim, act_dim)
  validate(cfg)
  w_cfg = cfg.awac
  hid = hidden_dims(cfg.agent.hidden_size, cfg.agent.num_layers)
  actor = common.TanhMeanGaussianActor(act_dim, hid)
  critic, n_q = common.twin_critic(cfg)
  actor_tx, critic_tx = optax.adam(cfg.agent.actor_lr), optax.adam(cfg.agent.critic_lr)
  gamma, tau = float(cfg.agent.discount), float(cfg.agent.tau)
  inv_lambda = 1.0 / float(w_cfg.temperature)

  def init(key):
    k_a, k_c = jax.random.split(key)
    obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
    ap = actor.init(k_a, obs)
    cp = init_ensemble(critic, k_c, n_q, obs, act)
    return AWACState(actor_params=ap, critic_params=cp, target_critic_params=cp,
                     actor_opt=actor_tx.init(ap), critic_opt=critic_tx.init(cp),
                     step=jnp.zeros((), jnp.int32))

  def q_min(params, obs, action):
    return jnp.min(apply_ensemble(critic, params, obs, action), axis=0)

  def sample_pi(ap, key, obs):
    return common.gaussian_sample(key, *actor.apply(ap, obs))

  def act(state, key, obs):
    return sample_pi(state.actor_params, key, obs)

  def act_deterministic(state, obs):
    return actor.apply(state.actor_params, obs)[0]

  def target(state, key, batch):
    next_obs = common.field(batch, "next_obs")
    q_next = q_min(state.target_critic_params, next_obs,
                   sample_pi(state.actor_params, key, next_obs))
    term = common.field(batch, "terminal")
    return jax.lax.stop_gradient(common.field(batch, "reward") + gamma * (1.0 - term) * q_next)

  def critic_loss(cp, obs, action, y):
    q = apply_ensemble(critic, cp, obs, action)
    return jnp.mean((q - y) ** 2), q

  def advantage(cp, ap, key, obs, action):
    return jax.lax.stop_gradient(q_min(cp, obs, action) - q_min(cp, obs, sample_pi(ap, key, obs)))

  def actor_loss(ap, adv, obs, action):
    mean, log_std = actor.apply(ap, obs)
    w = awr_weights(adv, inv_lambda, w_cfg.max_weight)
    return -jnp.mean(w * common.gaussian_log_prob(mean, log_std, action))

  def losses(state, key, batch, aux):
    """Both losses at ``state`` (the actor's with the critic of ``state``), keys as update."""
    del aux
    k_t, k_a = jax.random.split(key)
    obs, action = common.field(batch, "obs"), common.field(batch, "action")
    adv = advantage(state.critic_params, state.actor_params, k_a, obs, action)
    return dict(critic_loss=critic_loss(state.critic_params, obs, action,
                                        target(state, k_t, batch))[0],
                actor_loss=actor_loss(state.actor_params, adv, obs, action))

  def update(state, key, batch, aux):
    del aux
    common.check_batch(batch, obs_dim, act_dim)
    k_t, k_a = jax.random.split(key)
    obs, action = common.field(batch, "obs"), common.field(batch, "action")
    y = target(state, k_t, batch)
    (c_loss, q), gc = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic_params, obs, action, y)
    cp, c_opt = common.apply_grads(critic_tx, gc, state.critic_opt, state.critic_params)
    adv = advantage(cp, state.actor_params, k_a, obs, action)
    a_loss, ga = jax.value_and_grad(actor_loss)(state.actor_params, adv, obs, action)
    ap, a_opt = common.apply_grads(actor_tx, ga, state.actor_opt, state.actor_params)
    new = AWACState(actor_params=ap, critic_params=cp,
                    target_critic_params=common.polyak(cp, state.target_critic_params, tau),
                    actor_opt=a_opt, critic_opt=c_opt, step=state.step + 1)
    return new, dict(critic_loss=c_loss, actor_loss=a_loss, q_mean=jnp.mean(q),
                     adv_mean=jnp.mean(adv), td_abs=jnp.mean(jnp.abs(y - q)))

  def td_abs(state, key, batch, aux):
    del aux
    y = target(state, key, batch)
    q = apply_ensemble(critic, state.critic_params, common.field(batch, "obs"),
                       common.field(batch, "action"))
    return jnp.mean(jnp.abs(y - q))

  return common.assemble(
      cfg, init=init, act=act, act_deterministic=act_deterministic, update=update,
      td_abs=td_abs, losses=losses,
      extras=dict(q_values=lambda s, o, a: apply_ensemble(critic, s.critic_params, o, a),
                  target_q_values=lambda s, o, a: apply_ensemble(critic, s.target_critic_params,
                                                                 o, a),
                  policy=lambda s, o: actor.apply(s.actor_params, o)))
