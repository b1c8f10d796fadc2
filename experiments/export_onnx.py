"""Writes one seed's exported policy as an ONNX model (its deterministic action).

  python experiments/export_onnx.py --workdir=/tmp/smoke --seed=0 --out=/tmp/smoke/policy.onnx

Reads <workdir>/policy/ (verified as evaluate.py verifies it) and writes an ONNX graph with
input `obs` (N, obs_dim) float32 and output `action` (N, act_dim) in [-1, 1]
(`wombet_jax.harness.onnx_export`). Where onnxruntime is installed, the written file is run on
random observations and compared with the JAX actor; the largest difference is printed. Needs
the optional extra: pip install "wombet_jax[onnx]".
"""
from absl import app, flags

from wombet_jax.harness import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "A run's workdir (or its policy/ folder).",
                               required=True)
_SEED = flags.DEFINE_integer("seed", None, "One of the run's seeds (default: its first).")
_OUT = flags.DEFINE_string("out", None, "The .onnx file to write.", required=True)


@cli.one_line_errors("export_onnx.py")
def main(argv):
  del argv
  from absl import logging as absl_logging
  absl_logging.set_verbosity(absl_logging.WARNING)
  import importlib.util

  import numpy as np

  from wombet_jax.errors import UserError
  from wombet_jax.harness import onnx_export, policy
  onnx_export.require_onnx()  # before reading anything
  try:
    pol = policy.load_policy(_WORKDIR.value)  # read and verified once, for both steps
    done = onnx_export.write(pol, _SEED.value, _OUT.value)
  except (ValueError, FileNotFoundError) as e:  # the seed or the policy folder
    raise UserError(str(e)) from None
  line = f"wrote {done['out']} (seed {done['seed']}, {done['bytes']} bytes)"
  if importlib.util.find_spec("onnxruntime") is not None:
    import onnxruntime
    obs = np.random.default_rng(0).normal(size=(64, pol.meta["obs_dim"])).astype(np.float32)
    session = onnxruntime.InferenceSession(done["out"], providers=["CPUExecutionProvider"])
    got = session.run(["action"], {"obs": obs})[0]
    want = np.asarray(pol.deterministic(pol.params_of(done["seed"]), obs))
    line += f"; onnxruntime vs JAX on 64 random observations: max |diff| {np.abs(got - want).max():.1e}"
  print(line)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
