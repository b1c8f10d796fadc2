"""The results contract: atomic files, required keys, summary over seeds."""
import json
import os

import numpy as np
import pytest

from wombet_jax import results


def _row(seed, step, ret, algo="sac"):
  return {"algo": algo, "env": "pointmass", "seed": seed, "phase": "eval", "iteration": 0,
          "source_env_steps": 0, "target_env_steps": step, "return": ret,
          "normalized_return": ret * 10}


def test_summary_takes_the_last_eval_of_each_seed(tmp_path):
  rows = [_row(0, 100, 1.0), _row(0, 200, 3.0), _row(1, 200, 5.0), _row(1, 100, -9.0)]
  s = results.summarize(rows)
  assert s["seeds"] == [0, 1]
  assert s["return"]["per_seed"] == [3.0, 5.0]
  assert s["return"]["mean"] == pytest.approx(4.0)
  assert s["return"]["std"] == pytest.approx(1.0)
  assert s["normalized_return"]["mean"] == pytest.approx(40.0)
  assert s["target_env_steps"] == 200


def test_jsonl_roundtrip_and_nan_becomes_null(tmp_path):
  path = str(tmp_path / "metrics.jsonl")
  rows = [_row(0, 1, float("nan")), _row(1, 1, np.float32(2.5))]
  results.write_jsonl(path, rows)
  back = results.read_jsonl(path)
  assert back[0]["return"] is None and back[1]["return"] == 2.5


def test_atomic_write_keeps_old_file_when_interrupted(tmp_path, monkeypatch):
  path = str(tmp_path / "summary.json")
  results.atomic_write_json(path, {"a": 1})

  def crash(src, dst):  # the process dies between writing the temp file and the rename
    raise KeyboardInterrupt

  monkeypatch.setattr(os, "replace", crash)
  with pytest.raises(KeyboardInterrupt):
    results.atomic_write_json(path, {"a": 2, "big": list(range(1000))})
  monkeypatch.undo()
  assert json.load(open(path)) == {"a": 1}
  assert os.listdir(tmp_path) == ["summary.json"]  # no temp file left behind


def test_temp_files_of_a_killed_write_are_recognised_and_removed(tmp_path, monkeypatch):
  def killed(src, dst):  # the process dies between writing the temp file and the rename
    raise SystemExit

  path = str(tmp_path / "metrics.jsonl")
  monkeypatch.setattr(os, "replace", killed)
  monkeypatch.setattr(os, "unlink", lambda p: None)  # ... and, killed, cleans nothing up
  with pytest.raises(SystemExit):
    results.atomic_write_bytes(path, b"x")
  monkeypatch.undo()
  [left] = os.listdir(tmp_path)
  assert left.startswith(".metrics.jsonl.") and left.endswith(results.TEMP_SUFFIX)
  open(tmp_path / "keep.partial", "w").close()  # not hidden: not one of ours
  assert results.remove_temp_files(str(tmp_path)) == [str(tmp_path / left)]
  assert sorted(os.listdir(tmp_path)) == ["keep.partial"]


def test_written_files_are_0644_and_json_is_strict(tmp_path):
  path = str(tmp_path / "s.json")
  results.atomic_write_json(path, {"a": float("nan"), "b": [np.float32(np.inf)]})
  assert os.stat(path).st_mode & 0o777 == 0o644
  assert open(path).read() == '{\n  "a": null,\n  "b": [\n    null\n  ]\n}\n'


def test_check_row_requires_wombet_keys():
  row = _row(0, 1, 1.0, algo="wombet")
  with pytest.raises(ValueError, match="beta"):
    results.check_row(row)
  row.update(beta=0.5, td_error=1.0, accept_rate=0.3, n_offline=10)
  results.check_row(row)


def test_paired_differences_match_hand_computed_values():
  a = [_row(s, 100, r, "wombet") for s, r in enumerate([3.0, 5.0, 1.0])] + [_row(0, 200, 9.0)]
  b = [_row(s, 100, r) for s, r in enumerate([1.0, 6.0, 0.0])] + [_row(3, 100, 50.0)]
  d = results.paired_differences(a, b, key="return")
  assert list(d) == [100]  # step 200 only in a; seed 3 only in b: neither is paired
  diffs = np.array([2.0, -1.0, 1.0])
  assert d[100]["n"] == 3
  assert d[100]["mean"] == pytest.approx(diffs.mean())
  assert d[100]["se"] == pytest.approx(np.std(diffs, ddof=1) / np.sqrt(3))
  assert d[100]["fraction_a_above"] == pytest.approx(2 / 3)
  table = results.comparison_table({"wombet": a, "sac": b})
  line = [ln for ln in table.splitlines() if ln.startswith("| 100 |")][0]
  assert "+6.7 ± 8.8 (2/3)" in line and "wombet - sac" in table  # normalized = 10 x return
