"""Known start-up noise of third-party packages, filtered once where the envs are imported.

Only these, matched exactly; everything else a dependency prints or warns still shows, and
none of the project's own warnings is touched:
  * mujoco.mjx prints "Failed to import warp: ..." and "Failed to import mujoco_warp: ..." on
    import when the optional NVIDIA Warp backend is absent (this project uses MJX's JAX
    backend, so it never needs Warp);
  * brax warns on every model load that its System and pipelines are not maintained (the
    project uses brax's MJCF loader and envs over MJX, which are);
  * MuJoCo's compiler warns that brax's locomotion XMLs use the deprecated `settotalmass`
    attribute, printing it and appending it to a MUJOCO_LOG.TXT in the working directory on
    every model load (the attribute still works in the pinned MuJoCo; brax owns the XMLs).
    Other MuJoCo warnings are printed as MuJoCo prints them, though no longer logged to that
    file; a warning handler the user installed first is left in place.
"""
from __future__ import annotations

import contextlib
import io
import sys
import warnings

STDOUT_PREFIXES = ("Failed to import warp:", "Failed to import mujoco_warp:")
BRAX_DEPRECATION = r"Brax System, piplines and environments are not actively being maintained"
MUJOCO_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)


def mujoco_warning(message: str) -> None:
  """MuJoCo's warning handler: the known messages dropped, any other printed as MuJoCo's
  default handler prints it."""
  if not message.startswith(MUJOCO_WARNINGS):
    sys.stdout.write(f"WARNING: {message}\n\n")
    sys.stdout.flush()


@contextlib.contextmanager
def without_lines(prefixes: tuple[str, ...]):
  """Runs the body with stdout captured, then prints every captured line except those that
  start with one of `prefixes`."""
  buf = io.StringIO()
  try:
    with contextlib.redirect_stdout(buf):
      yield
  finally:
    for line in buf.getvalue().splitlines(keepends=True):
      if not line.startswith(prefixes):
        sys.stdout.write(line)


def quiet_imports() -> None:
  """Imports mujoco.mjx without its Warp lines, ignores brax's maintenance warning and drops
  MuJoCo's settotalmass warning."""
  warnings.filterwarnings("ignore", message=BRAX_DEPRECATION, category=UserWarning)
  import mujoco
  if mujoco.get_mju_user_warning() is None:
    mujoco.set_mju_user_warning(mujoco_warning)
  if "mujoco.mjx" not in sys.modules:
    with without_lines(STDOUT_PREFIXES):
      import mujoco.mjx  # noqa: F401  (the import is what prints)
