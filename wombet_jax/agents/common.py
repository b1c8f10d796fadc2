"""Pieces shared by the agents: the batch check, a network's parameters bundled with their
optimiser state (``TrainState``), Polyak averaging, the TD error the beta rule reads, the
``baselines`` section (critic ensemble of the baselines) and ``assemble`` (an off-policy agent
from its pure functions).

Every agent follows the protocol of ``wombet_jax.agents.protocol``; networks and actors come
from ``wombet_jax.networks``.
"""
from typing import Any, Callable, Optional

import chex
import flax
import jax
import jax.numpy as jnp
import optax

from wombet_jax import replay
from wombet_jax.agents.protocol import Agent, jit_agent, make_update_many
from wombet_jax.checks import Section
from wombet_jax.networks import Critic, hidden_dims, init_ensemble


def check_batch(batch, obs_dim: int, act_dim: int) -> None:
  """Trace-time shape check of a transition batch (``envs.Transition``) at an agent's boundary."""
  chex.assert_shape(batch.obs, (None, obs_dim))
  n = batch.obs.shape[0]
  chex.assert_shape([batch.action], (n, act_dim))
  chex.assert_shape([batch.reward, batch.terminal, batch.done], (n,))
  chex.assert_shape(batch.next_obs, (n, obs_dim))


@flax.struct.dataclass
class TrainState:
  """One network's (or one learned scalar's) parameters and the optimiser state of them."""
  params: Any
  opt_state: Any

  @classmethod
  def create(cls, tx: optax.GradientTransformation, params) -> "TrainState":
    return cls(params=params, opt_state=tx.init(params))

  def apply_gradients(self, tx: optax.GradientTransformation, grads) -> "TrainState":
    """One optax step."""
    updates, opt_state = tx.update(grads, self.opt_state, self.params)
    return TrainState(params=optax.apply_updates(self.params, updates), opt_state=opt_state)


def polyak(params, target, tau: float):
  """target <- tau * params + (1 - tau) * target."""
  return optax.incremental_update(params, target, tau)


def td_abs(y: jax.Array, q: jax.Array) -> jax.Array:
  """Mean |y - Q_i(s, a)| over critics and batch, from the targets y (B,) and the critics'
  values q (N_Q, B): the delta_k that the beta rule reads (sec. 4.6)."""
  return jnp.mean(jnp.abs(y - q))


def init_actor_critic(nets, txs: tuple, num_critics: int, obs_dim: int, act_dim: int,
                      key: jax.Array) -> tuple[TrainState, TrainState]:
  """An actor and a critic ensemble (``nets.actor``, ``nets.critic``) initialised from
  ``key``, each bundled with its optimiser state (``txs``: actor's, critic's)."""
  k_a, k_c = jax.random.split(key)
  obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
  ap = nets.actor.init(k_a, obs)
  cp = init_ensemble(nets.critic, k_c, num_critics, obs, act)
  return TrainState.create(txs[0], ap), TrainState.create(txs[1], cp)


def validate_baselines(cfg) -> None:
  """Raises UserError naming the first invalid field of the ``baselines`` config section."""
  s = Section(cfg, "baselines")
  s.integer("num_critics")
  s.boolean("layer_norm")


def twin_critic(config) -> tuple:
  """Critic module and member count from ``config.baselines`` (twin critics by default)."""
  b = config.baselines
  validate_baselines(b)
  hid = hidden_dims(config.agent.hidden_size, config.agent.num_layers)
  return Critic(hid, layer_norm=bool(b.layer_norm)), int(b.num_critics)


def assemble(agent_cfg, sampling_cfg, *, init: Callable, act: Callable,
             act_deterministic: Callable, update: Callable, td_fn: Optional[Callable],
             batch_size: Optional[int] = None, ignore_nan: bool = True,
             sample_fn: Callable = replay.sample, **hooks) -> Agent:
  """The jitted Agent of an off-policy algorithm: its pure functions plus the G-update block
  of ``protocol.make_update_many`` (batch size ``agent_cfg.batch_size`` unless given, G =
  ``agent_cfg.utd``, delta = ``td_fn(state, key, batch, aux)`` on a D_on batch where beta can
  move by ``sampling_cfg``, ``td_fn`` None: no critic, td_error nan; ``ignore_nan``: means
  over the G steps skip the losses an agent leaves nan on some steps). ``sample_fn`` draws
  every batch's rows of each buffer; ``hooks``: the protocol's optional fields."""
  batch = int(agent_cfg.batch_size if batch_size is None else batch_size)
  update_many = make_update_many(update, td_fn, batch, int(agent_cfg.utd), sampling_cfg,
                                 sample_fn=sample_fn, ignore_nan=ignore_nan)
  return jit_agent(Agent(init=init, act=act, act_deterministic=act_deterministic,
                         update=update, update_many=update_many, **hooks))
