"""Known start-up noise of third-party packages, filtered once where the envs are imported.

Only these, matched exactly; everything else a dependency prints or warns still shows, and
none of the project's own warnings is touched:
  * mujoco.mjx prints "Failed to import warp: ..." and "Failed to import mujoco_warp: ..." on
    import when the optional NVIDIA Warp backend is absent (this project uses MJX's JAX
    backend, so it never needs Warp);
  * brax warns on every model load that its System and pipelines are not maintained (the
    project uses brax's MJCF loader and envs over MJX, which are).
"""
from __future__ import annotations

import contextlib
import io
import sys
import warnings

STDOUT_PREFIXES = ("Failed to import warp:", "Failed to import mujoco_warp:")
BRAX_DEPRECATION = r"Brax System, piplines and environments are not actively being maintained"


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
  """Imports mujoco.mjx without its Warp lines and ignores brax's maintenance warning."""
  warnings.filterwarnings("ignore", message=BRAX_DEPRECATION, category=UserWarning)
  if "mujoco.mjx" not in sys.modules:
    with without_lines(STDOUT_PREFIXES):
      import mujoco.mjx  # noqa: F401  (the import is what prints)
