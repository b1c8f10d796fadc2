"""Rendering an exported policy's evaluation episode: HTML for MJX pairs, PNG for pointmass."""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import zlib

import jax
import numpy as np
import pytest

import helpers
from wombet_jax import generation
from wombet_jax.agents import registry
from wombet_jax.agents.protocol import AgentContext
from wombet_jax.envs import make_pair
from wombet_jax.harness import gl, policy, rendering

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "render.py")


def _export(tmp_path, env, episode_length):
  """A fresh SAC actor pair (seeds 0, 1) exported as a run would, with evaluation keys."""
  c = helpers.make_config(env=env, episode_length=episode_length, algo="sac")
  pair = make_pair(env, episode_length)
  agent = registry.get("sac").make(AgentContext(pair.obs_dim, pair.act_dim, c, pair, None,
                                                None))
  states = jax.vmap(agent.init)(jax.random.split(jax.random.PRNGKey(0), 2))
  wd = str(tmp_path / env)
  policy.export(os.path.join(wd, "policy"), agent, states, config=c, obs_dim=pair.obs_dim,
                act_dim=pair.act_dim, episode_length=episode_length, seeds=[0, 1],
                target_env_steps=300, eval_keys=jax.random.split(jax.random.PRNGKey(9), 2))
  return wd, pair


def _run(*args, env=None):
  return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                        cwd=ROOT, env=env)


def test_html_of_an_mjx_pair_holds_every_frame_of_the_episode(tmp_path):
  wd, _ = _export(tmp_path, "reacher", 10)
  path, title, ep = rendering.render(wd, seed=1)
  assert path == os.path.join(wd, "render", "seed1_target_ep0.html")
  assert title.endswith(f"return {ep.episode_return:.2f} in 10 steps")
  page = open(path).read()
  blob = re.search(r'var system = "([A-Za-z0-9+/=]+)";', page).group(1)
  scene = json.loads(zlib.decompress(base64.b64decode(blob)))
  # Every one of the 10 steps (reacher never terminates) with the recorded body poses.
  assert ep.length == 10 and len(scene["states"]["x"]) == 10
  want = np.asarray(ep.states.inner.pipeline_state.x.pos)
  got = np.array([frame["pos"] for frame in scene["states"]["x"]])
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  assert np.max(np.abs(got[-1] - got[0])) > 1e-3  # the arm moved
  assert "link_names" in scene and "geoms" in scene
  # The recorded episode is the policy's: its actions are the actor's on its observations.
  pol = policy.load_policy(wd)
  np.testing.assert_allclose(ep.transitions.action,
                             np.clip(pol.deterministic(pol.params_of(1), ep.transitions.obs),
                                     -1, 1), rtol=1e-5, atol=1e-6)
  _check_gif(ep, tmp_path)


# mujoco binds its GL backend when first imported, so the GIF is drawn in a fresh process
# under the backend experiments/render.py picks, from the recorded joint positions.
_GIF_SCRIPT = """
import sys, types, numpy as np
from wombet_jax.harness import rendering
z = np.load(sys.argv[1])
ps = types.SimpleNamespace(q=z["q"], qd=z["qd"])
ep = types.SimpleNamespace(states=types.SimpleNamespace(inner=types.SimpleNamespace(
    pipeline_state=ps)), length=len(z["q"]))
open(sys.argv[2], "wb").write(rendering.gif_bytes(rendering.brax_env("reacher").sys, ep,
                                                  0.02, 64, 48))
"""


def _check_gif(ep, tmp_path):
  try:
    backend = gl.pick_backend()
  except RuntimeError as e:
    pytest.skip(f"no OpenGL context on this machine: {e}")
  ps = ep.states.inner.pipeline_state
  np.savez(tmp_path / "qs.npz", q=np.asarray(ps.q), qd=np.asarray(ps.qd))
  done = subprocess.run([sys.executable, "-c", _GIF_SCRIPT, str(tmp_path / "qs.npz"),
                         str(tmp_path / "ep.gif")], capture_output=True, text=True, cwd=ROOT,
                        env=dict(os.environ, MUJOCO_GL=backend))
  assert done.returncode == 0, done.stderr
  from PIL import Image
  with Image.open(tmp_path / "ep.gif") as gif:
    assert gif.format == "GIF" and gif.n_frames == 10 and gif.size == (64, 48)


def test_gif_reports_a_missing_gl_context_in_one_line_and_formats_are_checked(tmp_path):
  wd, _ = _export(tmp_path, "reacher", 10)
  bad = _run(f"--workdir={wd}", "--seed=0", "--format=gif",
             env=dict(os.environ, MUJOCO_GL="no_such_backend"))
  assert bad.returncode != 0
  line = bad.stderr.strip().splitlines()[-1]
  assert line.startswith("render.py: --format=gif needs an OpenGL context for mujoco.Renderer "
                         "and none could be made (MUJOCO_GL=no_such_backend: ")
  assert line.endswith("use --format=html, which needs none")
  with pytest.raises(ValueError, match="--format=png is invalid for reacher \\(an MJX pair\\): "
                                       "allowed \\['html', 'gif'\\]"):
    rendering.check_ready("reacher", "png")
  with pytest.raises(ValueError, match="--format=html is invalid for pointmass"):
    rendering.check_ready("pointmass", "html")
  with pytest.raises(ValueError, match="env 'pointmass' has no MJX scene to render"):
    rendering.brax_env("pointmass")


def test_pointmass_episodes_are_the_runs_evaluation_episodes_and_draw_to_png(tmp_path):
  wd, pair = _export(tmp_path, "pointmass", 50)
  pol = policy.load_policy(wd)
  n = pol.meta["eval_episodes"]
  eps = [rendering.record_policy(pol, seed=0, episode=i) for i in range(n)]
  params = pol.params_of(0)
  key = jax.random.fold_in(pol.eval_keys[0], 300)
  want = generation.rollout_policy(pair, lambda o: pol.deterministic(params, o), 50, key, n)
  np.testing.assert_allclose(np.mean([e.episode_return for e in eps]), float(want), rtol=1e-5)
  assert eps[0].length == 50 and eps[0].episode_return != eps[1].episode_return
  with pytest.raises(ValueError, match="episode=2 is invalid: the run evaluates episodes 0..1"):
    rendering.record_policy(pol, seed=0, episode=2)
  done = _run(f"--workdir={wd}", "--seed=0", f"--out={tmp_path / 'pm.png'}")
  assert done.returncode == 0, done.stderr
  with open(tmp_path / "pm.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert f"return {eps[0].episode_return:.2f} in 50 steps" in done.stdout


# --- the HTML in a browser, with no network ------------------------------------------------------
# A proxy on a closed port: every network request fails, file:// pages still load.
_NO_NETWORK = ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]


def _screenshot(browser, page, png):
  """Headless Chromium's screenshot of `page` (software WebGL, no network) as an RGB array."""
  from PIL import Image
  done = subprocess.run(
      [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
       "--enable-unsafe-swiftshader", *_NO_NETWORK, "--window-size=640,480",
       "--virtual-time-budget=8000", f"--screenshot={png}", "file://" + os.path.abspath(page)],
      capture_output=True, text=True, timeout=300)
  assert done.returncode == 0 and os.path.exists(png), done.stderr[-3000:]
  return np.asarray(Image.open(png).convert("RGB")).astype(int)


def test_html_renders_offline_in_headless_chromium(tmp_path):
  """The page holds every script (no URL to fetch) and, with the network cut, Chromium draws
  the scene: many colours, the bodies' among them. brax's own page (scripts from CDNs) stays
  blank under the same conditions, which shows the network really is cut."""
  browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                 "google-chrome"))), None)
  if browser is None:
    pytest.skip("no headless Chromium on PATH (Debian: apt-get install chromium)")
  wd, _ = _export(tmp_path, "inverted_double_pendulum", 20)
  path, _, ep = rendering.render(wd, seed=0)
  page = open(path).read()
  assert not re.search(r"https?://", page)  # nothing outside the page (base64 hides none)
  shot = _screenshot(browser, path, str(tmp_path / "offline.png"))
  colours = np.unique(shot.reshape(-1, 3), axis=0)
  assert len(colours) > 50 and shot.std() > 10, (len(colours), shot.std())
  # The pendulum's beige (three.js's shading of brax's default body colour) is drawn.
  beige = (shot[..., 0] > 180) & (shot[..., 1] > 150) & (shot[..., 2] < 190) & (
      shot[..., 0] - shot[..., 2] > 25)
  assert beige.sum() > 200, beige.sum()
  from brax.io import html
  cdn = tmp_path / "cdn.html"
  cdn.write_text(html.render(rendering.brax_env("inverted_double_pendulum").sys,
                             rendering.frames(ep)))
  blank = _screenshot(browser, str(cdn), str(tmp_path / "cdn.png"))
  assert len(np.unique(blank.reshape(-1, 3), axis=0)) == 1
