"""Draws one evaluation episode of a run's exported policy (<workdir>/policy/).

  python experiments/render.py --workdir=/tmp/run --seed=0                  # html (MJX pairs)
  python experiments/render.py --workdir=/tmp/run --seed=0 --format=gif --out=/tmp/ep.gif
  python experiments/render.py --workdir=/tmp/smoke --seed=1                # pointmass: png

The episode is episode --episode of the run's evaluation at the exported step (the same reset
key), acted by the seed's deterministic policy on --task (default target). Formats:
  * html (MJX pairs; the default there): brax's viewer page, no OpenGL needed;
  * gif (MJX pairs): MuJoCo's offscreen renderer; needs an OpenGL context, tried with
    MUJOCO_GL=egl, then osmesa (or only the MUJOCO_GL already set); fails in one line saying
    why when none works;
  * png (pointmass, the only format there): the xy path with both goals.
Writes --out (default <workdir>/render/seed<seed>_<task>_ep<episode>.<format>). A missing,
corrupt, tampered-with or non-finite export is one line naming the file and what is wrong
(exit 2).
"""
import json
import os
import sys

from absl import app, flags

from wombet_jax.harness import cli
from wombet_jax.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_WORKDIR = flags.DEFINE_string("workdir", None, "A run's workdir (or its policy/ folder).",
                               required=True)
_SEED = flags.DEFINE_integer("seed", None, "One of the run's seeds.", required=True)
_FORMAT = flags.DEFINE_enum("format", None, ["html", "gif", "png"],
                            "Output format (default: html for MJX pairs, png for pointmass).")
_EPISODE = flags.DEFINE_integer("episode", 0, "Which of the run's evaluation episodes.")
_TASK = flags.DEFINE_enum("task", "target", ["target", "source"], "Task to act in.")
_OUT = flags.DEFINE_string("out", None, "Output file.")


def _env_of(path: str) -> str:
  """The run's env from policy.json, read without importing jax or mujoco (the whole export
  is verified when rendering loads it)."""
  for folder in (path, os.path.join(path, "policy")):
    meta = os.path.join(folder, "policy.json")
    if os.path.exists(meta):
      try:
        with open(meta) as f:
          env = json.load(f).get("env")
      except (OSError, ValueError, AttributeError) as e:  # AttributeError: not an object
        raise UserError(f"{meta} is not a readable policy description: "
                        f"{type(e).__name__}: {e}") from None
      if not isinstance(env, str):
        raise UserError(f"{meta} lacks env")
      return env
  raise UserError(f"no policy.json in {path} or {path}/policy; a run writes "
                  "<workdir>/policy/ at each checkpoint and at its end")


@cli.one_line_errors("render.py")
def main(argv):
  del argv
  from absl import logging as absl_logging
  absl_logging.set_verbosity(absl_logging.WARNING)  # jax's and matplotlib's INFO lines
  env = _env_of(_WORKDIR.value)
  fmt = _FORMAT.value  # None: rendering.render picks the pair's default
  from wombet_jax.harness import gl  # imports neither jax nor mujoco
  if fmt == "gif" and env != "pointmass":
    try:
      os.environ["MUJOCO_GL"] = gl.pick_backend()
    except RuntimeError as e:
      sys.exit(f"render.py: {e}")
  from wombet_jax.harness import rendering
  try:
    out, title, _ = rendering.render(_WORKDIR.value, _SEED.value, fmt, _EPISODE.value,
                                     _TASK.value, _OUT.value)
  except (ValueError, FileNotFoundError) as e:  # a flag or the policy folder
    raise UserError(str(e)) from None
  print(f"{title}\nwrote {out}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
