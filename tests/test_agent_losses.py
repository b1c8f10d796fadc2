"""Every algorithm's losses, imported from its module, on small hand-made batches and networks
with hand-set parameters, against the formulas written out here in numpy. The values are
chosen so that a plausible wrong formula gives another number: the critics disagree (min,
mean and first member differ), the entropy and penalty terms are large, the expectile sees
both signs, some AWR/AWAC weights are clipped, the CQL calibration bound is active on some
rows only."""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from wombet_jax.agents import awac, bc, cql, iql, sac, td3
from wombet_jax.envs.base import Transition
from wombet_jax.networks import Actor

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


# --- hand-set networks: one observation and one action dimension -----------------------------
class LinearQ(nn.Module):
  """Q(s, a) = k_s s + k_a a + b."""

  @nn.compact
  def __call__(self, obs, action):
    return nn.Dense(1)(jnp.concatenate([obs, action], -1))[..., 0]


class LinearV(nn.Module):
  @nn.compact
  def __call__(self, obs):
    return nn.Dense(1)(obs)[..., 0]


class GaussianHead(nn.Module):
  """(mean, log_std) = (w s + b, l): a tanh-Gaussian actor's outputs; ``squash``: tanh(w s + b)
  as the mean (the tanh-mean Gaussian actor)."""
  squash: bool = False

  @nn.compact
  def __call__(self, obs):
    mean = nn.Dense(1)(obs)
    mean = jnp.tanh(mean) if self.squash else mean
    log_std = self.param("log_std", nn.initializers.zeros, (1,))
    return mean, jnp.broadcast_to(log_std, mean.shape)


class TanhLinear(nn.Module):
  @nn.compact
  def __call__(self, obs):
    return jnp.tanh(nn.Dense(1)(obs))


def dense(k, b):
  return {"kernel": jnp.asarray(k, jnp.float32).reshape(-1, 1),
          "bias": jnp.asarray([b], jnp.float32)}


def critics(*members):
  """Stacked LinearQ parameters of members (k_s, k_a, b)."""
  one = [{"params": {"Dense_0": dense([ks, ka], b)}} for ks, ka, b in members]
  return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *one)


def gaussian(w, b, log_std):
  return {"params": {"Dense_0": dense([w], b), "log_std": jnp.asarray([log_std], jnp.float32)}}


def q_np(members, obs, action):
  """(N, B) Q values of members (k_s, k_a, b) in numpy."""
  return np.stack([ks * obs[..., 0] + ka * action[..., 0] + b for ks, ka, b in members])


BATCH = Transition(obs=jnp.array([[0.2], [-0.4], [1.0]]),
                   action=jnp.array([[0.5], [-0.3], [0.9]]),
                   reward=jnp.array([1.0, -0.5, 0.2]),
                   next_obs=jnp.array([[0.3], [0.0], [-0.8]]),
                   terminal=jnp.array([0.0, 1.0, 0.0]), done=jnp.array([0.0, 1.0, 0.0]))
NP = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), BATCH)
# Two critics whose order changes across the batch: min, mean and member 0 all differ.
MEMBERS = ((1.0, 2.0, 0.0), (-1.0, 0.5, 1.0))
TARGETS = ((0.5, -1.0, 0.3), (2.0, 1.0, -0.2))


def tanh_gaussian_np(eps, mean, log_std):
  """(a, log pi(a)) of a = tanh(mean + std eps)."""
  pre = mean + np.exp(log_std) * eps
  a = np.tanh(pre)
  return a, np.sum(-0.5 * eps ** 2 - HALF_LOG_2PI - log_std - np.log(1 - a ** 2), -1)


def test_hand_made_critics_disagree():
  q = q_np(MEMBERS, NP.obs, NP.action)
  assert np.any(q[0] < q[1]) and np.any(q[0] > q[1])
  qt = q_np(TARGETS, NP.next_obs, NP.action)
  assert np.any(qt[0] < qt[1]) and np.any(qt[0] > qt[1])


# --- SAC --------------------------------------------------------------------------------------
SAC_NETS = sac.Networks(Actor("tanh_gaussian", GaussianHead()), LinearQ())
SAC_HP = sac.Hyperparameters(num_critics=2, critic_subset=2, gamma=0.9, tau=0.5, lambda_q=0.5,
                             target_entropy=-1.0)
SAC_ACTOR = gaussian(0.5, 0.1, -0.5)


def test_sac_critic_target_is_min_over_critics_minus_entropy_and_penalty():
  key, log_alpha = jax.random.PRNGKey(0), math.log(0.3)
  u = lambda o, a: jnp.sum(a ** 2, -1) + o[..., 0]
  y, pen = sac.critic_target(SAC_NETS, SAC_HP, SAC_ACTOR, critics(*TARGETS),
                             jnp.float32(log_alpha), BATCH, key, u)
  eps = np.asarray(jax.random.normal(jax.random.split(key)[0], (3, 1)), np.float64)
  a, logp = tanh_gaussian_np(eps, 0.5 * NP.next_obs + 0.1, -0.5)
  q_min = q_np(TARGETS, NP.next_obs, a).min(0)
  u_np = a[:, 0] ** 2 + NP.next_obs[:, 0]
  want = NP.reward + 0.9 * (1 - NP.terminal) * (q_min - 0.3 * logp - 0.5 * u_np)
  np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(pen, np.mean(0.5 * u_np), rtol=1e-5)
  np.testing.assert_allclose(y[1], NP.reward[1])   # terminal: r only
  # Without a penalty the target is higher by gamma lambda u on the non-terminal rows.
  y0, pen0 = sac.critic_target(SAC_NETS, SAC_HP, SAC_ACTOR, critics(*TARGETS),
                               jnp.float32(log_alpha), BATCH, key)
  np.testing.assert_allclose(y0 - y, 0.9 * (1 - NP.terminal) * 0.5 * u_np, rtol=1e-5,
                             atol=1e-6)
  assert float(pen0) == 0.0


def test_sac_critic_actor_and_temperature_losses():
  y = jnp.array([0.5, -1.0, 2.0])
  loss, q = sac.critic_loss(SAC_NETS, critics(*MEMBERS), BATCH, y)
  q_hand = q_np(MEMBERS, NP.obs, NP.action)
  np.testing.assert_allclose(q, q_hand, rtol=1e-6)
  np.testing.assert_allclose(loss, np.mean((q_hand - np.asarray(y)) ** 2), rtol=1e-6)

  key, alpha = jax.random.PRNGKey(1), 0.7
  a_loss, logp = sac.actor_loss(SAC_NETS, SAC_ACTOR, critics(*MEMBERS), alpha, BATCH.obs, key)
  eps = np.asarray(jax.random.normal(key, (3, 1)), np.float64)
  a, logp_hand = tanh_gaussian_np(eps, 0.5 * NP.obs + 0.1, -0.5)
  np.testing.assert_allclose(logp, logp_hand, rtol=1e-5)
  # The actor ascends the MEAN over critics (not the min).
  want = np.mean(alpha * logp_hand - q_np(MEMBERS, NP.obs, a).mean(0))
  np.testing.assert_allclose(a_loss, want, rtol=1e-5)

  entropy = -float(np.mean(logp_hand))
  t_loss = sac.alpha_loss(jnp.float32(math.log(alpha)), entropy, SAC_HP.target_entropy)
  np.testing.assert_allclose(t_loss, alpha * (entropy + 1.0), rtol=1e-5)
  # Its gradient lowers alpha while the entropy is above the target and raises it below.
  grad = jax.grad(sac.alpha_loss)(jnp.float32(0.0), 0.5, -1.0)
  assert float(grad) > 0 and float(jax.grad(sac.alpha_loss)(jnp.float32(0.0), -2.0, -1.0)) < 0


# --- TD3 --------------------------------------------------------------------------------------
TD3_NETS = td3.Networks(Actor("deterministic", TanhLinear(), noise=0.1), LinearQ())
TD3_HP = td3.Hyperparameters(gamma=0.9, tau=0.5, policy_noise=0.4, noise_clip=0.1,
                             policy_delay=2)
TD3_ACTOR = {"params": {"Dense_0": dense([1.5], -0.2)}}


def test_td3_target_smooths_the_target_action_and_takes_the_min():
  key = jax.random.PRNGKey(2)
  y = td3.critic_target(TD3_NETS, TD3_HP, TD3_ACTOR, critics(*TARGETS), BATCH, key)
  eps = 0.4 * np.asarray(jax.random.normal(key, (3, 1)), np.float64)
  assert np.any(np.abs(eps) > 0.1)   # the noise clip is active
  a = np.clip(np.tanh(1.5 * NP.next_obs - 0.2) + np.clip(eps, -0.1, 0.1), -1, 1)
  want = NP.reward + 0.9 * (1 - NP.terminal) * q_np(TARGETS, NP.next_obs, a).min(0)
  np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_td3_actor_ascends_the_first_critic_only():
  got = td3.actor_loss(TD3_NETS, TD3_ACTOR, critics(*MEMBERS), BATCH.obs)
  mu = np.tanh(1.5 * NP.obs - 0.2)
  q = q_np(MEMBERS, NP.obs, mu)
  np.testing.assert_allclose(got, -np.mean(q[0]), rtol=1e-5)
  assert abs(np.mean(q[0]) - np.mean(q.min(0))) > 0.1   # not the min
  loss, _ = td3.critic_loss(TD3_NETS, critics(*MEMBERS), BATCH, jnp.zeros(3))
  np.testing.assert_allclose(loss, np.mean(q_np(MEMBERS, NP.obs, NP.action) ** 2), rtol=1e-6)


# --- IQL --------------------------------------------------------------------------------------
IQL_NETS = iql.Networks(Actor("tanh_mean_gaussian", GaussianHead(squash=True)), LinearQ(),
                        LinearV())
IQL_HP = iql.Hyperparameters(gamma=0.9, tau=0.5, expectile=0.8, temperature=2.0, max_weight=3.0)
MEAN_ACTOR = gaussian(0.7, -0.1, -0.3)


def gaussian_logp_np(mean, log_std, a):
  return np.sum(-0.5 * ((a - mean) / np.exp(log_std)) ** 2 - log_std - HALF_LOG_2PI, -1)


def test_iql_value_loss_is_asymmetric():
  vp = {"params": {"Dense_0": dense([1.0], 0.0)}}
  q_t = jnp.array([1.0, -2.0, 0.5])
  u = np.asarray(q_t) - NP.obs[:, 0]          # 0.8, -1.6, -0.5: both signs
  got = iql.value_loss(IQL_NETS, IQL_HP, vp, BATCH.obs, q_t)
  want = np.mean(np.where(u < 0, 0.2, 0.8) * u ** 2)
  np.testing.assert_allclose(got, want, rtol=1e-6)
  assert abs(want - np.mean(0.5 * u ** 2)) > 0.05   # a symmetric L2 differs


def test_iql_actor_weights_are_clipped_exponentiated_advantages():
  adv = jnp.array([-1.0, 0.2, 2.0])            # exp(2 * 2) = 54.6 is clipped to 3
  got = iql.actor_loss(IQL_NETS, IQL_HP, MEAN_ACTOR, BATCH, adv)
  w = np.minimum(np.exp(2.0 * np.asarray(adv)), 3.0)
  assert w[2] == 3.0
  logp = gaussian_logp_np(np.tanh(0.7 * NP.obs - 0.1), -0.3, NP.action)
  np.testing.assert_allclose(got, -np.mean(w * logp), rtol=1e-5)


def test_iql_critic_target_bootstraps_from_v():
  vp = {"params": {"Dense_0": dense([-2.0], 0.5)}}
  y = iql.critic_target(IQL_NETS, IQL_HP, vp, BATCH)
  want = NP.reward + 0.9 * (1 - NP.terminal) * (-2.0 * NP.next_obs[:, 0] + 0.5)
  np.testing.assert_allclose(y, want, rtol=1e-6)


# --- AWAC -------------------------------------------------------------------------------------
AWAC_NETS = awac.Networks(Actor("tanh_mean_gaussian", GaussianHead(squash=True)), LinearQ())
AWAC_HP = awac.Hyperparameters(gamma=0.9, tau=0.5, inv_lambda=1.0 / 0.5, max_weight=4.0)


def test_awac_advantage_and_weights():
  key = jax.random.PRNGKey(3)
  adv = awac.advantage(AWAC_NETS, critics(*MEMBERS), MEAN_ACTOR, key, BATCH)
  eps = np.asarray(jax.random.normal(key, (3, 1)), np.float64)
  a_pi = np.clip(np.tanh(0.7 * NP.obs - 0.1) + np.exp(-0.3) * eps, -1, 1)
  want = (q_np(MEMBERS, NP.obs, NP.action).min(0) - q_np(MEMBERS, NP.obs, a_pi).min(0))
  np.testing.assert_allclose(adv, want, rtol=1e-5, atol=1e-6)

  adv = jnp.array([-0.5, 0.3, 1.5])            # exp(1.5 / 0.5) = 20.1 is clipped to 4
  got = awac.actor_loss(AWAC_NETS, AWAC_HP, MEAN_ACTOR, adv, BATCH)
  w = np.minimum(np.exp(np.asarray(adv) / 0.5), 4.0)
  assert w[2] == 4.0
  logp = gaussian_logp_np(np.tanh(0.7 * NP.obs - 0.1), -0.3, NP.action)
  np.testing.assert_allclose(got, -np.mean(w * logp), rtol=1e-5)


# --- BC ---------------------------------------------------------------------------------------
def test_bc_losses():
  actor = Actor("tanh_mean_gaussian", GaussianHead(squash=True))
  mean = np.tanh(0.7 * NP.obs - 0.1)
  mse = bc.bc_loss(actor, "mse", MEAN_ACTOR, BATCH)
  np.testing.assert_allclose(mse, np.mean(np.sum((mean - NP.action) ** 2, -1)), rtol=1e-5)
  nll = bc.bc_loss(actor, "nll", MEAN_ACTOR, BATCH)
  np.testing.assert_allclose(nll, -np.mean(gaussian_logp_np(mean, -0.3, NP.action)), rtol=1e-5)
  assert abs(float(nll) - float(mse)) > 0.1


# --- CQL / Cal-QL -----------------------------------------------------------------------------
CQL_NETS = cql.Networks(Actor("tanh_gaussian", GaussianHead()), LinearQ())
CQL_HP = cql.Hyperparameters(gamma=0.9, tau=0.5, target_entropy=-1.0, alpha=2.0, num_samples=2,
                             act_dim=1)


def test_cql_critic_loss_adds_the_logsumexp_gap_and_cal_ql_clamps_it():
  # Hand-made proposals, n = 2 per set: uniform, pi(.|s) and pi(.|s') actions at the states.
  obs_rep = jnp.broadcast_to(BATCH.obs, (2, 3, 1))
  a_rand = jnp.array([[[0.1], [-0.9], [0.4]], [[0.8], [0.2], [-0.5]]])
  a_pi = jnp.array([[[0.3], [0.0], [-0.2]], [[-0.6], [0.7], [0.9]]])
  logp_pi = jnp.array([[-0.5, 0.2, 1.0], [0.3, -1.2, 0.0]])
  a_next = jnp.array([[[-0.1], [0.5], [0.6]], [[0.2], [-0.4], [-0.8]]])
  logp_next = jnp.array([[0.1, 0.4, -0.7], [-0.2, 0.9, 0.5]])
  props = (obs_rep, a_rand, a_pi, logp_pi, a_next, logp_next)
  y = jnp.array([0.5, -1.0, 2.0])
  cp = critics(*MEMBERS)
  lower = np.array([3.0, -np.inf, 1.0], np.float32)

  def hand(lower_bound):
    o = NP.obs
    q = lambda a: q_np(MEMBERS, o, np.asarray(a, np.float64))           # (N, B)
    terms = []
    for j in range(2):
      terms.append(q(a_rand[j]) - math.log(0.5))
    for a, lp in ((a_pi, logp_pi), (a_next, logp_next)):
      for j in range(2):
        qa = q(a[j])
        if lower_bound is not None:
          qa = np.maximum(qa, lower_bound)
        terms.append(qa - np.asarray(lp[j], np.float64))
    lse = np.log(np.sum(np.exp(np.stack(terms)), 0))                    # (N, B)
    gap = lse.mean(1) - q_np(MEMBERS, o, NP.action).mean(1)             # (N,)
    td = ((q_np(MEMBERS, o, NP.action) - np.asarray(y)) ** 2).mean(1)
    return np.mean(td + 2.0 * gap), np.mean(gap), np.mean(td)

  for bound in (None, lower):
    loss, (_, gap, td) = cql.critic_loss(CQL_NETS, CQL_HP, cp, BATCH, y, props, BATCH.obs,
                                         BATCH.action,
                                         None if bound is None else jnp.asarray(bound))
    want = hand(bound)
    np.testing.assert_allclose([loss, gap, td], want, rtol=1e-5)
  # The bound raises the gap (rows 0 and 2 are clamped up; row 1 has no bound).
  assert hand(lower)[1] > hand(None)[1] + 0.1
  # alpha = 0: the plain TD loss, no proposals evaluated (MOPO).
  plain = cql.critic_loss(CQL_NETS, CQL_HP._replace(alpha=0.0), cp, BATCH, y, None, None, None)
  np.testing.assert_allclose(plain[0], hand(None)[2], rtol=1e-6)


def test_cql_target_has_no_entropy_and_actor_uses_the_min():
  key = jax.random.PRNGKey(4)
  y = cql.critic_target(CQL_NETS, CQL_HP, SAC_ACTOR, critics(*TARGETS), BATCH, key)
  eps = np.asarray(jax.random.normal(key, (3, 1)), np.float64)
  a, _ = tanh_gaussian_np(eps, 0.5 * NP.next_obs + 0.1, -0.5)
  want = NP.reward + 0.9 * (1 - NP.terminal) * q_np(TARGETS, NP.next_obs, a).min(0)
  np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
  loss, logp = cql.actor_loss(CQL_NETS, SAC_ACTOR, critics(*MEMBERS), 0.7, BATCH.obs, key)
  a, logp_hand = tanh_gaussian_np(eps, 0.5 * NP.obs + 0.1, -0.5)
  np.testing.assert_allclose(logp, logp_hand, rtol=1e-5)
  np.testing.assert_allclose(loss, np.mean(0.7 * logp_hand - q_np(MEMBERS, NP.obs, a).min(0)),
                             rtol=1e-5)
