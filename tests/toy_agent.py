"""A toy algorithm, written the way a new algorithm is added (wombet_jax/agents/registry.py):
this one agent file, one registry entry and one config section (``toy``), used by
tests/test_baselines.py to run it through the shared loop and runner.

The agent is a linear deterministic policy a = tanh(W s + b) with Gaussian exploration,
trained by regression of a onto the batch's actions (behaviour cloning of D_on, a proper
gradient step with a loss). It logs one diagnostic of its own, ``weight_norm`` = |W|_F, by
naming it in ``metrics``: the runner then writes it into every metrics row.
"""
import flax
import jax
import jax.numpy as jnp
import optax

from wombet_jax.agents.protocol import Agent, AgentContext, jit_agent, make_update_many
from wombet_jax.checks import Section


@flax.struct.dataclass
class ToyState:
  w: jax.Array    # (act_dim, obs_dim)
  b: jax.Array    # (act_dim,)
  opt: optax.OptState


def validate(config) -> None:
  """The ``toy`` section: the exploration noise and the learning rate."""
  s = Section(config.toy, "toy")
  s.number("noise", 0.0, 1.0)
  s.number("learning_rate", 0.0, 1.0, lo_open=True)


def make(ctx: AgentContext) -> Agent:
  cfg = ctx.config
  validate(cfg)
  noise, tx = float(cfg.toy.noise), optax.sgd(float(cfg.toy.learning_rate))

  def init(key):
    w = 0.01 * jax.random.normal(key, (ctx.act_dim, ctx.obs_dim))
    b = jnp.zeros((ctx.act_dim,))
    return ToyState(w=w, b=b, opt=tx.init((w, b)))

  def act_deterministic(state, obs):
    return jnp.tanh(obs @ state.w.T + state.b)

  def act(state, key, obs):
    a = act_deterministic(state, obs)
    return jnp.clip(a + noise * jax.random.normal(key, a.shape), -1.0, 1.0)

  def fit_loss(params, batch):
    w, b = params
    return jnp.mean((jnp.tanh(batch.obs @ w.T + b) - batch.action) ** 2)

  def update(state, key, batch, aux):
    del key, aux
    loss, grads = jax.value_and_grad(fit_loss)((state.w, state.b), batch)
    updates, opt = tx.update(grads, state.opt)
    w, b = optax.apply_updates((state.w, state.b), updates)
    new = ToyState(w=w, b=b, opt=opt)
    return new, dict(fit_loss=loss, weight_norm=jnp.sqrt(jnp.sum(w ** 2)))

  # No critic, so no TD error (td_fn None: td_error is nan), and no exported actor.
  update_many = make_update_many(update, None, int(cfg.agent.batch_size), int(cfg.agent.utd),
                                 cfg.sampling)
  return jit_agent(Agent(init=init, act=act, act_deterministic=act_deterministic,
                         update=update, update_many=update_many,
                         metrics=("td_error", "weight_norm")))
