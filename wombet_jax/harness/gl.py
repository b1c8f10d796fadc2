"""Choosing MuJoCo's OpenGL backend for offscreen rendering, before mujoco is imported.

mujoco binds its GL platform (MUJOCO_GL: egl, osmesa, glfw) when it is first imported, so a
process can only try one. `pick_backend` probes each candidate in a short subprocess and
returns the first under which mujoco makes an offscreen context. This module imports neither
jax nor mujoco (wombet_jax/__init__.py and wombet_jax/harness/__init__.py import nothing).
"""
from __future__ import annotations

import os
import subprocess
import sys

BACKENDS = ("egl", "osmesa")
_PROBE = ("import mujoco\n"
          "ctx = mujoco.GLContext(16, 16)\n"
          "ctx.make_current()\n"
          "model = mujoco.MjModel.from_xml_string('<mujoco/>')\n"
          "mujoco.Renderer(model, 16, 16).close()\n"
          "ctx.free()\n")


def pick_backend(timeout_s: float = 120.0) -> str:
  """The MUJOCO_GL value to use: the one already set if it works, else egl, then osmesa.
  Raises RuntimeError naming each backend tried and why it failed."""
  chosen = os.environ.get("MUJOCO_GL")
  failures = []
  for backend in (chosen,) if chosen else BACKENDS:
    try:
      probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                             env=dict(os.environ, MUJOCO_GL=backend), timeout=timeout_s)
    except subprocess.TimeoutExpired:
      failures.append(f"MUJOCO_GL={backend}: no context after {timeout_s:.0f} s")
      continue
    if probe.returncode == 0:
      return backend
    lines = (probe.stderr or probe.stdout or "no output").strip().splitlines()
    failures.append(f"MUJOCO_GL={backend}: {lines[-1]}")
  raise RuntimeError("--format=gif needs an OpenGL context for mujoco.Renderer and none could "
                     f"be made ({'; '.join(failures)}); use --format=html, which needs none")
