"""The scripts' one contract for failures: one line on stderr and an exit status.

  * errors.UserError (a flag, a config, an input file): exit 2;
  * errors.RunError (the run had to stop: a non-finite loss, no intact checkpoint) and an
    OSError (a full disk, no permission, a read-only file system): exit 1;
  * SIGINT and SIGTERM: errors.Interrupted, exit 130 and 143 (the shell's 128 + signal).
Anything else is a bug and keeps its traceback, as does everything with --debug (run.py).
"""
from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Callable, NoReturn

from absl import flags
from absl import logging as absl_logging
import ml_collections
from ml_collections.config_flags import config_flags

from wombet_jax import errors


def status(error: BaseException) -> int | None:
  """The exit status of `error` under the contract, or None for a bug."""
  if isinstance(error, KeyboardInterrupt):
    return 130
  code = errors.exit_status(error)
  if code is None and isinstance(error, OSError):
    return errors.RUN_ERROR_STATUS
  return code


def message(error: BaseException) -> str:
  """`error` as the contract's one line (without its prefix)."""
  if isinstance(error, KeyboardInterrupt):
    return "interrupted by SIGINT"
  if isinstance(error, OSError) and errors.exit_status(error) is None:
    return errors.os_error(error)
  return errors.one_line(error)[len("error: "):]


def exit_on(error: BaseException, debug: bool = False, prefix: str = "error: ") -> NoReturn:
  """Prints `error` on one line after `prefix` and exits with its status; a bug (or any error
  with `debug`) propagates with its traceback."""
  code = status(error)
  if code is None or debug:
    raise error
  print(prefix + message(error), file=sys.stderr, flush=True)
  sys.exit(code)


def _on_sigterm(signum, frame):
  raise errors.signal_pending(errors.Interrupted("interrupted by SIGTERM",
                                                 128 + signal.SIGTERM))


def _on_sigint(signum, frame):
  raise errors.signal_pending(KeyboardInterrupt())


def _unraisable(hook: Callable) -> Callable:
  """sys.unraisablehook that stays quiet about a signal's exception lost in a callback: it is
  pending (errors.raise_pending), and the run stops with its one line at the next task."""
  def quiet(unraisable):
    if unraisable.exc_value is not None and errors.is_pending(unraisable.exc_value):
      return
    hook(unraisable)
  return quiet


def stop_on_signals() -> None:
  """SIGTERM raises errors.Interrupted in the main thread and SIGINT KeyboardInterrupt (also
  where the parent started us with SIGINT ignored, as shells do for background jobs), so that
  a run stops between two writes and says how to continue. Both are also recorded as pending,
  for when Python swallows them inside a garbage-collection callback."""
  signal.signal(signal.SIGTERM, _on_sigterm)
  signal.signal(signal.SIGINT, _on_sigint)
  sys.unraisablehook = _unraisable(sys.unraisablehook)


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing (`app.run(main, flags_parser=parse_flags)`), a bad or missing flag
  or a config file that does not load being one line '<script>: error: ...' and exit 2
  instead of absl's two lines (or a traceback) and exit 1."""
  script = os.path.basename(argv[0]) if argv else "script"
  for arg in argv[1:]:
    name, _, spec = arg.lstrip("-").partition("=")
    if spec and name in flags.FLAGS and isinstance(flags.FLAGS[name].parser,
                                                   config_flags.ConfigFileFlagParser):
      message = config_file_error(name, spec)
      if message:
        exit_on(errors.UserError(message), prefix=f"{script}: ")
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    exit_on(errors.UserError(f"{e} (see --helpfull)"), prefix=f"{script}: ")


def _root_cause(e: BaseException) -> BaseException:
  while e.__cause__ is not None:
    e = e.__cause__
  return e


def _why_not_loaded(e: BaseException) -> str:
  """Why a config file did not load, from the error ml_collections wraps."""
  if isinstance(e, FileNotFoundError) or "No such file or directory" in str(e):
    return "no such file"
  if "Permission denied" in str(e):
    return "permission denied"
  if isinstance(e, IsADirectoryError):
    return "a directory, not a file"
  if isinstance(e, SyntaxError):
    return f"syntax error at line {e.lineno}: {e.msg}"
  if isinstance(e, AttributeError) and "get_config" in str(e):
    return "it defines no get_config()"
  if isinstance(e, OSError):
    return errors.os_error(e)
  text = (str(e).strip().splitlines() or [""])[0]
  return f"executing it raised {type(e).__name__}: {text}".rstrip(": ")


def config_file_error(flag: str, spec: str) -> str | None:
  """The one-line message for a config file (flag `flag`, value `spec`) that is missing, does
  not execute or does not give a ConfigDict; None when it loads (the file is executed to find
  out)."""
  try:
    config = flags.FLAGS[flag].parser.parse(spec)
  except Exception as e:  # noqa: BLE001  (a config file is arbitrary Python)
    return f"--{flag}={spec} is invalid: {_why_not_loaded(_root_cause(e))}"
  # ml_collections returns a stand-in holding the error for a file it could not open.
  error = object.__getattribute__(config, "_error") if hasattr(type(config), "_ReportError") \
      else None
  if error is not None:
    return f"--{flag}={spec} is invalid: {_why_not_loaded(_root_cause(error))}"
  if not isinstance(config, ml_collections.ConfigDict):
    return (f"--{flag}={spec} is invalid: get_config() returned a {type(config).__name__}, "
            "not an ml_collections.ConfigDict")
  return None


def one_line_errors(script: str) -> Callable:
  """Decorates a script's absl `main(argv)` with the contract, its lines prefixed
  '<script>: '."""
  def wrap(main: Callable) -> Callable:
    @functools.wraps(main)
    def wrapped(argv):
      # jax logs its backend search at INFO through absl; a script's output is its own.
      absl_logging.set_verbosity(absl_logging.WARNING)
      stop_on_signals()
      try:
        return main(argv)
      except (Exception, KeyboardInterrupt) as e:
        exit_on(e, prefix=f"{script}: ")
    return wrapped
  return wrap
