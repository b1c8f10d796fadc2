"""Errors a run reports to its user in one line, and how the command line exits on them.

UserError: the inputs are wrong (a config field, a flag, a workdir holding another run); the
message names the field, its value and what is allowed. Exit status 2.
RunError: the inputs were accepted but the run cannot go on (a non-finite loss, no intact
checkpoint to resume from, a full disk); the message says what failed, where, and what was
kept. Exit 1.
Interrupted: the run was stopped by SIGINT (exit 130) or SIGTERM (exit 143), the shell's
128 + signal number; the message says where it stopped and whether --resume continues it.
Any other exception is an internal error and keeps its traceback.
"""
from __future__ import annotations

USER_ERROR_STATUS = 2
RUN_ERROR_STATUS = 1


class UserError(ValueError):
  """Bad input to a run: config values, command-line flags, the state of the workdir."""


class RunError(Exception):
  """A run that started correctly and had to stop; nothing after its last checkpoint is kept."""


class NonFiniteError(RunError, FloatingPointError, ValueError):
  """A loss, gradient norm, parameter or evaluation return became NaN/inf. Also a ValueError,
  as are the other checks of the world-model API that raise it."""


class EmptyFilterError(RunError, ValueError):
  """The dual filter kept no generated trajectory, so D_off would be empty. Also a ValueError,
  as the filter's other checks are."""


class CheckpointError(RunError):
  """No checkpoint of the workdir could be restored and verified."""


class Interrupted(RunError):
  """SIGINT or SIGTERM stopped the run; `status` is the shell's 128 + signal number."""

  def __init__(self, message: str, status: int):
    super().__init__(message)
    self.status = status


# A signal handler's exception can be lost: raised while Python runs a garbage-collection
# callback (jax registers one), it is reported as "Exception ignored" and the code it
# interrupted carries on. So the handlers also record it here, and a run raises it at its next
# task boundary (`raise_pending`).
_pending: list[BaseException] = []


def signal_pending(error: BaseException) -> BaseException:
  """Records `error` (a signal's) as pending and returns it, for the handler to raise."""
  _pending[:] = [error]
  return error


def is_pending(error: BaseException) -> bool:
  return any(error is e for e in _pending)


def raise_pending() -> None:
  """Raises the signal exception recorded since the last `clear_pending`, if any."""
  if _pending:
    raise _pending.pop()


def clear_pending() -> None:
  _pending.clear()


def exit_status(error: BaseException) -> int | None:
  """The command line's exit status for `error`, or None for an internal error."""
  if isinstance(error, Interrupted):
    return error.status
  if isinstance(error, UserError):
    return USER_ERROR_STATUS
  if isinstance(error, RunError):
    return RUN_ERROR_STATUS
  return None


def one_line(error: BaseException) -> str:
  """`error`'s message on a single line (continuation lines joined with ' | ')."""
  lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
  return "error: " + (" | ".join(lines) if lines else type(error).__name__)


def os_error(error: OSError) -> str:
  """An OSError as '<path>: <reason>' (the reason without errno's number)."""
  reason = error.strerror or " | ".join(
      ln.strip() for ln in str(error).splitlines() if ln.strip()) or type(error).__name__
  paths = [p for p in (error.filename, error.filename2) if p is not None]
  return f"{' -> '.join(map(str, paths))}: {reason}" if paths else reason
