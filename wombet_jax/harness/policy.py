"""A run's policies as a small artefact: the actors of every seed, rebuilt without the run.

`export(path, ...)` writes into the folder `path`:
  * `params-<content hash>.npz`: the actor parameters of every seed, stacked on a leading
    seed axis (flax's nested dict flattened to '/'-joined names), the seeds, and each seed's
    evaluation key (so that an evaluation of the run can be replayed exactly);
  * `policy.json`: what rebuilding the actor needs (algorithm, actor kind, obs/act dims,
    hidden sizes, exploration noise), the task (env, episode length, evaluation episodes),
    the observation's layout and the function that builds it from a state of brax's own env
    (`wombet_jax.envs.observation(env, state)`), the seeds, the run's step counters, the name
    of the parameter file and its sha256. The parameter file is plain numpy:
    `docs/drive_brax_env.py` acts with it in numpy alone (a 10-line forward pass) in brax's
    own env.
The parameter file is written first and `policy.json`, which names it, second, both
atomically; older parameter files are removed last, and only inside the folder itself (a
symbolic link as the folder is refused). A run killed at any moment therefore leaves a
`policy.json` whose parameter file is complete.

Reading verifies everything it reads (`PolicyError`, one line naming the file and what is
wrong): policy.json parses and has every field, its parameter file is a plain name inside the
folder, exists, matches its sha256 and reads as an npz of finite parameters of the recorded
actor's shapes, one per seed.

`load(path, seed=None)` returns a jittable deterministic `act(obs)`; `load_policy(path)` the
parameters and pure action functions for batched use (`experiments/evaluate.py`). Nothing
here builds a world model, a buffer or an environment.

The actor is the agent's own (`protocol.Agent.actor`, a `networks.Actor`): the export
records its kind, and reading rebuilds the same `Actor` (`networks.make_actor`), whose
deterministic and sampled actions are the ones the agent acts with (kinds in
`networks.ACTOR_KINDS`).
"""
from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import re
import zipfile
from typing import Any, Callable, NamedTuple

import flax.traverse_util
import jax
import jax.numpy as jnp
import numpy as np

from wombet_jax import envs, errors
from wombet_jax.harness import results
from wombet_jax.networks import ACTOR_KINDS, Actor, hidden_dims, make_actor

FORMAT = 2  # 2: policy.json carries params_sha256
META_FILE = "policy.json"
PARAMS_NAME = re.compile(r"^params-[0-9a-f]{16}\.npz$")
REQUIRED = ("algo", "kind", "obs_dim", "act_dim", "hidden", "env", "episode_length",
            "eval_episodes", "seeds", "params_file", "params_sha256")


class PolicyError(errors.UserError):
  """An export that cannot be used as it is: missing, corrupt, tampered with or not finite."""


# What builds an MJX pair's observation from a state of brax's own env of the same name.
OBSERVATION_FN = "wombet_jax.envs.observation(env, brax_state)"


def actor_of(meta: dict) -> Actor:
  """The actor policy.json describes (kind, sizes, exploration noise)."""
  return make_actor(meta["kind"], meta["act_dim"], meta["hidden"],
                    float(meta.get("exploration_noise") or 0.0))


# --- writing ----------------------------------------------------------------------------------
def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
  buf = io.BytesIO()
  np.savez(buf, **arrays)
  return buf.getvalue()


def export(path: str, agent, agent_states: Any, *, config, obs_dim: int, act_dim: int,
           episode_length: int, seeds, target_env_steps: int, source_env_steps: int = 0,
           eval_keys=None) -> str:
  """Writes the policy artefact of a seed-batched agent state into the folder `path`.

  `agent` (a `protocol.Agent` with an `actor`) is the run's agent and `config` its resolved
  config (algo, env, agent sizes, eval episodes); `agent_states` has a leading seed axis in
  the order of `seeds`; `eval_keys` (seeds, 2) are
  the run's evaluation keys, stored to replay its evaluations. Returns `path`.
  """
  if os.path.islink(path):
    raise PolicyError(f"{path} is a symbolic link; the export writes (and deletes old "
                      "parameter files in) a folder of its own only")
  if agent.actor is None:
    raise ValueError(f"algo={config.algo!r} has no exportable actor (its agent's actor is None)")
  params = jax.device_get(agent.actor_params(agent_states))
  kind = agent.actor.kind
  seeds = [int(s) for s in seeds]
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params), sep="/")
  arrays = {f"params/{k}": np.asarray(v) for k, v in flat.items()}
  for name, v in arrays.items():
    if v.shape[:1] != (len(seeds),):
      raise ValueError(f"actor parameter {name} has shape {v.shape}; expected a leading seed "
                       f"axis of {len(seeds)} (seeds {seeds})")
  arrays["seeds"] = np.asarray(seeds, np.int64)
  if eval_keys is not None:
    arrays["eval_key"] = np.asarray(jax.device_get(eval_keys))
  data = _npz_bytes(arrays)
  params_file = f"params-{hashlib.sha1(data).hexdigest()[:16]}.npz"
  meta = {
      "format": FORMAT, "algo": config.algo, "kind": kind, "obs_dim": int(obs_dim),
      "act_dim": int(act_dim),
      "hidden": list(hidden_dims(config.agent.hidden_size, config.agent.num_layers)),
      "exploration_noise": agent.actor.noise if kind == "deterministic" else None,
      "env": config.env, "episode_length": int(episode_length),
      "observation": {"layout": envs.observation_layout(config.env),
                      "from_brax_state": OBSERVATION_FN},
      "eval_episodes": int(config.loop.eval_episodes), "seeds": seeds,
      "target_env_steps": int(target_env_steps), "source_env_steps": int(source_env_steps),
      "params_file": params_file, "params_sha256": hashlib.sha256(data).hexdigest()}
  results.atomic_write_bytes(os.path.join(path, params_file), data)
  results.atomic_write_json(os.path.join(path, META_FILE), meta)
  for old in glob.glob(os.path.join(glob.escape(path), "params-*.npz")):
    name = os.path.basename(old)
    if name != params_file and PARAMS_NAME.match(name) and not os.path.islink(old):
      os.unlink(old)
  return path


def export_run(path: str, pipe, states, seeds) -> str | None:
  """`export` of a runner's batched `loop.RunState` under its `loop.Pipeline`; nothing (None)
  for an agent without an exportable actor (its ``actor`` is None)."""
  if pipe.agent.actor is None:
    return None
  host = jax.device_get({"tgt": states.target_steps[0], "src": states.source_steps[0]})
  return export(path, pipe.agent, states.agent, config=pipe.config, obs_dim=pipe.pair.obs_dim,
                act_dim=pipe.pair.act_dim, episode_length=pipe.episode_length, seeds=seeds,
                target_env_steps=int(host["tgt"]), source_env_steps=int(host["src"]),
                eval_keys=states.eval_key)


# --- reading ----------------------------------------------------------------------------------
class Policy(NamedTuple):
  """A loaded artefact: `params` stacked over `seeds`; the functions take one seed's params."""
  meta: dict
  params: Any
  seeds: list
  eval_keys: Any             # (seeds, 2) uint32, or None
  deterministic: Callable    # (params, obs) -> action
  sample: Callable           # (params, key, obs) -> action

  def seed_index(self, seed: int) -> int:
    if seed not in self.seeds:
      raise ValueError(f"seed={seed!r} is not in this policy; allowed: {self.seeds}")
    return self.seeds.index(seed)

  def params_of(self, seed: int) -> Any:
    i = self.seed_index(seed)
    return jax.tree_util.tree_map(lambda x: x[i], self.params)


def read_meta(path: str) -> dict:
  """policy.json of the folder `path`, checked field by field (PolicyError otherwise)."""
  file = os.path.join(path, META_FILE)
  if not os.path.exists(file):
    raise FileNotFoundError(f"{file} does not exist; a run writes <workdir>/policy/ at each "
                            "checkpoint and at its end")
  try:
    with open(file) as f:
      meta = json.load(f)
  except (OSError, UnicodeDecodeError) as e:
    raise PolicyError(f"{file} is unreadable: {_reason(e)}") from None
  except json.JSONDecodeError as e:
    raise PolicyError(f"{file} is not valid JSON: {e}") from None
  if not isinstance(meta, dict):
    raise PolicyError(f"{file} is not a policy description (a JSON object)")
  if meta.get("format") != FORMAT:
    raise PolicyError(f"{file} has format {meta.get('format')!r}; this code reads {FORMAT} "
                      "(export the run's policy again by resuming it, or rerun it)")
  missing = [k for k in REQUIRED if k not in meta]
  if missing:
    raise PolicyError(f"{file} lacks {', '.join(missing)}")
  if meta["kind"] not in ACTOR_KINDS:
    raise PolicyError(f"{file} has kind {meta['kind']!r}; allowed: {list(ACTOR_KINDS)}")
  name = meta["params_file"]
  if not (isinstance(name, str) and PARAMS_NAME.match(name)):
    raise PolicyError(f"{file} names params_file={name!r}; allowed: a file params-<16 hex "
                      "digits>.npz inside the policy folder")
  return meta


def _reason(e: BaseException) -> str:
  text = (str(e).strip().splitlines() or [""])[0]
  return f"{type(e).__name__}: {text}".rstrip(": ")


def _read_params(path: str, meta: dict) -> dict[str, np.ndarray]:
  """The arrays of the parameter file policy.json names, verified against its sha256."""
  file = os.path.join(path, meta["params_file"])
  real, folder = os.path.realpath(file), os.path.realpath(path)
  if os.path.dirname(real) != folder:  # e.g. a symbolic link to another folder's file
    raise PolicyError(f"{file} resolves to {real}, outside the policy folder {folder}")
  try:
    with open(file, "rb") as f:
      data = f.read()
  except FileNotFoundError:
    raise PolicyError(f"{file}, named by {META_FILE}, does not exist") from None
  except OSError as e:
    raise PolicyError(f"{file} is unreadable: {errors.os_error(e)}") from None
  if hashlib.sha256(data).hexdigest() != meta["params_sha256"]:
    raise PolicyError(f"{file} does not match the sha256 in {META_FILE} (truncated, corrupt "
                      "or replaced)")
  try:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
      arrays = {k: z[k] for k in z.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise PolicyError(f"{file} is not a readable npz: {_reason(e)}") from None
  seeds = arrays.get("seeds")
  if seeds is None or [int(x) for x in np.ravel(seeds)] != list(meta["seeds"]):
    raise PolicyError(f"{file} holds seeds {None if seeds is None else seeds.tolist()}; "
                      f"{META_FILE} records {meta['seeds']}")
  for k, v in arrays.items():
    if k.startswith("params/"):
      if v.shape[:1] != (len(meta["seeds"]),):
        raise PolicyError(f"{file}: {k} has shape {v.shape}; expected a leading axis of "
                          f"{len(meta['seeds'])} seeds")
      if not np.all(np.isfinite(v)):
        raise PolicyError(f"{file}: {k} holds non-finite values (NaN or inf); this policy "
                          "cannot act")
  return arrays


def load_policy(path: str) -> Policy:
  """Reads the artefact in folder `path` (or `<workdir>/policy` given a run's workdir)."""
  if not os.path.exists(os.path.join(path, META_FILE)) and os.path.isdir(
      os.path.join(path, "policy")):
    path = os.path.join(path, "policy")
  meta = read_meta(path)
  arrays = _read_params(path, meta)
  flat = {k[len("params/"):]: jnp.asarray(v) for k, v in arrays.items()
          if k.startswith("params/")}
  params = flax.traverse_util.unflatten_dict(flat, sep="/")
  _check_shapes(meta, params)
  actor = actor_of(meta)
  eval_keys = jnp.asarray(arrays["eval_key"]) if "eval_key" in arrays else None
  return Policy(meta=meta, params=params, seeds=[int(s) for s in arrays["seeds"]],
                eval_keys=eval_keys, deterministic=actor.deterministic, sample=actor.sample)


def _check_shapes(meta: dict, params: Any) -> None:
  """The stored tree must be the one the recorded actor builds (per seed)."""
  try:
    actor = actor_of(meta)
    want = jax.eval_shape(actor.init, jax.random.PRNGKey(0), jnp.zeros((1, meta["obs_dim"])))
  except (TypeError, ValueError) as e:
    raise PolicyError(f"{META_FILE} describes no buildable actor (obs_dim={meta['obs_dim']!r}, "
                      f"act_dim={meta['act_dim']!r}, hidden={meta['hidden']!r}): "
                      f"{_reason(e)}") from None
  want = {k: v.shape for k, v in
          flax.traverse_util.flatten_dict(flax.core.unfreeze(want), sep="/").items()}
  got = {k: v.shape[1:] for k, v in flax.traverse_util.flatten_dict(params, sep="/").items()}
  if got != want:
    raise PolicyError(f"stored actor parameters {got} do not match the {meta['kind']} actor "
                      f"of policy.json (obs_dim={meta['obs_dim']}, act_dim={meta['act_dim']}, "
                      f"hidden={meta['hidden']}), which has {want}")


def load(path: str, seed: int | None = None) -> Callable:
  """A jitted deterministic `act(obs)`.

  With `seed` (one of the run's seeds, as in metrics.jsonl), obs is (..., obs_dim) and the
  action (..., act_dim); without, obs has a leading seed axis (seeds, ..., obs_dim) in the
  order of policy.json's `seeds` and each seed's actor acts on its own slice.
  """
  pol = load_policy(path)
  if seed is None:
    return jax.jit(lambda obs: jax.vmap(pol.deterministic)(pol.params, obs))
  params = pol.params_of(seed)
  return jax.jit(lambda obs: pol.deterministic(params, obs))
