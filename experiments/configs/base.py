"""Shared defaults for every run; task configs derive from this and override fields.

Every field is documented where the choice is not the paper's. Sizes are static (they shape
compiled programs); nothing here changes during a run.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.env = "pointmass"            # task pair name, see wombet_jax.envs.registry
  c.algo = "wombet"              # see wombet_jax.algos.ALGOS
  c.seed = 0                     # seeds are seed, seed+1, ..., seed+num_seeds-1
  c.num_seeds = 1                # vmapped (and sharded over devices) seed axis
  c.episode_length = 0           # 0: the task pair's own default
  c.compare = ""                 # comma-separated algos run with the same seeds, e.g. "sac"

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
  wm.uncertainty = "max_std"     # "max_std" (MOPO, default) | "disagreement"
  wm.propagation = "ts_inf"      # "ts_inf": member fixed per particle | "ts1": resampled per step

  # Steps 1-2: MPC planner used in the real source env (PETS) and inside the model.
  pl = c.planner = ml_collections.ConfigDict()
  pl.method = "cem"              # "cem" | "mppi"
  pl.horizon = 30
  pl.population = 400
  pl.iterations = 5
  pl.num_elites = 64             # CEM elites (mbrl-lib: elite_ratio 0.16 of 400)
  pl.alpha = 0.1                 # CEM smoothing of mean/std between iterations
  pl.init_std = 0.5              # std of the first CEM iteration (actions live in [-1, 1])
  pl.particles = 20
  pl.lambda_plan = 1.0           # uncertainty penalty in the planning objective (0: plain PETS)
  pl.discount = 0.99
  pl.mppi_temperature = 1.0

  # Step 1 at k=0: PETS in the real source env.
  pe = c.pets = ml_collections.ConfigDict()
  pe.random_episodes = 2
  pe.mpc_episodes = 3

  # Step 2: trajectories generated inside the model.
  ge = c.generation = ml_collections.ConfigDict()
  ge.num_trajectories = 64       # M
  ge.horizon = 50                # H_gen

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
  sa.warmup_updates = 1000       # W: delta_ref = delta_bar over the first W online updates

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
  return c
