"""Shared defaults for every run; task configs derive from this and override fields.

Every field is documented where the choice is not the paper's. Sizes are static (they shape
compiled programs); nothing here changes during a run.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.env = "pointmass"            # task pair name, see wombet_jax.envs.registry
  c.algo = "wombet"              # see wombet_jax.agents.registry
  c.seed = 0                     # seeds are seed, seed+1, ..., seed+num_seeds-1
  c.num_seeds = 1                # vmapped (and sharded over devices) seed axis
  c.episode_length = 0           # 0: the task pair's own default
  c.compare = ""                 # comma-separated algos run with the same seeds, e.g. "sac"
  # Where metrics go besides metrics.jsonl (always written): comma-separated, from
  # "tensorboard" (<workdir>/tensorboard/) and "wandb" (<workdir>/wandb/, offline; needs
  # pip install "wombet_jax[wandb]"), e.g. "jsonl,tensorboard". See wombet_jax/harness/writers.py.
  c.writers = "jsonl"

  # Step 1: probabilistic ensemble world model (PETS).
  wm = c.world_model = ml_collections.ConfigDict()
  wm.ensemble_size = 7
  wm.num_elites = 5
  wm.hidden_size = 200
  wm.num_layers = 4
  wm.learning_rate = 1e-3
  wm.weight_decay = 5e-5
  wm.batch_size = 256
  wm.max_epochs = 50             # upper bound; holdout early stopping usually ends sooner
  wm.patience = 5                # epochs without holdout improvement before stopping
  wm.holdout_fraction = 0.2
  wm.capacity = 100_000          # fixed-size buffer of real transitions (D_src + D_on)
  # Departure from the paper (whose default is MOPO's max_std): max_std measures the learned
  # aleatoric noise, which does not grow off the data, while disagreement (std of the elite
  # means) does (tests/test_world_model.py checks both on a linear system). The paper's
  # bounds need u to grow with model error, so disagreement is the default; "max_std" (MOPO)
  # stays available.
  wm.uncertainty = "disagreement"  # "disagreement" (default) | "max_std" (MOPO)
  wm.improvement_threshold = 0.01  # relative holdout drop counted as improvement (mbrl-lib)
  wm.logvar_bound_coef = 0.01    # weight of the soft log-variance bound penalty (PETS)

  # Steps 1-2: MPC planner used in the real source env (PETS) and inside the model.
  pl = c.planner = ml_collections.ConfigDict()
  pl.method = "cem"              # "cem" | "mppi" | "icem" (wombet_jax/optimizers.py)
  pl.horizon = 30
  pl.population = 400
  pl.iterations = 5
  pl.num_elites = 64             # CEM elites (mbrl-lib: elite_ratio 0.16 of 400)
  pl.alpha = 0.1                 # CEM smoothing of mean/std between iterations
  pl.init_std = 0.5              # std of the first CEM iteration (actions live in [-1, 1])
  pl.particles = 20
  pl.propagation = "ts_inf"      # "ts_inf": member fixed per particle | "ts1": resampled per step
  pl.lambda_plan = 1.0           # uncertainty penalty in the planning objective (0: plain PETS)
  pl.discount = 0.99
  pl.mppi_temperature = 1.0
  pl.common_noise = True          # model noise shared by all candidates (common random numbers)
  # u and the particle's step from one all-elite pass (same objective to float rounding);
  # off here so the committed smoke/default results stay bit-reproducible, on in paper.py.
  pl.stepping_u = False
  pl.icem_noise_beta = 2.0       # iCEM: colored-noise exponent (0 white, 2 red)
  pl.icem_population_decay = 1.25  # iCEM: population at iteration i is population / decay^i
  pl.icem_keep_fraction = 0.3    # iCEM: share of elites kept into the next iteration / step
  # Penalty estimated on the first Q particles of every candidate while optimising (0: on all
  # of them); an unbiased estimator of the same objective (planner.py's docstring).
  pl.penalty_particles = 0

  # Step 1 at k=0: PETS in the real source env.
  pe = c.pets = ml_collections.ConfigDict()
  pe.random_episodes = 2
  pe.mpc_episodes = 3

  # Step 2: trajectories generated inside the model.
  ge = c.generation = ml_collections.ConfigDict()
  ge.num_trajectories = 64       # M
  ge.horizon = 50                # H_gen
  # Trajectories planned at once (static). 0: the most that keep every seed's planner
  # temporaries (generation.trajectory_bytes each) within memory_budget_gib; results do not
  # depend on it (tests/test_generation.py).
  ge.block_size = 0
  ge.memory_budget_gib = 0.0     # for all seeds' generation temporaries; 0: half the device's
  # dtype of the model's weight matrices while the planner searches in generation ("float32" |
  # "bfloat16", products accumulated in float32); the trajectories themselves are stepped and
  # their u recorded with the float32 model either way. bfloat16 is for accelerators' matrix
  # units; on a CPU it is slower.
  ge.plan_dtype = "float32"
  ge.export = False              # write <workdir>/datasets/iter<k>_seed<s>.npz (D4RL keys)
  # Where generated trajectories start. "reset": fresh draws from the source start
  # distribution rho_S (the paper's). "replay" (a departure): states drawn uniformly from the
  # real data the model was last fitted on (D_src, plus D_on from iteration 1), so D_off can
  # cover the whole of an episode and not only its first H_gen steps from the start state.
  ge.start = "reset"             # "reset" | "replay"
  # What a regeneration does to D_off. "replace" (default): D_off holds only the newest
  # iteration's filtered data. "accumulate": appended, the oldest dropped at
  # loop.offline_capacity. The paper does not say which.
  ge.offline_update = "replace"  # "replace" | "accumulate"

  # D_off read from a file instead of generated (steps 2-3 skipped; relabelling, the model,
  # its penalty and the transfer stage unchanged). See docs/running.md, "Bringing your own
  # offline data".
  of = c.offline = ml_collections.ConfigDict()
  of.dataset = ""                # "": generate D_off; else a .npz in D4RL key layout
  of.max_transitions = 0         # 0: every transition of the file; n > 0: a fresh uniform
                                 # draw of n of them (without replacement) per seed and iteration

  # Steps 3-4: dual-criterion filter and relabelling.
  fi = c.filter = ml_collections.ConfigDict()
  fi.variant = "dual"            # "dual" | "reward" | "uncertainty" | "none"
  fi.threshold_mode = "quantile"  # "quantile" (of the generated batch) | "absolute"
  fi.eps_u = 0.75                # keep U(tau) <= eps_u (quantile in [0, 1] or absolute >= 0)
  fi.eps_r = 0.5                 # keep R_S(tau) >= eps_r (quantile in [0, 1] or absolute)
  fi.aggregate = "max"           # U(tau) = max_t u (default) | "mean"

  # Step 5: RLPD-style SAC.
  ag = c.agent = ml_collections.ConfigDict()
  ag.num_critics = 10
  ag.critic_subset = 2
  ag.hidden_size = 256
  ag.num_layers = 2
  ag.actor_lr = 3e-4
  ag.critic_lr = 3e-4
  ag.temp_lr = 3e-4
  ag.init_temperature = 1.0
  ag.discount = 0.99
  ag.tau = 0.005
  ag.batch_size = 256
  ag.utd = 20                    # G: gradient updates per env step
  ag.lambda_q = 0.1              # uncertainty penalty in the critic target, eq. (7)

  # Step 6: offline/online mixing ratio beta.
  sa = c.sampling = ml_collections.ConfigDict()
  sa.mode = "adaptive"           # "adaptive" | "fixed"
  sa.beta_fixed = 0.5
  sa.beta_min = 0.25
  sa.beta_max = 0.75
  sa.rho = 0.01
  # delta_k of the rule: "absolute" = mean |TD error| (sec. 4.6, the paper's); "relative" divides
  # it by mean |target| (a departure, used by default.py): where Q grows with episode length
  # the absolute TD error rises with the returns while the critic improves, which drives beta
  # to beta_max just when the online data has become the better data.
  sa.td_error = "absolute"
  sa.warmup_updates = 1000       # W: delta_ref = mean TD error over the first W beta updates
                                 # (one beta update per env step, after its G gradient updates)

  # Outer loop and bookkeeping.
  lo = c.loop = ml_collections.ConfigDict()
  lo.num_iterations = 3          # K outer iterations (model refit + data regeneration)
  lo.steps_per_iteration = 5000  # real target-env steps per iteration
  lo.start_steps = 1000          # uniform-random actions before learning (from-scratch algos)
  lo.online_capacity = 100_000
  lo.offline_capacity = 100_000
  lo.eval_every = 1000           # target-env steps between evaluations (also the chunk length)
  lo.eval_episodes = 10
  lo.checkpoint_every = 5000     # target-env steps; a multiple of eval_every
  lo.offline_steps = 10_000      # gradient steps of offline pretraining (offline / off2on algos)
  # Baselines (paper sec. 5). Sizes, learning rates, discount, tau, batch size and G are the
  # `agent` fields above; these are the algorithm-specific ones (defaults: the papers').
  bl = c.baselines = ml_collections.ConfigDict()
  bl.num_critics = 2             # twin critics (TD3, IQL, CQL/Cal-QL, AWAC, COMBO)
  bl.layer_norm = False          # LayerNorm in their critics (off: as published)
  td = c.td3 = ml_collections.ConfigDict()
  td.policy_noise = 0.2          # sigma of the target-policy smoothing noise
  td.noise_clip = 0.5            # c: the smoothing noise is clipped to [-c, c]
  td.policy_delay = 2            # actor and target updates every d-th critic update
  td.exploration_noise = 0.1     # std of the Gaussian noise added when acting
  pp = c.ppo = ml_collections.ConfigDict()
  pp.rollout_length = 2048       # env steps between PPO updates (<= loop.online_capacity)
  pp.num_epochs = 10
  pp.num_minibatches = 32        # must divide rollout_length
  pp.clip_eps = 0.2
  pp.gae_lambda = 0.95
  pp.value_coef = 0.5
  pp.entropy_coef = 0.0
  pp.learning_rate = 3e-4
  pp.max_grad_norm = 0.5
  bc = c.bc = ml_collections.ConfigDict()
  bc.loss = "nll"                # "nll": -log pi(a|s) of a Gaussian policy | "mse": ||mu(s) - a||^2
  iq = c.iql = ml_collections.ConfigDict()
  iq.expectile = 0.7             # tau of the expectile value loss
  iq.temperature = 3.0           # beta of the AWR weights exp(beta (Q - V))
  iq.max_weight = 100.0          # AWR weights are clipped at this value
  cq = c.cql = ml_collections.ConfigDict()  # CQL and Cal-QL
  cq.alpha = 5.0                 # weight of the conservative (logsumexp - Q_data) term
  cq.num_action_samples = 10     # actions per state for each of uniform, pi(s), pi(s')
  aw = c.awac = ml_collections.ConfigDict()
  aw.temperature = 1.0           # lambda of the weights exp(A / lambda)
  aw.max_weight = 100.0
  mo = c.mopo = ml_collections.ConfigDict()
  mo.penalty = 1.0               # lambda of the penalised reward r_T - lambda u
  mo.rollout_length = 5          # h: model steps per branched rollout
  mo.rollout_batch = 50          # rollouts started from D_off states at every update
  mo.real_ratio = 0.05           # fraction of each batch taken from D_off
  mo.model_capacity = 50_000     # buffer of model transitions kept in the agent state
  co = c.combo = ml_collections.ConfigDict()
  co.conservative_weight = 1.0   # beta of the conservative term on model samples
  co.num_action_samples = 10
  co.rollout_length = 5
  co.rollout_batch = 50
  co.real_ratio = 0.5            # f: fraction of real data in the critic/actor batches
  co.model_capacity = 50_000
  return c
