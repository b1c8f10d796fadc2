"""Does the transfer work when D_off is competent? The arms of that study on halfcheetah.

Run by `python experiments/transfer_study.py` (every arm at one commit, with the same seeds);
the analysis and what each arm isolates are in experiments/results/transfer_halfcheetah/.

Every size below was fixed before any arm ran and is not tuned on these seeds:
- the CPU-scale halfcheetah config (experiments/configs/cpu/halfcheetah.py) with 10 seeds
  (0-9) and 10k target steps (2 iterations of 5k, so WOMBET refits and regenerates once),
  evaluated every 2500 steps on 5 episodes; generated data exported for D_off statistics;
- primary endpoint: the mean normalised return over the evaluations at 2.5k, 5k, 7.5k and 10k
  target steps, as paired per-seed differences; secondary: the return at 10k and the steps to
  50% / 80% of the reference;
- the oracle D_off: SAC trained on the source task for the source phase's budget (5 episodes,
  5000 source steps; seed 1000), 10 episodes of its action plus N(0, 0.1^2) noise
  (experiments/oracle_dataset.py); "oracle_small" draws 1100 of its transitions per seed and
  iteration, the median |D_off| of the committed 5-seed halfcheetah_cpu WOMBET run (850-1250);
  "oracle_large" holds all of it (ORACLE_EPISODES x 1000 steps, so D_off's capacity is raised
  to that; the CPU config's 3200 holds the generated D_off).
"""
from wombet_jax.configs.cpu import locomotion

NUM_SEEDS = 10
ORACLE_SMALL = 1100
ORACLE_EPISODES = 10
ORACLE_NOISE = 0.1
ORACLE_SEED = 1000
ORACLE_TRANSITIONS = ORACLE_EPISODES * 1000  # halfcheetah's episodes never terminate early

# arm -> config overrides (dotted field -> value); "$ORACLE" is the oracle dataset's path.
ARMS = {
    "sac": {"algo": "sac"},
    "wombet": {},
    "wombet_replay": {"generation.start": "replay"},
    "oracle_small": {"offline.dataset": "$ORACLE", "offline.max_transitions": ORACLE_SMALL},
    "oracle_large": {"offline.dataset": "$ORACLE", "loop.offline_capacity": ORACLE_TRANSITIONS},
    "no_doff": {"sampling.mode": "fixed", "sampling.beta_fixed": 0.0},
}


def get_config():
  c = locomotion.get_cpu_config("halfcheetah")
  c.num_seeds = NUM_SEEDS
  c.compare = ""
  c.generation.export = True
  lo = c.loop
  lo.num_iterations, lo.steps_per_iteration = 2, 5000
  lo.eval_every, lo.checkpoint_every, lo.eval_episodes = 2500, 2500, 5
  return c
