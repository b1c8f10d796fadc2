"""Tests for wombet_jax.agents.sac (RLPD-style SAC) and the shared networks it uses."""
import functools
import math

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import helpers
from wombet_jax.configs.base import get_config
from wombet_jax import beta as beta_lib
from wombet_jax import online, replay
from wombet_jax.agents import sac as sac_lib
from wombet_jax.agents.sac import make_sac
from wombet_jax.envs.base import Transition
from wombet_jax.networks import Critic, apply_ensemble, init_ensemble

OBS, ACT, N_Q = 3, 2, 3
TRACES = []


def penalty(aux, obs, act):
  """Stand-in for the world-model uncertainty; counts how often it is traced."""
  TRACES.append(1)
  return aux * (jnp.sum(act ** 2, -1) + 0.1 * jnp.sum(obs, -1))


def small_config(**agent):
  c = get_config()
  c.agent.update(dict(num_critics=N_Q, critic_subset=2, hidden_size=16, num_layers=2,
                      batch_size=32, utd=4, lambda_q=0.5, discount=0.99, tau=0.05,
                      critic_lr=3e-3))
  c.agent.update(agent)
  c.sampling.warmup_updates = 2
  return c


@pytest.fixture(scope="module")
def sac():
  c = small_config()
  return make_sac(OBS, ACT, c.agent, c.sampling, penalty_fn=penalty)


def critic_target(c, state, key, batch, aux, penalty_fn=penalty):
  """sac.critic_target (y only) with the networks and numbers of config ``c`` and the penalty
  bound to ``aux`` as make_sac binds it (none where lambda_Q = 0 or no penalty_fn)."""
  nets, hp = sac_lib.make_networks(ACT, c.agent), sac_lib.hyperparameters(ACT, c.agent)
  pen = (functools.partial(penalty_fn, aux) if penalty_fn is not None and hp.lambda_q != 0
         else None)
  return sac_lib.critic_target(nets, hp, state.actor.params, state.target_critic_params,
                               state.log_alpha.params, batch, key, pen)[0]


def _batch(key, n=32, terminal=None):
  ks = jax.random.split(key, 4)
  return Transition(obs=jax.random.normal(ks[0], (n, OBS)),
                    action=jax.random.uniform(ks[1], (n, ACT), minval=-1, maxval=1),
                    reward=jax.random.normal(ks[2], (n,)),
                    next_obs=jax.random.normal(ks[3], (n, OBS)),
                    terminal=jnp.zeros(n) if terminal is None else terminal, done=jnp.zeros(n))


def _fixed_heads(state, mean, log_std, q_consts, log_alpha):
  """Zero the output kernels so pi's (mean, log_std) and every target Q_i are known constants."""
  a = flax.core.unfreeze(state.actor.params)
  for name, bias in (("mean", mean), ("log_std", log_std)):
    a["params"][name]["kernel"] = jnp.zeros_like(a["params"][name]["kernel"])
    a["params"][name]["bias"] = jnp.asarray(bias, jnp.float32)
  t = flax.core.unfreeze(state.target_critic_params)
  out = t["params"]["mlp"]["out"]
  out["kernel"] = jnp.zeros_like(out["kernel"])
  out["bias"] = jnp.asarray(q_consts, jnp.float32).reshape(out["bias"].shape)
  return state.replace(actor=state.actor.replace(params=a), target_critic_params=t,
                       log_alpha=state.log_alpha.replace(
                           params=jnp.asarray(log_alpha, jnp.float32)))


def _hand_target(key, batch, mean, log_std, q_consts, alpha, gamma, lam, aux, n_sub=2):
  """Eq. (7) in numpy, following the documented key use: k_pi, k_sub = split(key); with
  n_sub = N_Q the min runs over every member."""
  k_pi, k_sub = jax.random.split(key)
  eps = np.asarray(jax.random.normal(k_pi, batch.next_obs.shape[:1] + (ACT,)))
  if n_sub == N_Q:
    q_min = np.min(np.asarray(q_consts))
  else:
    subset = np.asarray(jax.random.choice(k_sub, N_Q, (n_sub,), replace=False))
    q_min = np.min(np.asarray(q_consts)[subset])
  pre = np.asarray(mean) + np.exp(log_std) * eps
  a = np.tanh(pre)
  logp = np.sum(-0.5 * eps ** 2 - 0.5 * math.log(2 * math.pi) - np.asarray(log_std)
                - np.log(1 - a ** 2), -1)
  u = aux * (np.sum(a ** 2, -1) + 0.1 * np.sum(np.asarray(batch.next_obs), -1))
  soft = q_min - alpha * logp - lam * u
  y = np.asarray(batch.reward) + gamma * (1 - np.asarray(batch.terminal)) * soft
  return y, q_min, u


def test_critic_target_matches_hand_computation(sac):
  mean, log_std, q_consts, alpha = [0.3, -0.2], [-1.0, -0.5], [1.0, 2.0, 3.0], 0.2
  state = _fixed_heads(sac.init(jax.random.PRNGKey(0)), mean, log_std, q_consts, math.log(alpha))
  batch = _batch(jax.random.PRNGKey(1), n=6, terminal=jnp.array([0, 1, 0, 0, 1, 0.]))
  seen_min = set()
  for seed in range(8):     # several keys, so both subset minima (1 and 2) are exercised
    key = jax.random.PRNGKey(100 + seed)
    want, q_min, _ = _hand_target(key, batch, mean, log_std, q_consts, alpha, 0.99, 0.5, 2.0)
    got = critic_target(small_config(), state, key, batch, jnp.float32(2.0))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    seen_min.add(q_min)
  assert seen_min == {1.0, 2.0}
  # Terminal rows are exactly r.
  np.testing.assert_allclose(got[1], batch.reward[1], rtol=1e-6)

  # lambda_Q = 0 or no penalty_fn: the penalty term disappears.
  c = small_config(lambda_q=0.0)
  key = jax.random.PRNGKey(7)
  want, _, _ = _hand_target(key, batch, mean, log_std, q_consts, alpha, 0.99, 0.0, 2.0)
  for config, penalty_fn in ((c, penalty), (small_config(), None)):
    got = critic_target(config, state, key, batch, jnp.float32(2.0), penalty_fn)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  # make_sac binds the penalty the same way: with lambda_Q = 0 its update logs none.
  agent = make_sac(OBS, ACT, c.agent, c.sampling, penalty_fn=penalty)
  _, info = agent.update(state, key, batch, jnp.float32(2.0))
  assert float(info["penalty"]) == 0.0


def test_critic_target_with_the_whole_ensemble_is_the_min_over_all_members(sac):
  c = small_config(critic_subset=N_Q)
  full = make_sac(OBS, ACT, c.agent, c.sampling, penalty_fn=penalty)
  mean, log_std, alpha = [0.3, -0.2], [-1.0, -0.5], 0.2
  batch = _batch(jax.random.PRNGKey(1), n=6)
  for q_consts in ([3.0, 1.0, 2.0], [2.0, 3.0, -1.5]):
    state = _fixed_heads(full.init(jax.random.PRNGKey(0)), mean, log_std, q_consts,
                         math.log(alpha))
    for seed in range(3):
      key = jax.random.PRNGKey(200 + seed)
      want, q_min, _ = _hand_target(key, batch, mean, log_std, q_consts, alpha, 0.99, 0.5, 2.0,
                                    n_sub=N_Q)
      assert q_min == min(q_consts)
      got = critic_target(c, state, key, batch, jnp.float32(2.0))
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_update_logs_the_mean_penalty_of_its_targets(sac):
  # update's key use: k_target, k_actor = split(key); the target draws a' from k_target.
  mean, log_std, q_consts, alpha = [0.3, -0.2], [-1.0, -0.5], [1.0, 2.0, 3.0], 0.2
  state = _fixed_heads(sac.init(jax.random.PRNGKey(0)), mean, log_std, q_consts, math.log(alpha))
  batch, key = _batch(jax.random.PRNGKey(2)), jax.random.PRNGKey(3)
  _, info = sac.update(state, key, batch, jnp.float32(2.0))
  _, _, u = _hand_target(jax.random.split(key)[0], batch, mean, log_std, q_consts, alpha, 0.99,
                         0.5, 2.0)
  np.testing.assert_allclose(info["penalty"], 0.5 * np.mean(u), rtol=1e-5)


def test_layernorm_bounds_q_far_from_data(sac):
  params = sac.init(jax.random.PRNGKey(3)).critic.params
  mlp = params["params"]["mlp"]
  assert {"norm_0", "norm_1"} <= set(mlp), "LayerNorm must follow every hidden layer"
  # Eq. (8): the last hidden layer is relu(LN(z)) with |LN(z)_j| <= |scale_j| sqrt(d) + |bias_j|,
  # so |Q| <= sum_j |w_j| (|scale_j| sqrt(d) + |bias_j|) + |b|, whatever the input.
  d = 16
  norm, out = mlp["norm_1"], mlp["out"]
  h_max = jnp.abs(norm["scale"]) * math.sqrt(d) + jnp.abs(norm["bias"])          # (N, d)
  bound = jnp.sum(jnp.abs(out["kernel"][..., 0]) * h_max, -1) + jnp.abs(out["bias"][:, 0])
  b = _batch(jax.random.PRNGKey(4), n=64)
  far_obs, far_act = 1e3 * b.obs, 1e3 * b.action
  q_far = sac_lib.q_values(sac_lib.make_networks(ACT, small_config().agent), params, far_obs,
                           far_act)
  assert q_far.shape == (N_Q, 64)
  assert bool(jnp.all(jnp.abs(q_far) <= bound[:, None] + 1e-4))
  # The same critic without LayerNorm is not bounded: it grows with the input scale.
  plain = Critic((16, 16), layer_norm=False)
  p = init_ensemble(plain, jax.random.PRNGKey(3), N_Q, b.obs[:1], b.action[:1])
  q_plain = apply_ensemble(plain, p, far_obs, far_act)
  assert float(jnp.max(jnp.abs(q_plain))) > 10 * float(jnp.max(bound))


def test_act_shapes_and_range(sac):
  state = sac.init(jax.random.PRNGKey(0))
  obs = jax.random.normal(jax.random.PRNGKey(1), (4, 5, OBS))
  a = sac.act(state, jax.random.PRNGKey(2), obs)
  assert a.shape == (4, 5, ACT) and bool(jnp.all(jnp.abs(a) <= 1))
  assert sac.act(state, jax.random.PRNGKey(2), obs[0, 0]).shape == (ACT,)
  ad = sac.act_deterministic(state, obs)
  mean = state.actor.params["params"]["mean"]
  np.testing.assert_allclose(
      ad, jnp.tanh(sac_trunk(state, obs) @ mean["kernel"] + mean["bias"]), rtol=1e-5, atol=1e-6)


def sac_trunk(state, obs):
  """Actor trunk by hand: relu(Dense) per hidden layer."""
  t = state.actor.params["params"]["trunk"]
  x = obs
  for i in range(2):
    x = jax.nn.relu(x @ t[f"hidden_{i}"]["kernel"] + t[f"hidden_{i}"]["bias"])
  return x


def test_update_fits_terminal_rewards_polyak_and_temperature(sac):
  # With terminal = 1 the target is r itself, so the critic must regress onto the rewards.
  state0 = sac.init(jax.random.PRNGKey(5))
  batch = _batch(jax.random.PRNGKey(6), terminal=jnp.ones(32))
  state1, info = sac.update(state0, jax.random.PRNGKey(0), batch, jnp.float32(0.0))
  for leaf_t, leaf_0, leaf_1 in zip(*(jax.tree_util.tree_leaves(x) for x in (
      state1.target_critic_params, state0.target_critic_params, state1.critic.params))):
    np.testing.assert_allclose(leaf_t, 0.95 * leaf_0 + 0.05 * leaf_1, rtol=1e-5, atol=1e-6)
  # Entropy of a fresh tanh-Gaussian is above -|A| = -2, so the temperature must fall.
  assert float(info["entropy"]) > -ACT and float(info["alpha"]) < 1.0
  assert int(state1.step) == 1

  # 75 x update_many (G = 4) = 300 steps; online-only batches drawn from exactly these rows.
  # Capacity 256 and aux float32 match the next test, so both share one compiled update_many.
  online = replay.add_batch(replay.init_buffer(_row(batch), 256), batch)
  state = state1
  for i in range(75):
    state, info = sac.update_many(state, jax.random.PRNGKey(i), None, online, jnp.float32(0.75),
                                  jnp.float32(0.0))
  c = small_config()
  nets, hp = sac_lib.make_networks(ACT, c.agent), sac_lib.hyperparameters(ACT, c.agent)
  td_abs = lambda s: float(sac_lib.td_stats(nets, hp, s, jax.random.PRNGKey(2), batch)[0])
  td0, td1 = td_abs(state0), td_abs(state)
  assert td1 < 0.15 * td0, (td0, td1)


def _row(batch):
  return jax.tree_util.tree_map(lambda x: x[0], batch)


def test_update_many_runs_g_steps_reports_delta_and_never_retraces(sac):
  """G steps per call on batches mixed at the beta passed in; the delta it reports drives the
  loop's beta rule (here stepped as the loop does), and neither new data nor a new beta
  retraces."""
  c = small_config()
  state = sac.init(jax.random.PRNGKey(0))
  beta = beta_lib.init(c.sampling)
  ex = _row(_batch(jax.random.PRNGKey(0)))
  online = replay.add_batch(replay.init_buffer(ex, 256), _batch(jax.random.PRNGKey(1), 40))
  offline = replay.add_batch(replay.init_buffer(ex, 256), _batch(jax.random.PRNGKey(2), 100))
  state, info = sac.update_many(state, jax.random.PRNGKey(3), offline, online, beta.beta,
                                jnp.float32(1.0))
  beta = beta_lib.update(beta, info["td_error"], c.sampling)
  n_traces = len(TRACES)
  assert int(state.step) == c.agent.utd and int(beta.count) == 1
  assert float(info["offline_fraction"]) == pytest.approx(round(0.75 * 32) / 32)
  betas = []
  for i in range(6):    # new data, sizes, aux and beta values every call
    online = replay.add_batch(online, _batch(jax.random.PRNGKey(10 + i), 8))
    beta = beta.replace(beta=jnp.float32(0.25 + 0.1 * i)) if i == 3 else beta
    state, info = sac.update_many(state, jax.random.PRNGKey(20 + i), offline, online,
                                  beta.beta, jnp.float32(0.1 * i))
    if i == 3:  # the batches use the beta passed in
      assert float(info["offline_fraction"]) == pytest.approx(round(0.55 * 32) / 32)
    beta = beta_lib.update(beta, info["td_error"], c.sampling)
    betas.append(float(beta.beta))
    assert np.isfinite(float(info["critic_loss"])) and np.isfinite(float(info["td_error"]))
  assert len(TRACES) == n_traces, "update_many retraced for new data or a new beta"
  assert all(0.25 <= b <= 0.75 for b in betas) and int(beta.count) == 7
  assert int(state.step) == 7 * c.agent.utd
  # No offline buffer: the SAC-from-scratch path.
  state, info = sac.update_many(state, jax.random.PRNGKey(9), None, online, beta.beta, 1.0)
  assert float(info["offline_fraction"]) == 0.0 and int(state.step) == 8 * c.agent.utd


def _assert_trees_equal(a, b):
  assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


def test_update_many_without_offline_data_skips_td_error(sac):
  """offline=None: beta selects nothing, so no TD batch (td_error nan); the G updates are
  those of the documented key use (k_scan, k_batch, k_td = split(key, 3))."""
  c = small_config()
  state = sac.init(jax.random.PRNGKey(0))
  online = replay.add_batch(replay.init_buffer(_row(_batch(jax.random.PRNGKey(0))), 256),
                            _batch(jax.random.PRNGKey(1), 64))
  key, aux = jax.random.PRNGKey(4), jnp.float32(0.5)
  new, info = sac.update_many(state, key, None, online, jnp.float32(0.4), aux)
  assert np.isnan(float(info["td_error"]))
  st = state
  for k in jax.random.split(jax.random.split(key, 3)[0], c.agent.utd):
    k_sample, k_update = jax.random.split(k)
    st, _ = sac.update(st, k_update, replay.sample(online, k_sample, c.agent.batch_size), aux)
  jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6),
                         new, st)


def test_update_many_skips_td_error_where_the_rule_cannot_move_beta(sac):
  """Mode "fixed" or beta_min == beta_max: td_error nan (the loop then leaves beta alone),
  while the learning equals that of the adaptive rule at the same beta (same batches)."""
  ex = _row(_batch(jax.random.PRNGKey(0)))
  online = replay.add_batch(replay.init_buffer(ex, 256), _batch(jax.random.PRNGKey(1), 40))
  offline = replay.add_batch(replay.init_buffer(ex, 256), _batch(jax.random.PRNGKey(2), 100))
  state = sac.init(jax.random.PRNGKey(0))
  key, aux = jax.random.PRNGKey(6), jnp.float32(1.0)
  beta = beta_lib.init(small_config().sampling)
  moved, moved_info = sac.update_many(state, key, offline, online, beta.beta, aux)
  assert np.isfinite(float(moved_info["td_error"]))
  fixed = small_config()
  fixed.sampling.mode, fixed.sampling.beta_fixed = "fixed", float(beta.beta)
  point = small_config()
  point.sampling.beta_min = point.sampling.beta_max
  for c in (fixed, point):
    assert not beta_lib.moves(c.sampling)
    agent = make_sac(OBS, ACT, c.agent, c.sampling, penalty_fn=penalty)
    new, info = agent.update_many(state, key, offline, online, beta.beta, aux)
    assert np.isnan(float(info["td_error"]))
    _assert_trees_equal(new, moved)
  assert beta_lib.moves(small_config().sampling)


def test_relative_td_error_is_absolute_over_target_scale(sac):
  """sampling.td_error="relative": delta = mean |y - Q| / mean |y| on the same D_on batch."""
  c = small_config()
  c.sampling.td_error = "relative"
  rel = make_sac(OBS, ACT, c.agent, c.sampling, penalty_fn=penalty)
  state = sac.init(jax.random.PRNGKey(0))
  beta = beta_lib.init(c.sampling).beta
  ex = _row(_batch(jax.random.PRNGKey(0)))
  online = replay.add_batch(replay.init_buffer(ex, 256), _batch(jax.random.PRNGKey(1), 64))
  offline = replay.add_batch(replay.init_buffer(ex, 256), _batch(jax.random.PRNGKey(2), 64))
  key, aux = jax.random.PRNGKey(5), jnp.float32(0.5)
  s_abs, i_abs = sac.update_many(state, key, offline, online, beta, aux)
  s_rel, i_rel = rel.update_many(state, key, offline, online, beta, aux)
  # The learning itself is unchanged; only the signal fed to the beta rule differs.
  jax.tree_util.tree_map(np.testing.assert_array_equal, s_abs, s_rel)
  _, k_batch, k_td = jax.random.split(key, 3)
  td_batch = replay.sample(online, k_batch, c.agent.batch_size)
  y = critic_target(c, s_abs, k_td, td_batch, aux)
  np.testing.assert_allclose(float(i_rel["td_error"]),
                             float(i_abs["td_error"]) / float(jnp.mean(jnp.abs(y))), rtol=1e-5)
  c.sampling.td_error = "scaled"
  with pytest.raises(ValueError, match="sampling.td_error='scaled'"):
    make_sac(OBS, ACT, c.agent, c.sampling)


def test_bad_config_raises():
  c = small_config(critic_subset=5)
  with pytest.raises(ValueError, match="critic_subset"):
    make_sac(OBS, ACT, c.agent, c.sampling)
  c = small_config(discount=1.0)
  with pytest.raises(ValueError, match="discount"):
    make_sac(OBS, ACT, c.agent, c.sampling)


# ---------------------------------------------------------------------------------------------
# Learning test on the tiny pure-JAX pointmass target task.
# Returns over 50 steps (wombet_jax/envs/pointmass.py): uniform-random actions about -63, a
# saturated PD controller about -13. "Solved" = deterministic-policy return >= THRESHOLD on 20
# fixed evaluation starts, i.e. 76% of the way from random to PD (the goal is reached and held
# within about 0.25 on average).
THRESHOLD = -25.0
CHUNK = 50                 # env steps between evaluations
MAX_STEPS = 1500
START_STEPS = 250          # uniform-random actions first, from-scratch runs only (as loop.py)
PD_GOAL = (1.0, 0.5)       # pointmass.TARGET_GOAL


def learning_config():
  c = get_config()
  # Small nets so 6 runs x ~1000 steps x G=12 fit in the CPU budget; critic_lr 3e-3 and five
  # critics keep from-scratch SAC stable at this update-to-data ratio.
  c.agent.update(dict(num_critics=5, critic_subset=2, hidden_size=64, num_layers=2,
                      batch_size=64, utd=12, lambda_q=0.0, actor_lr=1e-3, critic_lr=3e-3,
                      temp_lr=1e-3, init_temperature=1.0, discount=0.99))
  c.sampling.warmup_updates = 100
  return c


def rollout_returns(task, policy, key, num_episodes, length):
  states = jax.vmap(task.reset)(jax.random.split(key, num_episodes))

  def body(s, k):
    s, tr = jax.vmap(task.step)(s, policy(s.obs, k))
    return s, tr
  _, trs = jax.lax.scan(body, states, jax.random.split(jax.random.fold_in(key, 1), length))
  return trs, trs.reward.sum(0).mean()


@pytest.mark.slow
def test_sac_learns_pointmass_and_offline_data_halves_steps():
  from wombet_jax.envs import make_pair
  pair = make_pair("pointmass")
  task, length = pair.target, pair.episode_length
  c = learning_config()
  agent = make_sac(pair.obs_dim, pair.act_dim, c.agent, c.sampling)

  # D_off: 80 episodes of the PD controller with N(0, 0.1^2) action noise, in the target task.
  def noisy_pd(obs, k):
    noise = 0.1 * jax.random.normal(k, obs.shape[:-1] + (2,))
    return jnp.clip(helpers.pd_action(obs, PD_GOAL) + noise, -1, 1)
  trs, pd_return = jax.jit(lambda k: rollout_returns(task, noisy_pd, k, 80, length))(
      jax.random.PRNGKey(99))
  assert float(pd_return) > THRESHOLD + 4, "offline data must be good"
  flat = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), trs)
  example = jax.tree_util.tree_map(lambda x: x[0], flat)
  full = replay.add_batch(replay.init_buffer(example, 4000), flat)
  empty = replay.init_buffer(example, 4000)
  # Runs 0-2: from scratch; runs 3-5: same seeds with D_off. An empty D_off makes every batch
  # online-only (replay.offline_count), so runs 0-2 are exactly SAC from scratch.
  n_runs = 6
  offline = jax.tree_util.tree_map(lambda e, f: jnp.stack([e] * 3 + [f] * 3), empty, full)
  seeds = jnp.array([0, 1, 2, 0, 1, 2])

  # The loop's own online step (`wombet_jax.online`): env_step, then learn (update_many and
  # the beta rule) after every step; random actions only in the runs without D_off.
  spec = online.Online(pair=pair, agent=agent, sampling=c.sampling, uses_offline=True,
                       uses_model_penalty=False, keeps_model_data=False,
                       explore_randomly=True, start_steps=START_STEPS, learn_start=1,
                       steps=CHUNK)

  def init_run(seed, offline):
    k_env, k_agent, key = jax.random.split(jax.random.PRNGKey(seed), 3)
    return online.online_state(key, agent.init(k_agent), task.reset(k_env),
                               replay.init_buffer(example, MAX_STEPS), c.sampling,
                               agent.metrics, offline=offline)

  def run_chunk(s):
    def step(s, _):
      explore = (s.target_steps < START_STEPS) & (s.offline.size == 0)
      s = online.env_step(spec, s, explore)
      return online.learn(spec, s)[0], None
    return jax.lax.scan(step, s, None, length=CHUNK)[0]

  def evaluate(state):
    policy = lambda obs, k: agent.act_deterministic(state, obs)
    return rollout_returns(task, policy, jax.random.PRNGKey(1234), 20, length)[1]

  chunk_fn = jax.jit(jax.vmap(run_chunk))
  eval_fn = jax.jit(jax.vmap(evaluate))
  carry = jax.vmap(init_run)(seeds, offline)
  solved_at = np.full(n_runs, np.inf)
  returns = []
  for steps in range(CHUNK, MAX_STEPS + 1, CHUNK):
    carry = chunk_fn(carry)
    ret = np.asarray(eval_fn(carry.agent))
    returns.append(ret)
    solved_at = np.where(np.isinf(solved_at) & (ret >= THRESHOLD), steps, solved_at)
    if np.all(np.isfinite(solved_at)):
      break
  print(f"returns per eval (runs x evals):\n{np.round(np.stack(returns, 1), 1).tolist()}\n"
        f"solved_at={solved_at}")
  scratch, with_offline = solved_at[:3], solved_at[3:]
  assert np.all(np.isfinite(scratch)), f"SAC from scratch did not reach {THRESHOLD}: {solved_at}"
  assert np.mean(with_offline) <= 0.5 * np.mean(scratch), solved_at


def test_losses_are_the_ones_update_steps_on(sac):
  """The module's losses at `state` with update's key use (k_target, k_actor = split(key)):
  the critic and temperature losses equal the ones update reports (taken before its steps;
  the temperature's depends only on the actor's log-probabilities)."""
  c = small_config()
  nets, hp = sac_lib.make_networks(ACT, c.agent), sac_lib.hyperparameters(ACT, c.agent)
  state = sac.init(jax.random.PRNGKey(7))
  batch, key, aux = _batch(jax.random.PRNGKey(8)), jax.random.PRNGKey(9), jnp.float32(0.5)
  k_target, k_actor = jax.random.split(key)
  y, _ = sac_lib.critic_target(nets, hp, state.actor.params, state.target_critic_params,
                               state.log_alpha.params, batch, k_target,
                               functools.partial(penalty, aux))
  c_loss, _ = sac_lib.critic_loss(nets, state.critic.params, batch, y)
  alpha = jnp.exp(state.log_alpha.params)
  a_loss, logp = sac_lib.actor_loss(nets, state.actor.params, state.critic.params, alpha,
                                    batch.obs, k_actor)
  t_loss = sac_lib.alpha_loss(state.log_alpha.params, -jnp.mean(logp), hp.target_entropy)
  _, info = sac.update(state, key, batch, aux)
  np.testing.assert_allclose(float(c_loss), float(info["critic_loss"]), rtol=1e-6)
  np.testing.assert_allclose(float(t_loss), float(info["temperature_loss"]), rtol=1e-5)
  np.testing.assert_allclose(float(-jnp.mean(logp)), float(info["entropy"]), rtol=1e-5)
  assert np.isfinite(float(a_loss))
