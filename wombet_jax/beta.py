"""Offline/online mixing ratio beta (docs/method.md step 6, paper sec. 4.6).

A larger beta takes more of each batch from D_off (stabilising a critic that fits the online
data badly); a smaller beta takes more from D_on (less bias once the critic is reliable).

Adaptive rule, applied once per call of ``update`` (the loop calls it once per env step, i.e.
once per block of G gradient updates, with the agent's delta; W therefore counts env steps):
  delta_k      = mean |TD error| on a batch from D_on (computed by the caller)
  delta_bar_k  = (1 - rho) delta_bar_{k-1} + rho delta_k,  with delta_bar_1 = delta_1
                 (seeding the EMA with the first value avoids a long bias towards 0 at rho=0.01)
  delta_ref    = mean(delta_1, ..., delta_W): the running mean of the raw TD error over the
                 first W = warmup_updates calls, frozen afterwards
  beta_k       = beta_max                                       for k <= W (warm-up)
  beta_k       = clip(beta_min + (beta_max - beta_min) delta_bar_k / delta_ref,
                      beta_min, beta_max)                       for k > W
Warm-up holds beta at beta_max because the rule itself gives beta_max when delta_bar equals
delta_ref, so beta is continuous at the end of warm-up, and an unfitted critic should lean on
the offline data. Mode "fixed" keeps beta = beta_fixed; ``update`` would still track
delta_bar, but the loop does not call it there (below).

``moves(cfg)`` says, from the config alone, whether the rule can change beta at all;
``can_move(cfg, has_offline)`` adds that without D_off beta selects nothing. Where beta cannot
change, the agents skip the TD-error batch and the loop skips ``update``, so the BetaState
stays as it was initialised.
"""
import flax
import jax
import jax.numpy as jnp

from wombet_jax.checks import Section

MODES = ("adaptive", "fixed")
TD_ERRORS = ("absolute", "relative")  # delta_k: mean |TD error|, or over mean |target|


@flax.struct.dataclass
class BetaState:
  """Mixing-ratio state; all fields are scalars so a seed axis can be vmapped over."""
  beta: jax.Array       # () float32, current fraction of each batch drawn from D_off
  delta_bar: jax.Array  # () float32, EMA of the online TD error
  delta_ref: jax.Array  # () float32, mean TD error over the first W updates (frozen after)
  count: jax.Array      # () int32, number of update calls so far


def validate(cfg) -> None:
  """Raises UserError naming the first invalid field of the ``sampling`` config section."""
  s = Section(cfg, "sampling")
  s.choice("mode", MODES)
  s.choice("td_error", TD_ERRORS)
  for f in ("beta_fixed", "beta_min", "beta_max"):
    s.number(f, 0.0, 1.0)
  s.number("rho", 0.0, 1.0, lo_open=True)
  s.at_most("beta_min", "beta_max")
  s.integer("warmup_updates")


def moves(cfg) -> bool:
  """False when every call of ``update`` returns the initial beta: mode "fixed", or an
  adaptive rule whose clip range is one point (beta_min == beta_max)."""
  validate(cfg)
  return cfg.mode == "adaptive" and cfg.beta_min < cfg.beta_max


def init(cfg) -> BetaState:
  """Initial state: beta_max for "adaptive" (see module doc), beta_fixed for "fixed"."""
  validate(cfg)
  beta0 = cfg.beta_max if cfg.mode == "adaptive" else cfg.beta_fixed
  return BetaState(beta=jnp.asarray(beta0, jnp.float32),
                   delta_bar=jnp.zeros((), jnp.float32),
                   delta_ref=jnp.zeros((), jnp.float32),
                   count=jnp.zeros((), jnp.int32))


def can_move(cfg, has_offline: bool) -> bool:
  """Whether beta can change in a run, known at trace time: it needs D_off (without it beta
  selects nothing) and a rule that ``moves``. Where it cannot, the agents skip the TD batch
  (delta = nan) and ``step`` leaves the state as it is."""
  return has_offline and moves(cfg)


def step(state: BetaState, delta: jax.Array, cfg, has_offline: bool) -> BetaState:
  """The once-per-env-step beta update after an agent's updates: ``update`` with the agent's
  delta where ``can_move``, else ``state`` unchanged."""
  return update(state, delta, cfg) if can_move(cfg, has_offline) else state


def update(state: BetaState, td_abs_mean: jax.Array, cfg) -> BetaState:
  """One step of the adaptive-beta rule of sec. 4.6 (or the "fixed" ablation); jit-safe."""
  validate(cfg)
  delta = jnp.asarray(td_abs_mean, jnp.float32)
  first = state.count == 0
  delta_bar = jnp.where(first, delta, (1.0 - cfg.rho) * state.delta_bar + cfg.rho * delta)
  warm = state.count < int(cfg.warmup_updates)
  n = state.count.astype(jnp.float32)
  delta_ref = jnp.where(warm, (state.delta_ref * n + delta) / (n + 1.0), state.delta_ref)
  if cfg.mode == "fixed":
    beta = jnp.asarray(cfg.beta_fixed, jnp.float32)
  else:
    # The floor only guards a degenerate all-zero warm-up (e.g. constant rewards fitted exactly).
    ratio = delta_bar / jnp.maximum(delta_ref, 1e-8)
    rule = jnp.clip(cfg.beta_min + (cfg.beta_max - cfg.beta_min) * ratio,
                    cfg.beta_min, cfg.beta_max)
    beta = jnp.where(warm, jnp.asarray(cfg.beta_max, jnp.float32), rule)
  return BetaState(beta=beta.astype(jnp.float32), delta_bar=delta_bar.astype(jnp.float32),
                   delta_ref=delta_ref.astype(jnp.float32),
                   count=(state.count + 1).astype(jnp.int32))
