"""What made a result, as the scripts record it next to their output: the command line as
run, the checkout's commit, the date and the elapsed seconds.

  command()           'python experiments/<script> <flags>' (flags quoted for a shell)
  commit()            the checkout's commit, '+dirty' when tracked files differ from it
  today()             YYYY-MM-DD
  seconds_since(t0)   time.time() - t0, rounded to a tenth
  record(t0)          {"command", "date", "seconds"}: the keys of oracle_dataset.py's JSON and
                      of reference_scores.json's entries
"""
from __future__ import annotations

import datetime
import os
import shlex
import subprocess
import sys
import time
from typing import Sequence

# The checkout that holds this package (a built wheel's site-packages has no git: "unknown").
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def script_path(path: str) -> str:
  """A script's path as typed from the checkout's root: from its `experiments` folder on
  ('experiments/diagnostics/lower_bound.py'), else relative to the working directory."""
  parts = os.path.abspath(path).split(os.sep)
  if "experiments" in parts:
    i = len(parts) - 1 - parts[::-1].index("experiments")
    return "/".join(parts[i:])
  return os.path.relpath(path)


def command(argv: Sequence[str] | None = None, drop: Sequence[str] = ()) -> str:
  """The command line of the running script (`argv`, default sys.argv), e.g. 'python
  experiments/figures.py --figure=5', without the arguments in `drop`."""
  argv = list(sys.argv if argv is None else argv)
  args = [shlex.quote(a) for a in argv[1:] if a not in drop]
  return " ".join(["python", script_path(argv[0])] + args)


def commit(root: str = CHECKOUT) -> str:
  """The commit checked out at `root`, with '+dirty' when tracked files differ from it;
  'unknown' outside a git checkout."""
  def git(*args):
    try:
      return subprocess.run(["git", "-C", root, *args], capture_output=True,
                            text=True).stdout.strip()
    except OSError:  # no git
      return ""
  head = git("rev-parse", "HEAD") or "unknown"
  dirty = git("status", "--porcelain", "--untracked-files=no")
  return head + ("+dirty" if dirty and head != "unknown" else "")


def today() -> str:
  return datetime.date.today().isoformat()


def seconds_since(t0: float, ndigits: int | None = 1) -> float:
  """Seconds from `t0` (a time.time()) to now, rounded to `ndigits` (None: not rounded)."""
  s = time.time() - t0
  return s if ndigits is None else round(s, ndigits)


def record(t0: float, argv: Sequence[str] | None = None) -> dict:
  """{"command", "date", "seconds"} of the running script, started at `t0`."""
  return {"command": command(argv), "date": today(), "seconds": seconds_since(t0)}
