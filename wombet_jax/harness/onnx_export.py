"""One seed's exported actor as an ONNX model: its deterministic action, for runtimes outside
JAX (onnxruntime, TensorRT, a robot's C++ stack).

`to_onnx(policy, seed)` builds the graph from the verified parameters `policy.load_policy`
returns: input `obs` (N, obs_dim) float32, output `action` (N, act_dim) in [-1, 1]; every
hidden layer Gemm -> Relu, then Gemm -> Tanh (for the Gaussian actors the mean head; the
log-std head is not needed to act deterministically). The model's metadata carries policy.json's
fields (algorithm, env, observation layout) and the seed. `export(path, seed, out)` writes it
atomically. Needs the optional extra `pip install "wombet_jax[onnx]"` (the `onnx` package
builds and checks the graph; onnxruntime runs it); nothing else imports this module.
"""
from __future__ import annotations

import importlib.util
import json
from typing import Any

import flax.traverse_util
import numpy as np

from wombet_jax.errors import UserError
from wombet_jax.harness import policy as policy_lib
from wombet_jax.harness import results

OPSET = 17       # Gemm, Relu and Tanh unchanged since opset 13-14; 17 is read by every
IR_VERSION = 8   # onnxruntime since 1.12 and by TensorRT 8.6+
INSTALL = 'pip install "wombet_jax[onnx]"'


def require_onnx() -> None:
  """One line naming the extra when the onnx package is absent."""
  if importlib.util.find_spec("onnx") is None:
    raise UserError(f"ONNX export needs the onnx package, which is not installed: {INSTALL}")


def layers(meta: dict, params: Any) -> list[tuple[np.ndarray, np.ndarray, str]]:
  """(kernel, bias, activation) of one seed's actor, input to output: the deterministic
  action's forward pass (networks.Actor.deterministic), layer by layer."""
  flat = {k: np.asarray(v, np.float32) for k, v in
          flax.traverse_util.flatten_dict(params, sep="/").items()}
  body = "params/trunk" if meta["kind"] == "tanh_gaussian" else "params/mlp"
  out = [(flat[f"{body}/hidden_{i}/kernel"], flat[f"{body}/hidden_{i}/bias"], "Relu")
         for i in range(len(meta["hidden"]))]
  head = "params/mean" if meta["kind"] == "tanh_gaussian" else f"{body}/out"
  out.append((flat[f"{head}/kernel"], flat[f"{head}/bias"], "Tanh"))
  return out


def to_onnx(policy: policy_lib.Policy, seed: int):
  """The onnx.ModelProto of seed `seed`'s deterministic action."""
  require_onnx()
  import onnx
  from onnx import TensorProto, helper, numpy_helper
  meta = policy.meta
  nodes, inits, x = [], [], "obs"
  for i, (kernel, bias, activation) in enumerate(layers(meta, policy.params_of(seed))):
    inits += [numpy_helper.from_array(kernel, f"layer{i}.kernel"),
              numpy_helper.from_array(bias, f"layer{i}.bias")]
    nodes.append(helper.make_node("Gemm", [x, f"layer{i}.kernel", f"layer{i}.bias"],
                                  [f"layer{i}.linear"]))
    x = "action" if activation == "Tanh" else f"layer{i}.out"
    nodes.append(helper.make_node(activation, [f"layer{i}.linear"], [x]))
  graph = helper.make_graph(
      nodes, f"{meta['algo']}_{meta['env'].replace(':', '_')}_seed{seed}",
      [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["N", meta["obs_dim"]])],
      [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["N", meta["act_dim"]])],
      inits)
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                            producer_name="wombet_jax", ir_version=IR_VERSION)
  described = {k: meta[k] for k in ("algo", "kind", "env", "episode_length", "obs_dim",
                                    "act_dim", "observation", "target_env_steps") if k in meta}
  helper.set_model_props(model, {"seed": str(seed), **{
      k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
      for k, v in described.items()}})
  onnx.checker.check_model(model, full_check=True)
  return model


def export(path: str, seed: int | None, out: str) -> dict:
  """Writes seed `seed` (default: the policy's first) of the policy folder or workdir `path`
  to the file `out`; returns {"seed", "out", "bytes"}."""
  require_onnx()
  return write(policy_lib.load_policy(path), seed, out)


def write(policy: policy_lib.Policy, seed: int | None, out: str) -> dict:
  """`export` of a policy already loaded."""
  seed = policy.seeds[0] if seed is None else seed
  policy.seed_index(seed)  # ValueError naming the seeds it has
  data = to_onnx(policy, seed).SerializeToString()
  results.atomic_write_bytes(out, data)
  return {"seed": seed, "out": out, "bytes": len(data)}
