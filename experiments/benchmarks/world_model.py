"""World-model throughput: training samples/s, and prediction for P particles by the elites of
a 4x200 ensemble, vmapped over members vs a plain Python `for` loop over members.

  python experiments/benchmarks/world_model.py [--quick] [--json PATH]
"""
import time

import jax
import jax.numpy as jnp

import wombet_jax.world_model as W
from wombet_jax.configs import base
from wombet_jax.harness import benchmarking
from wombet_jax.world_model.networks import apply_member


def main():
  parser = benchmarking.base_parser(__doc__.splitlines()[0])
  parser.add_argument("--obs-dim", type=int, default=17, help="default: halfcheetah's")
  parser.add_argument("--act-dim", type=int, default=6)
  parser.add_argument("--particles", type=int, default=8000)
  parser.add_argument("--transitions", type=int, default=None,
                      help="training set size (default 50,000; 5,000 with --quick)")
  parser.add_argument("--epochs", type=int, default=None, help="default 3; 2 with --quick")
  args = parser.parse_args()
  n = args.transitions or (5_000 if args.quick else 50_000)
  epochs = args.epochs or (2 if args.quick else 3)
  repeats = 3 if args.quick else 10
  obs_dim, act_dim = args.obs_dim, args.act_dim

  cfg = base.get_config().world_model  # E=7, 5 elites, 4 hidden layers of 200, SiLU
  # Exactly `epochs` epochs: patience longer than the run disables early stopping.
  cfg.max_epochs, cfg.patience = epochs, epochs + 1
  wm = W.make_world_model(obs_dim, act_dim, cfg)
  keys = jax.random.split(jax.random.key(0), 4)
  obs = jax.random.normal(keys[0], (n, obs_dim))
  act = jax.random.uniform(keys[1], (n, act_dim), minval=-1.0, maxval=1.0)
  next_obs = obs + 0.1 * jnp.tanh(obs) + 0.05 * jax.random.normal(keys[2], (n, obs_dim))
  data = W.add_to_data(W.make_data(n, obs_dim, act_dim), obs, act, next_obs)
  state = wm.init(keys[3])

  train = jax.jit(wm.train)
  start = time.perf_counter()
  trained, metrics = jax.block_until_ready(train(state, jax.random.key(1), data))
  first_s = time.perf_counter() - start  # compile + one fit
  W.check_finite(metrics, where="benchmark")
  t_train = benchmarking.time_fn(train, state, jax.random.key(1), data, warmup=0,
                                 repeats=max(1, repeats // 3))
  t_train["first_s"] = first_s
  state = trained
  steps = int(metrics["steps"])
  samples_per_s = steps * cfg.batch_size / t_train["median_s"]

  # Prediction: P particles, every elite (K, P, obs_dim), mean and variance.
  p_obs = jax.random.normal(keys[0], (args.particles, obs_dim))
  p_act = jax.random.uniform(keys[1], (args.particles, act_dim), minval=-1.0, maxval=1.0)
  predict = jax.jit(wm.predict)
  t_vmap = benchmarking.time_fn(predict, state, p_obs, p_act, warmup=2, repeats=repeats)

  norm = state.norm
  members = [jax.tree.map(lambda leaf, k=k: leaf[k], state.params) for k in state.elites.tolist()]

  @jax.jit
  def predict_member(params, obs, act):
    x = (jnp.concatenate([obs, act], axis=-1) - norm.in_mean) / norm.in_std
    mean, logvar = apply_member(params, x)
    return obs + mean * norm.out_std + norm.out_mean, jnp.exp(logvar) * jnp.square(norm.out_std)

  def predict_loop(obs, act):
    outs = [predict_member(params, obs, act) for params in members]  # the loop vmap replaces
    return jnp.stack([o[0] for o in outs]), jnp.stack([o[1] for o in outs])

  loop_mean, _ = predict_loop(p_obs, p_act)
  vmap_mean, _ = predict(state, p_obs, p_act)
  max_diff = float(jnp.max(jnp.abs(loop_mean - vmap_mean)))
  t_loop = benchmarking.time_fn(predict_loop, p_obs, p_act, warmup=2, repeats=repeats)

  k, p = wm.num_elites, args.particles
  shape = f"{cfg.num_layers}x{cfg.hidden_size}"
  rows = [
      {"measure": f"train ({n:,} transitions, E={cfg.ensemble_size}, {shape}, batch "
                  f"{cfg.batch_size}, {steps} steps)",
       "time_ms": 1e3 * t_train["median_s"], "throughput": samples_per_s,
       "unit": "samples/s (per member)", "compile_s": t_train["first_s"] - t_train["median_s"]},
      {"measure": f"predict vmap ({p:,} particles x {k} elites, {shape})",
       "time_ms": 1e3 * t_vmap["median_s"], "throughput": p / t_vmap["median_s"],
       "unit": "particles/s", "compile_s": t_vmap["first_s"] - t_vmap["median_s"]},
      {"measure": f"predict Python for-loop over {k} members",
       "time_ms": 1e3 * t_loop["median_s"], "throughput": p / t_loop["median_s"],
       "unit": "particles/s", "compile_s": t_loop["first_s"] - t_loop["median_s"]},
  ]
  ratio = t_loop["median_s"] / t_vmap["median_s"]
  benchmarking.report(
      f"World model on {benchmarking.device_description()}", rows, args.json,
      speedup_vmap_over_loop=ratio, loop_vs_vmap_max_abs_diff=max_diff, quick=args.quick,
      train_epochs=int(metrics["epochs"]), train_holdout_loss=float(metrics["holdout_loss"]))
  print(f"vmap over members is {ratio:.2f}x the speed of the for-loop "
        f"(same numbers: max |diff| {max_diff:.1e})")


if __name__ == "__main__":
  main()
