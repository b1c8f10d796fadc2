"""Recording and drawing one episode of an exported policy (`experiments/render.py`).

`record` runs one episode of the real task (one jitted scan, stopped at the first `done` on the
host) and keeps the env state before every step, so an MJX pair's frames are brax pipeline
states. Three outputs:
  * HTML (`html_document`): brax's viewer page (as `brax.io.html` writes it), which embeds the
    system and every frame's body positions and orientations; it needs no OpenGL, and no
    network: its scripts (three.js, lil-gui, pako, es-module-shims, shipped in `viewer/`, and
    brax's viewer modules) are inlined.
  * GIF (`gif_bytes`): MuJoCo's offscreen renderer (`mujoco.Renderer`) on the pair's MjModel,
    one frame per env step, through the model's "track" camera when it has one (else a fixed
    side view framing the bodies' path). It needs an OpenGL context (`wombet_jax.harness.gl` picks
    MUJOCO_GL for `experiments/render.py` before mujoco is imported).
  * PNG (`pointmass_png`): the pure-JAX pointmass has no scene; its xy path is drawn with
    matplotlib, with the start and both tasks' goals.
The MJX pairs' scenes are brax's own environments of the same name (the pairs change rewards
and reset distributions, never the model).
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import zlib
from typing import Any, Callable, NamedTuple

import jax
import numpy as np


def is_mjx(env: str) -> bool:
  """An MJX pair (the pair registry's list; imported here, not at module level, because it
  imports mujoco, which must see MUJOCO_GL first)."""
  from wombet_jax.envs import registry
  return registry.is_mjx(env)


class Episode(NamedTuple):
  """One episode on the host: `states` before each step (leading axis T), its transitions."""
  states: Any        # envs.EnvState, leaves (T, ...)
  transitions: Any   # envs.Transition, leaves (T, ...)
  length: int        # T: steps up to and including the first done
  episode_return: float


def record(task, act_fn: Callable, episode_length: int, key: jax.Array) -> Episode:
  """One episode of `task` from reset(key) with the deterministic `act_fn(obs)`."""
  def body(env, _):
    env_next, tr = task.step(env, act_fn(env.obs))
    return env_next, (env, tr)

  run = jax.jit(lambda k: jax.lax.scan(body, task.reset(k), None, length=episode_length)[1])
  states, trs = jax.device_get(run(key))
  done = np.asarray(trs.done) > 0
  length = int(np.argmax(done)) + 1 if done.any() else episode_length
  cut = lambda x: np.asarray(x)[:length]
  trs = jax.tree_util.tree_map(cut, trs)
  return Episode(states=jax.tree_util.tree_map(cut, states), transitions=trs, length=length,
                 episode_return=float(np.sum(trs.reward)))


def brax_env(name: str):
  """Brax's environment whose model (sys) the MJX pair `name` simulates."""
  from wombet_jax.envs import registry
  if not registry.is_mjx(name):
    raise ValueError(f"env {name!r} has no MJX scene to render; allowed: "
                     f"{list(registry.mjx_names())}")
  from brax import envs as brax_envs
  return brax_envs.get_environment(registry.base_name(name), backend="mjx")


def frames(episode: Episode) -> list:
  """The brax pipeline state of every step of an MJX pair's episode, one per list entry."""
  ps = episode.states.inner.pipeline_state
  return [jax.tree_util.tree_map(lambda x, t=t: x[t], ps) for t in range(episode.length)]


VIEWER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "viewer")
# The page of brax's viewer (brax/visualizer/index.html) with every script inlined as a data:
# URL instead of loaded from a CDN, so that it renders offline: the third-party scripts ship in
# VIEWER_DIR (versions and licences in its README.md), brax's own modules come from the
# installed brax (their relative imports become import-map names, as data: URLs have no path).
_PAGE = """<!DOCTYPE html>
<html>
<head>
<title>Brax visualizer</title>
<style>body {{ margin: 0; padding: 0; }} #brax-viewer {{ height: {height}px; margin: 0;
padding: 0; }}</style>
<script src="{shims}"></script>
<script type="importmap">
{importmap}
</script>
<script src="{pako}"></script>
<script type="application/javascript">
var system = "{system}";
system = atob(system);
system = system.split('').map(function(x){{return x.charCodeAt(0);}});
system = pako.inflate(system);
system = new TextDecoder("utf-8").decode(system);
system = JSON.parse(system);
</script>
</head>
<body>
<div id="brax-viewer"></div>
<script type="module">
import {{Viewer}} from 'viewer';
const domElement = document.getElementById("brax-viewer");
var viewer = new Viewer(domElement, system);
</script>
</body>
</html>
"""


def _data_url(text: str) -> str:
  return "data:text/javascript;base64," + base64.b64encode(text.encode()).decode("ascii")


def _viewer_file(name: str) -> str:
  with open(os.path.join(VIEWER_DIR, name), encoding="utf-8") as f:
    return f.read()


def offline_page(system_json: str, height: int = 480) -> str:
  """brax's viewer page for a system/trajectory JSON (`brax.io.json.dumps`), needing no
  network: every script is inside the page."""
  import brax
  brax_js = os.path.join(os.path.dirname(brax.__file__), "visualizer", "js")
  imports = {"three": _data_url(_viewer_file("three.module.js")),
             "three/addons/controls/OrbitControls.js": _data_url(_viewer_file(
                 "OrbitControls.js")),
             "lilgui": _data_url(_viewer_file("lil-gui.esm.min.js"))}
  for name in sorted(os.listdir(brax_js)):
    if name.endswith(".js"):
      with open(os.path.join(brax_js, name), encoding="utf-8") as f:
        text = re.sub(r"""from\s+(['"])\./([\w.-]+\.js)\1""", r"from 'brax-viewer/\2'",
                      f.read())
      imports["viewer" if name == "viewer.js" else f"brax-viewer/{name}"] = _data_url(text)
  system = base64.b64encode(zlib.compress(system_json.encode())).decode("ascii")
  return _PAGE.format(height=int(height), shims=_data_url(_viewer_file("es-module-shims.js")),
                      importmap=json.dumps({"imports": imports}, indent=1),
                      pako=_data_url(_viewer_file("pako_inflate.min.js")), system=system)


def html_document(sys, episode: Episode) -> str:
  """brax's viewer page for the episode (system and every frame's body poses embedded),
  rendering without network access (`offline_page`)."""
  from brax.io import json as brax_json
  return offline_page(brax_json.dumps(sys, frames(episode)))


def gif_bytes(sys, episode: Episode, dt: float, width: int = 320, height: int = 240) -> bytes:
  """An animated GIF of the episode, one frame per env step, `dt` seconds each."""
  import mujoco
  from PIL import Image
  model = sys.mj_model
  data = mujoco.MjData(model)
  ps = episode.states.inner.pipeline_state

  def pose(t):
    data.qpos[:] = np.asarray(ps.q[t])
    data.qvel[:] = np.asarray(ps.qd[t])
    mujoco.mj_forward(model, data)

  track = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, "track")
  if track >= 0:
    cam = track
  else:  # a fixed side view framing every body over the whole episode
    body_pos = []
    for t in range(episode.length):
      pose(t)
      body_pos.append(data.xpos[1:].copy())
    body_pos = np.concatenate(body_pos)
    lo, hi = body_pos.min(axis=0), body_pos.max(axis=0)
    cam = mujoco.MjvCamera()
    mujoco.mjv_defaultFreeCamera(model, cam)
    cam.lookat[:] = (lo + hi) / 2
    cam.distance = 3.0 * float(np.max(hi - lo)) + 1.0
    cam.azimuth, cam.elevation = 90.0, -30.0  # looking along +y: x to the right, z up
  images = []
  with mujoco.Renderer(model, height, width) as renderer:
    for t in range(episode.length):
      pose(t)
      renderer.update_scene(data, camera=cam)
      images.append(Image.fromarray(renderer.render()))
  buf = io.BytesIO()
  images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                 duration=max(int(round(1000 * dt)), 20), loop=0)
  return buf.getvalue()


def pointmass_png(episode: Episode, title: str = "") -> bytes:
  """The pointmass episode's xy path (start, steps, end) with the source and target goals."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from wombet_jax.envs import pointmass
  trs = episode.transitions
  xy = np.concatenate([np.asarray(trs.obs)[:, :2], np.asarray(trs.next_obs)[-1:, :2]])
  import textwrap
  fig, ax = plt.subplots(figsize=(5, 4.5), dpi=120)
  ax.plot(xy[:, 0], xy[:, 1], "-o", ms=2.5, lw=1.2, color="#1f77b4", label="path")
  ax.plot(*xy[0], "s", color="k", ms=7, label="start")
  ax.plot(*pointmass.SOURCE_GOAL, "*", color="#2ca02c", ms=14, label="source goal")
  ax.plot(*pointmass.TARGET_GOAL, "*", color="#d62728", ms=14, label="target goal")
  ax.set_xlabel("x")
  ax.set_ylabel("y")
  ax.set_aspect("equal", adjustable="datalim")
  ax.grid(alpha=0.3)
  ax.legend(frameon=False, fontsize=8)
  ax.set_title(textwrap.fill(title, 60), fontsize=9)
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format="png")
  plt.close(fig)
  return buf.getvalue()


def episode_key(pol, seed: int, episode: int) -> jax.Array:
  """Reset key of episode `episode` of the run's evaluation at the exported step: the keys
  `generation.rollout_policy` splits from fold_in(eval_key, target_env_steps)."""
  from wombet_jax.harness import evaluation
  n = pol.meta["eval_episodes"]
  if isinstance(episode, bool) or not isinstance(episode, int) or not 0 <= episode < n:
    raise ValueError(f"episode={episode!r} is invalid: the run evaluates episodes 0..{n - 1}")
  return jax.random.split(evaluation.evaluation_keys(pol, [seed])[0], n)[episode]


def record_policy(pol, seed: int, episode: int = 0, task: str = "target") -> Episode:
  """Episode `episode` of seed `seed`'s evaluation on `task` ('target' or 'source')."""
  from wombet_jax.harness import evaluation
  from wombet_jax.envs import make_pair
  if task not in evaluation.TASKS:
    raise ValueError(f"task={task!r} is invalid: allowed {list(evaluation.TASKS)}")
  pair = make_pair(pol.meta["env"], pol.meta["episode_length"])
  params = pol.params_of(seed)
  act = lambda obs: pol.deterministic(params, obs)
  return record(pair.target if task == "target" else pair.source, act,
                pol.meta["episode_length"], episode_key(pol, seed, episode))


def check_ready(env: str, fmt: str) -> None:
  """Raises ValueError when `fmt` cannot be drawn for `env` (before anything compiles)."""
  mjx = is_mjx(env)
  allowed = ("html", "gif") if mjx else ("png",)
  if fmt not in allowed:
    kind = "an MJX pair" if mjx else "a pure-JAX pair without a scene"
    raise ValueError(f"--format={fmt} is invalid for {env} ({kind}): allowed {list(allowed)}")


def render(path: str, seed: int, fmt: str | None = None, episode: int = 0,
           task: str = "target", out: str | None = None) -> tuple[str, str, Episode]:
  """Draws episode `episode` of seed `seed`'s evaluation from the policy in `path` (a run's
  workdir or its policy/ folder) into `out` (default <workdir>/render/...); returns (out,
  a one-line description, the episode). `fmt`: html or gif (MJX pairs; default html), png
  (pointmass, the default there). For gif, MUJOCO_GL must name a working backend before
  mujoco is first imported."""
  from wombet_jax.harness import policy, results
  pol = policy.load_policy(path)
  env = pol.meta["env"]
  fmt = fmt or ("html" if is_mjx(env) else "png")
  check_ready(env, fmt)
  ep = record_policy(pol, seed, episode, task)
  run_dir = os.path.abspath(path)
  if os.path.basename(run_dir) == "policy":
    run_dir = os.path.dirname(run_dir)
  out = out or os.path.join(run_dir, "render", f"seed{seed}_{task}_ep{episode}.{fmt}")
  title = (f"{pol.meta['algo']} on {env} ({task}), seed {seed}, target step "
           f"{pol.meta['target_env_steps']}: return {ep.episode_return:.2f} in {ep.length} steps")
  if fmt == "png":
    data = pointmass_png(ep, title)
  else:
    env_obj = brax_env(env)
    data = (html_document(env_obj.sys, ep).encode() if fmt == "html"
            else gif_bytes(env_obj.sys, ep, float(env_obj.dt)))
  results.atomic_write_bytes(out, data)
  return out, title, ep
