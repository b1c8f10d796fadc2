"""Bad input files and flags, each one line and its exit status: config files, the scripts
beside run.py, and policy exports that are corrupt, tampered with, poisoned or not finite.

The policy cases change a copy of the session's smoke run export (conftest.full_run); the
command lines fail before anything compiles.
"""
import hashlib
import io
import json
import os
import shutil

import numpy as np
import pytest

import helpers
from wombet_jax.harness import policy


# --- config files --------------------------------------------------------------------------------
@pytest.mark.parametrize("text,why", [
    (None, "no such file"),
    ("def get_config(:\n", "syntax error at line 1: invalid syntax"),
    ("X = 1\n", "it defines no get_config()"),
    ("import no_such_module_xyz\n", "executing it raised ModuleNotFoundError: No module named "
                                    "'no_such_module_xyz'"),
    ("def get_config():\n  return 5\n", "get_config() returned a int, not an "
                                        "ml_collections.ConfigDict"),
])
def test_a_bad_config_file_is_one_line_with_status_2(tmp_path, text, why):
  path = tmp_path / "config.py"
  if text is not None:
    path.write_text(text)
  out = helpers.script("run.py", f"--config={path}", f"--workdir={tmp_path / 'wd'}")
  assert out.returncode == 2, out.stderr[-3000:]
  assert "Traceback" not in out.stderr
  [line] = helpers.error_lines(out.stderr)
  assert line == f"error: --config={path} is invalid: {why}"
  assert not os.path.exists(tmp_path / "wd")


# --- the scripts beside run.py -------------------------------------------------------------------
@pytest.mark.parametrize("name,args,needle", [
    ("figures.py", ["--figure=9"], "--figure=9 is not a figure of the paper"),
    ("reference_scores.py", ["--envs=nope"], "--envs contains 'nope'; known pairs: "),
    ("reference_scores.py", ["--envs=pointmass", "--episode_length=-3", "--random_episodes=2"],
     "--episode_length=-3: must be >= 0"),
])
def test_a_bad_script_flag_is_one_line_with_status_2(tmp_path, name, args, needle):
  out = helpers.script(name, *args, f"--table={tmp_path / 't.json'}"
                       if name == "reference_scores.py" else f"--out={tmp_path / 'out'}")
  assert out.returncode == 2, out.stderr[-3000:]
  assert "Traceback" not in out.stderr
  [line] = helpers.error_lines(out.stderr, prefix=f"{name}: ")
  assert needle in line, line
  assert not os.listdir(tmp_path)


@pytest.mark.parametrize("args,line", [
    ([], "no subcommand: the first argument is one of compare, thresholds, normalise"),
    (["plot", "--workdir=x"],
     "unknown subcommand 'plot': the first argument is one of compare, thresholds, normalise"),
    (["compare", "--workdir=x", "--baseline=sac"],
     "--baseline is not a flag of compare (a flag of thresholds): compare takes --workdir, "
     "--title"),
    (["normalise", "--workdir=x", "--nope=1"],
     "--nope is not a flag of normalise: normalise takes --workdir"),
])
def test_postprocess_takes_a_subcommand_and_only_its_flags(args, line):
  out = helpers.script("postprocess.py", *args)
  assert out.returncode == 2, out.stderr[-3000:]
  assert "Traceback" not in out.stderr
  assert helpers.error_lines(out.stderr, prefix="postprocess.py: ") == [f"postprocess.py: {line}"]


def test_postprocess_subcommand_errors_name_the_subcommand(tmp_path):
  out = helpers.script("postprocess.py", "thresholds", f"--workdir={tmp_path}",
                       "--fractions=0.5,2")
  assert out.returncode == 2, out.stderr[-3000:]
  assert helpers.error_lines(out.stderr, prefix="postprocess.py thresholds: ") == [
      "postprocess.py thresholds: --fractions contains '2': must be numbers in (0, 1]"]


# --- policy exports ------------------------------------------------------------------------------
def _policy_copy(full_run, tmp_path) -> str:
  path = str(tmp_path / "policy")
  shutil.copytree(os.path.join(full_run[0], "policy"), path)
  return path


def _meta(path):
  with open(os.path.join(path, "policy.json")) as f:
    return json.load(f)


def _write_meta(path, meta):
  with open(os.path.join(path, "policy.json"), "w") as f:
    json.dump(meta, f)


def _params(path):
  return os.path.join(path, _meta(path)["params_file"])


def _truncate(path):
  with open(_params(path), "r+b") as f:
    f.truncate(os.path.getsize(_params(path)) // 2)


def _flip(path):
  data = bytearray(open(_params(path), "rb").read())
  data[len(data) // 2] ^= 0x01
  open(_params(path), "wb").write(bytes(data))


def _set(**fields):
  def change(path):
    meta = _meta(path)
    meta.update(fields)
    _write_meta(path, meta)
  return change


def _drop(field):
  def change(path):
    meta = _meta(path)
    del meta[field]
    _write_meta(path, meta)
  return change


def _garbage(path):
  open(os.path.join(path, "policy.json"), "w").write("{not json")


def _remove_params(path):
  os.unlink(_params(path))


def _link_outside(path):
  """The parameter file replaced by a link to a (valid) copy in another folder."""
  outside = os.path.join(os.path.dirname(path), "outside.npz")
  shutil.move(_params(path), outside)
  os.symlink(outside, _params(path))


def _nan(path):
  """NaN parameters with a matching checksum: what a diverged run could have exported."""
  with np.load(_params(path)) as z:
    arrays = {k: z[k] for k in z.files}
  name = next(k for k in arrays if k.startswith("params/"))
  arrays[name] = np.full_like(arrays[name], np.nan)
  buf = io.BytesIO()
  np.savez(buf, **arrays)
  open(_params(path), "wb").write(buf.getvalue())
  _set(params_sha256=hashlib.sha256(buf.getvalue()).hexdigest())(path)


@pytest.mark.parametrize("corrupt,needle", [
    (_truncate, "does not match the sha256 in policy.json"),
    (_flip, "does not match the sha256 in policy.json"),
    (_drop("params_file"), "policy.json lacks params_file"),
    (_drop("params_sha256"), "policy.json lacks params_sha256"),
    (_set(format=1), "policy.json has format 1; this code reads 2"),
    (_garbage, "policy.json is not valid JSON"),
    (_set(params_file="/etc/passwd"), "names params_file='/etc/passwd'; allowed: a file "
                                      "params-<16 hex digits>.npz inside the policy folder"),
    (_set(params_file="../params-0123456789abcdef.npz"), "names params_file='../params-"),
    (_link_outside, "outside the policy folder"),
    (_remove_params, ", named by policy.json, does not exist"),
    (_nan, "holds non-finite values (NaN or inf); this policy cannot act"),
    (_set(kind="rnn"), "policy.json has kind 'rnn'; allowed: "),
])
def test_a_bad_policy_export_is_one_line_naming_the_file(full_run, tmp_path, corrupt, needle):
  path = _policy_copy(full_run, tmp_path)
  corrupt(path)
  with pytest.raises(policy.PolicyError) as e:
    policy.load(path)
  msg = str(e.value)
  assert "\n" not in msg and msg.startswith(path), msg
  assert needle in msg, msg


def test_the_evaluate_and_render_scripts_report_a_bad_export_in_one_line(full_run, tmp_path):
  path = _policy_copy(full_run, tmp_path)
  _nan(path)
  out = helpers.script("evaluate.py", f"--workdir={path}")
  assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-3000:]
  [line] = helpers.error_lines(out.stderr, prefix="evaluate.py: ")
  assert "holds non-finite values" in line
  _garbage(path)
  out = helpers.script("render.py", f"--workdir={path}", "--seed=0")
  assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-3000:]
  [line] = helpers.error_lines(out.stderr, prefix="render.py: ")
  assert "policy.json is not a readable policy description: JSONDecodeError" in line


def test_the_export_refuses_a_symlinked_folder_and_deletes_only_its_own_files(tmp_path):
  target = tmp_path / "target"
  target.mkdir()
  (target / "params-0123456789abcdef.npz").write_bytes(b"someone else's")
  link = tmp_path / "policy"
  os.symlink(target, link)
  with pytest.raises(policy.PolicyError, match="is a symbolic link"):
    policy.export(str(link), None, None, config=None, obs_dim=1, act_dim=1, episode_length=1,
                  seeds=[0], target_env_steps=0)
  assert os.listdir(target) == ["params-0123456789abcdef.npz"]
