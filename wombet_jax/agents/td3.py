"""TD3 (Fujimoto et al., 2018): the deterministic-policy online baseline of paper sec. 5.1.

Deterministic actor mu(s) = tanh(MLP(s)), twin critics (``config.baselines``), target actor and
target critics. Critic target with target-policy smoothing (clipped noise):

  a' = clip(mu'(s') + clip(eps, -c, c), -1, 1),  eps ~ N(0, sigma^2 I),
  y  = r + gamma (1 - terminal) min_i Q'_i(s', a'),
  L_Q = mean_i mean_batch (Q_i(s, a) - y)^2.

Delayed policy update: every ``td3.policy_delay``-th call of ``update`` the actor ascends
Q_1(s, mu(s)) and the target networks move by Polyak averaging (tau); on the other calls actor
and targets are untouched. Exploration adds N(0, (td3.exploration_noise)^2) to mu(s).
"""
import flax
import jax
import jax.numpy as jnp
import optax

from wombet_jax.agents import common
from wombet_jax.agents.protocol import Agent
from wombet_jax.networks import DeterministicActor, apply_ensemble, hidden_dims, init_ensemble


@flax.struct.dataclass
class TD3State:
  actor_params: object
  critic_params: object         # stacked (N_Q, ...)
  target_actor_params: object
  target_critic_params: object
  actor_opt: object
  critic_opt: object
  step: jax.Array               # () int32, calls of update so far


def validate(cfg) -> None:
  t = cfg.td3
  common.require(t.policy_noise >= 0, "td3.policy_noise", t.policy_noise, "must be >= 0")
  common.require(t.noise_clip >= 0, "td3.noise_clip", t.noise_clip, "must be >= 0")
  common.require(t.exploration_noise >= 0, "td3.exploration_noise", t.exploration_noise,
                 "must be >= 0")
  common.check_positive(t, "td3", ("policy_delay",), integer=True)


def smoothed_target_action(mu_next: jax.Array, key: jax.Array, noise: float,
                           noise_clip: float) -> jax.Array:
  """a' = clip(mu'(s') + clip(sigma eps, -c, c), -1, 1) with eps = normal(key, mu.shape)."""
  eps = noise * jax.random.normal(key, mu_next.shape, mu_next.dtype)
  return jnp.clip(mu_next + jnp.clip(eps, -noise_clip, noise_clip), -1.0, 1.0)


def make_td3(ctx) -> Agent:
  """TD3 agent for ``ctx`` (protocol.AgentContext); sizes and rates from config.agent/td3."""
  cfg, obs_dim, act_dim = ctx.config, ctx.obs_dim, ctx.act_dim
  common.check_agent(cfg.agent, obs_dim, act_dim)
  validate(cfg)
  t = cfg.td3
  actor = DeterministicActor(act_dim, hidden_dims(cfg.agent.hidden_size, cfg.agent.num_layers))
  critic, n_q = common.twin_critic(cfg)
  actor_tx, critic_tx = optax.adam(cfg.agent.actor_lr), optax.adam(cfg.agent.critic_lr)
  gamma, tau = float(cfg.agent.discount), float(cfg.agent.tau)
  delay = int(t.policy_delay)

  def init(key):
    k_a, k_c = jax.random.split(key)
    obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
    ap = actor.init(k_a, obs)
    cp = init_ensemble(critic, k_c, n_q, obs, act)
    return TD3State(actor_params=ap, critic_params=cp, target_actor_params=ap,
                    target_critic_params=cp, actor_opt=actor_tx.init(ap),
                    critic_opt=critic_tx.init(cp), step=jnp.zeros((), jnp.int32))

  def q_all(params, obs, action):
    return apply_ensemble(critic, params, obs, action)

  def act_deterministic(state, obs):
    return actor.apply(state.actor_params, obs)

  def act(state, key, obs):
    mu = actor.apply(state.actor_params, obs)
    noise = t.exploration_noise * jax.random.normal(key, mu.shape, mu.dtype)
    return jnp.clip(mu + noise, -1.0, 1.0)

  def target(state, key, batch):
    """y of the module docstring (no gradient)."""
    next_obs = common.field(batch, "next_obs")
    a_next = smoothed_target_action(actor.apply(state.target_actor_params, next_obs), key,
                                    t.policy_noise, t.noise_clip)
    q_next = jnp.min(q_all(state.target_critic_params, next_obs, a_next), axis=0)
    term = common.field(batch, "terminal")
    return jax.lax.stop_gradient(common.field(batch, "reward") + gamma * (1.0 - term) * q_next)

  def critic_loss(params, obs, action, y):
    q = q_all(params, obs, action)
    return jnp.mean((q - y) ** 2), q

  def actor_loss(params, critic_params, obs):
    """-mean Q_1(s, mu(s)): the deterministic policy gradient uses the first critic."""
    q = apply_ensemble(critic, critic_params, obs, actor.apply(params, obs))[0]
    return -jnp.mean(q)

  def losses(state, key, batch, aux):
    del aux
    obs, action = common.field(batch, "obs"), common.field(batch, "action")
    y = target(state, key, batch)
    return dict(critic_loss=critic_loss(state.critic_params, obs, action, y)[0],
                actor_loss=actor_loss(state.actor_params, state.critic_params, obs))

  def update(state, key, batch, aux):
    del aux
    common.check_batch(batch, obs_dim, act_dim)
    obs, action = common.field(batch, "obs"), common.field(batch, "action")
    y = target(state, key, batch)
    (c_loss, q), g = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic_params, obs, action, y)
    cp, c_opt = common.apply_grads(critic_tx, g, state.critic_opt, state.critic_params)

    def actor_step(_):
      a_loss, ga = jax.value_and_grad(actor_loss)(state.actor_params, cp, obs)
      ap, a_opt = common.apply_grads(actor_tx, ga, state.actor_opt, state.actor_params)
      return (ap, a_opt, common.polyak(ap, state.target_actor_params, tau),
              common.polyak(cp, state.target_critic_params, tau), a_loss)

    def skip(_):
      return (state.actor_params, state.actor_opt, state.target_actor_params,
              state.target_critic_params, jnp.float32(jnp.nan))

    ap, a_opt, tap, tcp, a_loss = jax.lax.cond(state.step % delay == 0, actor_step, skip, None)
    new = TD3State(actor_params=ap, critic_params=cp, target_actor_params=tap,
                   target_critic_params=tcp, actor_opt=a_opt, critic_opt=c_opt,
                   step=state.step + 1)
    # nan on skipped steps; nanmean over a block of G updates gives the mean actor loss.
    return new, dict(critic_loss=c_loss, actor_loss=a_loss, q_mean=jnp.mean(q),
                     td_abs=jnp.mean(jnp.abs(y - q)))

  def td_abs(state, key, batch, aux):
    del aux
    y = target(state, key, batch)
    q = q_all(state.critic_params, common.field(batch, "obs"), common.field(batch, "action"))
    return jnp.mean(jnp.abs(y - q))

  return common.assemble(
      cfg, init=init, act=act, act_deterministic=act_deterministic, update=update,
      td_abs=td_abs, losses=losses,
      extras=dict(q_values=lambda s, o, a: q_all(s.critic_params, o, a),
                  target=lambda s, k, b: target(s, k, b)),
      optional_losses=("actor_loss",))  # nan on the skipped actor steps
