"""Every failure one line: bad inputs and faults tried on the command line, one row per case.

  python experiments/fault_check.py                      # the table, about fifteen minutes on 2 shared cores
  python experiments/fault_check.py --json=/tmp/f.json   # also every row as JSON
  python experiments/fault_check.py --only=policy,scripts

Not part of CI (it starts about ninety processes). Each case runs a script beside run.py as a
subprocess, on the smoke config or on a finished smoke run it makes first, and records its exit
status, how many lines it wrote to stderr (those of the contract: lines of jax's and mujoco's
own start-up messages are counted apart), whether a traceback appeared, and its last stderr
line. A case passes when its status is the expected one, it printed exactly one error line and
no traceback. Categories: config values and relations, config files, workdirs (occupied,
unusable, locked, left over), each script's flags, policy files, OS errors (a real full tmpfs
and a read-only one where this process may mount them, else simulated) and signals.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable

from absl import app, flags

from wombet_jax.harness import cli, tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, "experiments", "configs", "smoke.py")

_JSON = flags.DEFINE_string("json", None, "Also write the rows as JSON to this path.")
_ONLY = flags.DEFINE_list("only", [], "Categories to run (default: all).")
_WORK = flags.DEFINE_string("work", None, "Scratch folder (default: a new temporary one).")
_TIMEOUT = flags.DEFINE_integer("timeout", 300, "Seconds per case.")

# Start-up messages of the libraries, not of the contract (counted apart).
NOISE = ("Failed to import warp", "Failed to import mujoco_warp")


@dataclasses.dataclass
class Case:
  category: str
  name: str
  argv: list          # [script, *flags] under experiments/, or ["-c", code]
  status: int         # the expected exit status
  setup: Callable[[], None] | None = None
  signal_at: tuple | None = None  # (signal, the n-th "checkpoint saved" line)
  check: Callable[[], str] | None = None  # after the case: "" or what is wrong


def _command(argv: list) -> list:
  if argv[0] == "-c":
    return [sys.executable, *argv]
  return [sys.executable, os.path.join(ROOT, "experiments", argv[0]), *argv[1:]]


def run_case(case: Case, env: dict, timeout: int) -> tables.FaultRow:
  if case.setup:
    case.setup()
  t0 = time.time()
  proc = subprocess.Popen(_command(case.argv), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  try:
    if case.signal_at:
      sig, nth = case.signal_at
      seen = 0
      for line in proc.stdout:
        seen += "checkpoint saved" in line
        if seen == nth:
          proc.send_signal(sig)
          break
    _, err = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    proc.kill()
    _, err = proc.communicate()
  lines = [ln for ln in err.splitlines() if ln.strip()]
  noise = [ln for ln in lines if ln.startswith(NOISE)]
  own = [ln for ln in lines if not ln.startswith(NOISE)]
  return tables.FaultRow(case.category, case.name, case.status, proc.returncode, len(own),
                         len(noise), "Traceback" in err, round(time.time() - t0, 1),
                         (own[-1] if own else "")[:160], case.check() if case.check else "")


# --- the cases -------------------------------------------------------------------------------
def _run(*args) -> list:
  return ["run.py", f"--config={SMOKE}", *args]


def _config_cases(w: str) -> list[Case]:
  wd = f"--workdir={w}/never"
  bad = [("seed=-1", ["--config.seed=-1"]), ("seed not a number", ["--config.seed=abc"]),
         ("num_seeds=0", ["--config.num_seeds=0"]),
         ("lambda_q beyond float32", ["--config.agent.lambda_q=1e39"]),
         ("eval_every beyond int32", ["--config.loop.eval_every=2147483648"]),
         ("eps_u=1.5", ["--config.filter.eps_u=1.5"]),
         ("unknown field", ["--config.agent.nonexistent=1"]),
         ("unknown section", ["--config.nosection.x=1"]),
         ("unknown algo", ["--config.algo=dqn"]), ("unknown env", ["--config.env=nope"]),
         ("unknown compared algo", ["--config.compare=nope"]),
         ("num_elites > ensemble_size", ["--config.world_model.num_elites=99"]),
         ("world_model.batch_size > capacity", ["--config.world_model.batch_size=4096"]),
         ("world_model.capacity < episode length", ["--config.world_model.capacity=40",
                                                    "--config.world_model.batch_size=32"]),
         ("ppo minibatches do not divide rollout", ["--config.algo=ppo",
                                                    "--config.ppo.num_minibatches=3"]),
         ("compared ppo with bad minibatches", ["--config.compare=ppo",
                                                "--config.ppo.num_minibatches=3"]),
         ("unknown flag", ["--no_such_flag=1"])]
  return [Case("config values", name, _run(*args, wd), 2) for name, args in bad]


def _config_file_cases(w: str) -> list[Case]:
  files = {"missing": None, "syntax error": "def get_config(:\n",
           "failing import": "import no_such_module_xyz\n", "no get_config": "X = 1\n",
           "returns an int": "def get_config():\n  return 5\n",
           "raises": "def get_config():\n  raise RuntimeError('boom')\n"}
  cases = []
  for name, text in files.items():
    path = os.path.join(w, "configs", name.replace(" ", "_") + ".py")
    if text is not None:
      os.makedirs(os.path.dirname(path), exist_ok=True)
      with open(path, "w") as f:
        f.write(text)
    cases.append(Case("config files", name, ["run.py", f"--config={path}",
                                             f"--workdir={w}/never"], 2))
  cases.append(Case("config files", "a directory", ["run.py", f"--config={w}",
                                                    f"--workdir={w}/never"], 2))
  return cases


def _copy(src: str, dst: str, drop: tuple = ()) -> Callable[[], None]:
  def setup():
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, symlinks=True)
    for d in drop:
      path = os.path.join(dst, d)
      shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
  return setup


def _workdir_cases(w: str, done: str) -> list[Case]:
  file = os.path.join(w, "a_file")
  with open(file, "w") as f:
    f.write("x")
  corrupt = os.path.join(w, "corrupt")

  def corrupt_both():
    _copy(done, corrupt)()
    for step in os.listdir(os.path.join(corrupt, "checkpoints")):
      meta = os.path.join(corrupt, "checkpoints", step, "meta", "metadata")
      with open(meta, "w") as f:
        f.write("{")

  truncated = os.path.join(w, "truncated")

  def truncate_arrays():
    """Every checkpoint's largest array file cut in half: orbax's reads fail in TensorStore."""
    _copy(done, truncated)()
    for step in os.listdir(os.path.join(truncated, "checkpoints")):
      state = os.path.join(truncated, "checkpoints", step, "state")
      files = [os.path.join(r, f) for r, _, fs in os.walk(state) for f in fs
               if os.path.basename(r) == "d"]
      largest = max(files, key=os.path.getsize)
      with open(largest, "r+b") as f:
        f.truncate(os.path.getsize(largest) // 2)

  link = os.path.join(w, "linked")

  def linked_policy():
    _copy(done, link)()
    target = os.path.join(w, "linked_target")
    shutil.rmtree(target, ignore_errors=True)
    os.rename(os.path.join(link, "policy"), target)
    os.symlink(target, os.path.join(link, "policy"))

  locked = os.path.join(w, "locked")
  return [
      Case("workdirs", "a file", _run(f"--workdir={file}"), 2),
      Case("workdirs", "under a file", _run(f"--workdir={file}/run"), 2),
      Case("workdirs", "fresh run into a finished run", _run(f"--workdir={done}"), 2),
      Case("workdirs", "fresh run into a run stopped before its first checkpoint",
           _run(f"--workdir={w}/leftovers"), 2, _copy(done, f"{w}/leftovers", ("checkpoints",))),
      Case("workdirs", "resume with another seed", _run(f"--workdir={done}", "--resume",
                                                        "--config.seed=5"), 2),
      Case("workdirs", "resume with another network size",
           _run(f"--workdir={done}", "--resume", "--config.agent.hidden_size=64"), 2),
      Case("workdirs", "resume, every checkpoint's metadata corrupt",
           _run(f"--workdir={corrupt}", "--resume"),
           1, corrupt_both),
      Case("workdirs", "resume, every checkpoint's arrays truncated",
           _run(f"--workdir={truncated}", "--resume"), 1, truncate_arrays),
      Case("workdirs", "resume, policy/ a symbolic link", _run(f"--workdir={link}", "--resume"),
           2, linked_policy),
      Case("workdirs", "in use by another process (fresh)", _run(f"--workdir={locked}"), 2),
      Case("workdirs", "in use by another process (--resume)",
           _run(f"--workdir={locked}", "--resume"), 2),
  ]


def _script_cases(w: str, done: str) -> list[Case]:
  t = f"--table={w}/table.json"
  return [
      Case("scripts", "figures.py --figure=9", ["figures.py", "--figure=9"], 2),
      Case("scripts", "figures.py unknown env", ["figures.py", "--figure=5", "--env=nope"], 2),
      Case("scripts", "figures.py --draw_only with no runs",
           ["figures.py", "--figure=5", "--draw_only", f"--workdir={w}/figs", f"--out={w}/o"], 2),
      Case("scripts", "figures.py no --figure", ["figures.py"], 2),
      Case("scripts", "reference_scores.py unknown pair", ["reference_scores.py", "--envs=nope",
                                                           t], 2),
      Case("scripts", "reference_scores.py negative length",
           ["reference_scores.py", "--envs=pointmass", "--episode_length=-3", t], 2),
      Case("scripts", "reference_scores.py steps not a multiple of evals",
           ["reference_scores.py", "--envs=pointmass", "--reference_steps=7", "--num_evals=2",
            t], 2),
      Case("scripts", "reference_scores.py --run of no run",
           ["reference_scores.py", "--envs=pointmass", f"--run={w}/none", "--random_episodes=2",
            t], 2),
      Case("scripts", "evaluate.py no workdir", ["evaluate.py", f"--workdir={w}/none"], 2),
      Case("scripts", "evaluate.py unknown seed", ["evaluate.py", f"--workdir={done}",
                                                   "--seed=99"], 2),
      Case("scripts", "evaluate.py --task=bogus", ["evaluate.py", f"--workdir={done}",
                                                   "--task=bogus"], 2),
      Case("scripts", "render.py unknown seed", ["render.py", f"--workdir={done}", "--seed=99"],
           2),
      Case("scripts", "render.py html on pointmass", ["render.py", f"--workdir={done}",
                                                      "--seed=0", "--format=html"], 2),
      Case("scripts", "render.py no workdir", ["render.py", f"--workdir={w}/none", "--seed=0"],
           2),
      Case("scripts", "postprocess.py compare no run",
           ["postprocess.py", "compare", f"--workdir={w}/none"], 2),
      Case("scripts", "postprocess.py thresholds no run",
           ["postprocess.py", "thresholds", f"--workdir={w}/none"], 2),
      Case("scripts", "postprocess.py normalise no run",
           ["postprocess.py", "normalise", f"--workdir={w}/none"], 2),
      Case("scripts", "postprocess.py compare --baseline (a thresholds flag)",
           ["postprocess.py", "compare", f"--workdir={done}", "--baseline=sac"], 2),
      Case("scripts", "postprocess.py unknown subcommand",
           ["postprocess.py", "plot", f"--workdir={done}"], 2),
      Case("scripts", "source_phase.py no run",
           ["diagnostics/source_phase.py", f"--workdir={w}/none"], 2),
      Case("scripts", "lower_bound.py negative lambda",
           ["diagnostics/lower_bound.py", f"--config={SMOKE}", "--lambdas=-1", f"--out={w}/lb"],
           2),
      Case("scripts", "source_planner.py --trials=0",
           ["diagnostics/source_planner.py", f"--config={SMOKE}", "--trials=0"], 2),
      Case("scripts", "lower_bound.py missing config file",
           ["diagnostics/lower_bound.py", f"--config={w}/none.py", f"--out={w}/lb"], 2),
  ]


def _policy_cases(w: str, done: str) -> list[Case]:
  src = os.path.join(done, "policy")

  def params(p):
    with open(os.path.join(p, "policy.json")) as f:
      return os.path.join(p, json.load(f)["params_file"])

  def edit_meta(p, change):
    with open(os.path.join(p, "policy.json")) as f:
      meta = json.load(f)
    change(meta)
    with open(os.path.join(p, "policy.json"), "w") as f:
      json.dump(meta, f)

  def truncate(p):
    with open(params(p), "r+b") as f:
      f.truncate(os.path.getsize(params(p)) // 2)

  def flip(p):
    data = bytearray(open(params(p), "rb").read())
    data[len(data) // 2] ^= 1
    open(params(p), "wb").write(bytes(data))

  def nan(p):
    import numpy as np
    with np.load(params(p)) as z:
      arrays = {k: z[k] for k in z.files}
    for k in arrays:
      if k.startswith("params/"):
        arrays[k] = np.full_like(arrays[k], np.nan)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    open(params(p), "wb").write(buf.getvalue())
    edit_meta(p, lambda m: m.update(params_sha256=hashlib.sha256(buf.getvalue()).hexdigest()))

  faults = {
      "truncated params": truncate, "bit-flipped params": flip, "all-NaN params": nan,
      "missing params file": lambda p: os.unlink(params(p)),
      "garbage policy.json": lambda p: open(os.path.join(p, "policy.json"), "w").write("{x"),
      "policy.json a list": lambda p: open(os.path.join(p, "policy.json"), "w").write("[1]"),
      "no params_file": lambda p: edit_meta(p, lambda m: m.pop("params_file")),
      "no checksum": lambda p: edit_meta(p, lambda m: m.pop("params_sha256")),
      "absolute params_file": lambda p: edit_meta(p, lambda m: m.update(
          params_file="/etc/passwd")),
      "params_file outside": lambda p: edit_meta(p, lambda m: m.update(
          params_file="../params-0123456789abcdef.npz")),
      "hidden sizes changed": lambda p: edit_meta(p, lambda m: m.update(hidden=[16, 16])),
      "no policy.json": lambda p: os.unlink(os.path.join(p, "policy.json")),
  }
  cases = []
  for name, fault in faults.items():
    dst = os.path.join(w, "policies", name.replace(" ", "_").replace(".", "_"))

    def setup(dst=dst, fault=fault):
      _copy(src, dst)()
      fault(dst)

    for script in ("evaluate.py", "render.py"):
      extra = ["--seed=0", f"--out={w}/render.png"] if script == "render.py" else []
      cases.append(Case("policy files", f"{script}: {name}",
                        [script, f"--workdir={dst}", *extra], 2, setup))
  return cases


def _mount(opts: str, path: str) -> bool:
  """A tmpfs at `path` with mount options `opts`; False where this process may not mount."""
  os.makedirs(path, exist_ok=True)
  return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path],
                        capture_output=True).returncode == 0


def _same_metrics(a: str, b: str) -> Callable[[], str]:
  def check() -> str:
    try:
      with open(os.path.join(a, "metrics.jsonl"), "rb") as f, \
          open(os.path.join(b, "metrics.jsonl"), "rb") as g:
        return "" if f.read() == g.read() else "metrics.jsonl differs from the undisturbed run's"
    except OSError as e:
      return str(e)
  return check


def _no_orbax_temp(ckpt: str) -> Callable[[], str]:
  def check() -> str:
    left = [n for n in (os.listdir(ckpt) if os.path.isdir(ckpt) else []) if "tmp" in n]
    return f"left {left}" if left else ""
  return check


SIMULATED_FULL = """
import os, runpy, sys
from wombet_jax.harness import checkpointing
def full(directory, step, state, meta):
  os.makedirs(os.path.join(directory, f"{step}.orbax-checkpoint-tmp-1"), exist_ok=True)
  raise ValueError("RESOURCE_EXHAUSTED: Error writing local file: [OS error 28: No space left "
                   "on device]")
checkpointing.save = full
sys.argv = ["run.py"] + sys.argv[1:]
runpy.run_path(os.path.join(%r, "experiments", "run.py"), run_name="__main__")
"""


def _os_cases(w: str, done: str, mounts: list) -> list[Case]:
  cases = []
  full, ro = os.path.join(w, "full"), os.path.join(w, "ro")
  if _mount("size=400k", full):  # room for the first checkpoint, not the second
    mounts.append(full)
    run = f"{full}/run"
    cases.append(Case("OS errors", "full disk (400 KiB tmpfs)", _run(f"--workdir={run}"), 1,
                      check=_no_orbax_temp(f"{run}/checkpoints")))
    cases.append(Case("OS errors", "--resume once space is freed", _run(f"--workdir={run}",
                                                                        "--resume"), 0,
                      lambda: subprocess.run(["mount", "-o", "remount,size=8m", full]),
                      check=_same_metrics(run, done)))
  if _mount("size=1m,ro", ro):
    mounts.append(ro)
    cases.append(Case("OS errors", "read-only file system", _run(f"--workdir={ro}/run"), 2))
  sim = os.path.join(w, "simulated_full")
  cases.append(Case("OS errors", "full disk at a checkpoint (simulated RESOURCE_EXHAUSTED)",
                    ["-c", SIMULATED_FULL % ROOT, f"--config={SMOKE}", f"--workdir={sim}",
                     "--resume"], 1, _copy(done, sim, ("checkpoints/12",)),
                    check=_no_orbax_temp(f"{sim}/checkpoints")))
  cases.append(Case("OS errors", "--resume after the simulated full disk",
                    _run(f"--workdir={sim}", "--resume"), 0, check=_same_metrics(sim, done)))
  cases.append(Case("OS errors", "workdir under /proc", _run("--workdir=/proc/no/run"), 2))
  if os.geteuid() != 0:  # root ignores permissions
    denied = os.path.join(w, "denied")
    os.makedirs(denied, mode=0o500, exist_ok=True)
    cases.append(Case("OS errors", "permission denied", _run(f"--workdir={denied}/run"), 2))
  return cases


def _signal_cases(w: str, done: str) -> list[Case]:
  wd = os.path.join(w, "signalled")
  return [Case("signals", "SIGTERM after the first checkpoint", _run(f"--workdir={wd}"), 143,
               signal_at=(signal.SIGTERM, 1)),
          Case("signals", "SIGINT after the next checkpoint", _run(f"--workdir={wd}", "--resume"),
               130, signal_at=(signal.SIGINT, 1)),
          Case("signals", "--resume to the end", _run(f"--workdir={wd}", "--resume"), 0,
               check=_same_metrics(wd, done))]


@cli.one_line_errors("fault_check.py")
def main(argv):
  del argv
  t0 = time.time()
  w = _WORK.value or tempfile.mkdtemp(prefix="wombet_fault_check_")
  os.makedirs(w, exist_ok=True)
  env = dict(os.environ)
  env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(w, "jax_cache"))
  done = os.path.join(w, "done")
  if not os.path.exists(os.path.join(done, "summary.json")):
    print(f"[fault_check] a finished smoke run in {done} ...", flush=True)
    out = subprocess.run(_command(_run(f"--workdir={done}")), cwd=ROOT, env=env,
                         capture_output=True, text=True)
    if out.returncode:
      raise RuntimeError(f"the smoke run failed: {out.stderr[-2000:]}")
  mounts: list = []
  groups = {"config": lambda: _config_cases(w), "files": lambda: _config_file_cases(w),
            "workdirs": lambda: _workdir_cases(w, done),
            "scripts": lambda: _script_cases(w, done),
            "policy": lambda: _policy_cases(w, done), "os": lambda: _os_cases(w, done, mounts),
            "signals": lambda: _signal_cases(w, done)}
  rows = []
  from wombet_jax.harness import workdir
  lock = workdir.acquire(os.path.join(w, "locked"))  # the "in use" cases meet this process
  try:
    for group, make in groups.items():
      if _ONLY.value and group not in _ONLY.value:
        continue
      for case in make():
        row = run_case(case, env, _TIMEOUT.value)
        rows.append(row)
        print(f"[fault_check] {'ok  ' if row.ok else 'FAIL'} {row.category}: {row.case}: "
              f"exit {row.status}, {row.stderr_lines} line(s), {row.seconds:.0f} s | "
              f"{row.last_line}", flush=True)
  finally:
    lock.release()
    for m in mounts:
      subprocess.run(["umount", m], capture_output=True)
  print()
  print(tables.fault_check_table(rows))
  print(f"\nwall time {time.time() - t0:.0f} s")
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump({"rows": [dict(dataclasses.asdict(r), ok=r.ok) for r in rows],
                 "wall_seconds": round(time.time() - t0, 1)}, f, indent=1)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
