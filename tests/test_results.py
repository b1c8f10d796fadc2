"""The results contract: atomic files, required keys, summary over seeds."""
import json
import os
import re

import numpy as np
import pytest

import helpers
from wombet_jax.harness.reference import REFERENCE_SCORES
from wombet_jax.harness import reference, results


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


def test_written_files_follow_the_umask_and_json_is_strict(tmp_path):
  path = str(tmp_path / "s.json")
  for umask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
    old = os.umask(umask)
    try:
      results.atomic_write_json(path, {"a": float("nan"), "b": [np.float32(np.inf)]})
    finally:
      os.umask(old)
    assert os.stat(path).st_mode & 0o777 == mode
  assert open(path).read() == '{\n  "a": null,\n  "b": [\n    null\n  ]\n}\n'


def test_check_row_requires_every_row_key():
  row = _row(0, 1, 1.0, algo="sac")
  with pytest.raises(ValueError, match=r"lacks keys \['beta', 'accept_rate', 'n_offline', "
                                       r"'train_return', 'td_error', 'penalty'\]"):
    results.check_row(row)
  row.update(beta=None, td_error=1.0, accept_rate=None, n_offline=None, train_return=-3.0,
             penalty=None)
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


def _eval_rows(algo, curves):
  """curves: {seed: [(step, value), ...]} -> evaluation rows."""
  return [{"algo": algo, "phase": "eval", "seed": s, "target_env_steps": st,
           "normalized_return": v} for s, pts in curves.items() for st, v in pts]


def test_steps_to_threshold_by_hand():
  # SAC's final mean is (80 + 100) / 2 = 90: thresholds 45 (50%) and 72 (80%).
  sac = _eval_rows("sac", {0: [(0, 0), (1000, 40), (2000, 60), (3000, 80)],
                           1: [(0, 0), (1000, 50), (2000, 90), (3000, 100)]})
  wombet = _eval_rows("wombet", {0: [(0, 10), (1000, 50), (2000, 70), (3000, 75)],
                                 1: [(0, 46), (1000, 30), (2000, 60), (3000, 60)]})
  st = results.steps_to_threshold({"wombet": wombet, "sac": sac}, "sac")
  assert st["baseline_final"] == 90.0 and st["thresholds"] == {0.5: 45.0, 0.8: 72.0}
  assert st["steps"]["sac"] == {0.5: {0: 2000, 1: 1000}, 0.8: {0: 3000, 1: 2000}}
  # The first evaluation at or above the threshold, even if a later one falls below it.
  assert st["steps"]["wombet"] == {0.5: {0: 1000, 1: 0}, 0.8: {0: 3000, 1: None}}
  r50, r80 = st["ratio"]["wombet"][0.5], st["ratio"]["wombet"][0.8]
  assert r50["per_seed"] == {0: 0.5, 1: 0.0} and r50["median"] == 0.25 and r50["n"] == 2
  assert r80["per_seed"] == {0: 1.0} and r80["n"] == 1  # seed 1 never reaches 72
  table = results.steps_to_threshold_table(st)
  assert "| wombet | 80% (72.0) | 0: 3000, 1: - | 3000 (1/2 reached) | 1.00 [1.00, 1.00] (1) |" \
      in table
  with pytest.raises(ValueError, match="baseline='td3'"):
    results.steps_to_threshold({"sac": sac}, "td3")


def test_source_phase_table_by_hand():
  from wombet_jax.harness import tables
  rows = [{"phase": "source", "seed": s, "source_env_steps": steps, "return": ret}
          for s, steps, ret in ((0, 10, -4.0), (1, 10, -2.0), (0, 20, 3.0), (1, 20, 5.0))]
  rows.append({"phase": "eval", "seed": 0, "source_env_steps": 20, "return": 99.0})
  episodes = tables.source_episodes(rows, random_episodes=1)
  assert [(e["episode"], e["phase"], e["source_env_steps"]) for e in episodes] == [
      (1, "random", 10), (2, "MPC", 20)]
  yard = {"random": -3.5, "reference_final": 7.0, "reference_final_std": 0.5, "reference": 8.0,
          "reference_steps": 20, "reference_seeds": 2, "command": "cmd"}
  s = tables.source_phase_summary(episodes, yard)
  assert [(e["mean"], e["std"]) for e in s["episodes"]] == [(-3.0, 1.0), (4.0, 1.0)]
  text = tables.source_phase_table(s)
  assert "| 2 | MPC | 20 | 4.0 ± 1.0 (n=2) |" in text
  assert "uniform-random policy -3.5; SAC after 20 source steps 7.0 ± 0.5" in text
def test_comparison_table_gives_iqm_intervals_best_and_probability_of_improvement():
  # normalized_return = 10 x return: wombet ends at 0, 10, 20, 1000, sac at 5 on every seed.
  a = ([_row(s, 0, 5.0, "wombet") for s in range(4)]
       + [_row(s, 100, r, "wombet") for s, r in enumerate([0.0, 1.0, 2.0, 100.0])])
  b = [_row(s, 0, 5.0) for s in range(4)] + [_row(s, 100, 0.5) for s in range(4)]
  table = results.comparison_table({"wombet": a, "sac": b})
  lines = table.splitlines()
  assert lines[0] == ("| target env steps | wombet normalized_return | wombet IQM [95% CI] | "
                      "sac normalized_return | sac IQM [95% CI] | "
                      "wombet - sac (paired ± s.e.; seeds above) |")
  # Constant columns have a point interval; four seeds trim one on each side: (10 + 20) / 2.
  assert lines[2].startswith("| 0 | 50.0 ± 0.0 (n=4) | 50.0 [50.0, 50.0] | 50.0 ± 0.0 (n=4) |"
                             " 50.0 [50.0, 50.0] |")
  # The resampled IQM is 0 when at least three of the four draws are the 0 seed:
  # P = 4 (1/4)^3 (3/4) + (1/4)^4 = 5.1% > 2.5%, so the lower end is 0; likewise 1000 above.
  assert lines[3].startswith("| 100 | 257.5 ± 428.7 (n=4) | 15.0 [0.0, 1000.0] |")
  assert "| 5.0 ± 0.0 (n=4) | 5.0 [5.0, 5.0] |" in lines[3]
  # Best: each seed's maximum over both evaluations, then the mean: (50 + 50 + 50 + 1000) / 4.
  # P(wombet > sac) at the final step: 0 < 5 and 10, 20, 1000 > 5 -> 3/4.
  assert "| wombet | 15.0 [0.0, 1000.0] | 287.5 |  | 4 |" in table
  assert "| sac | 5.0 [5.0, 5.0] | 50.0 | 0.75 | 4 |" in table
  assert "| algorithm | final normalized_return IQM [95% CI] | best (mean over seeds) |" in table
  assert results.best_by_seed(a, "return") == {0: 5.0, 1: 5.0, 2: 5.0, 3: 100.0}


def test_renormalize_fills_the_normalised_column_from_reference_scores():
  from wombet_jax.harness import reference
  ref = {"random": -200.0, "reference": 300.0}
  rows = [
      {"phase": "source", "return": -50.0, "normalized_return": None},
      {"phase": "eval", "return": 50.0, "normalized_return": None},
      {"phase": "eval", "return": -450.0, "normalized_return": 7.0},
  ]
  out = results.renormalize(rows, ref, reference.normalize)
  # 100 * (R + 200) / 500: 50 -> 50.0, -450 -> -50.0 (a stale value is replaced); source: null.
  assert [r["normalized_return"] for r in out] == [None, 50.0, -50.0]
  assert [r["return"] for r in out] == [-50.0, 50.0, -450.0]
  assert rows[1]["normalized_return"] is None  # the input rows are not modified


def test_normalise_resolves_an_episode_length_of_zero(tmp_path):
  # reacher's own length is 50, the committed table's reacher entry; config.json keeps the 0.
  from wombet_jax.harness import postprocess
  run = tmp_path / "run"
  run.mkdir()
  (run / "config.json").write_text(json.dumps({"env": "reacher", "episode_length": 0}))
  rows = [{"phase": "eval", "seed": 0, "target_env_steps": 0, "return": -20.0,
           "normalized_return": None}]
  results.write_jsonl(str(run / "metrics.jsonl"), rows)
  key, n = postprocess.normalise_dir(str(run))
  assert (key, n) == ("reacher/50", 1)
  ref = reference.lookup("reacher", 50, REFERENCE_SCORES)
  got = results.read_jsonl(str(run / "metrics.jsonl"))[0]["normalized_return"]
  assert got == pytest.approx(100 * (-20.0 - ref["random"]) / (ref["reference"] - ref["random"]))


def test_compare_script_rewrites_what_the_run_wrote(tmp_path):
  """experiment.write_comparison is the one writer of comparison.md/.png: at a run's end and
  from `postprocess.py compare`, which rewrites the same table from the runs' files."""
  from wombet_jax.harness import experiment
  rows = lambda algo, shift: [
      {"algo": algo, "env": "pointmass", "seed": s, "phase": "eval", "iteration": 0,
       "source_env_steps": 0, "target_env_steps": st, "return": float(s + st / 100 + shift),
       "normalized_return": None} for st in (0, 100) for s in (0, 1, 2)]
  runs = {"wombet": rows("wombet", 1.0), "sac": rows("sac", 0.0)}
  wd = tmp_path / "run"
  (wd / "compare" / "sac").mkdir(parents=True)
  results.write_jsonl(str(wd / "metrics.jsonl"), runs["wombet"])
  results.write_jsonl(str(wd / "compare" / "sac" / "metrics.jsonl"), runs["sac"])
  experiment.write_comparison(str(wd), runs)
  table = (wd / "comparison.md").read_bytes()
  assert table == results.comparison_table(runs).encode()
  assert "| 100 | 3.0 ± 0.8 (n=3) |" in table.decode()  # wombet: returns 2, 3, 4 at step 100
  assert "1.0 ± 0.0 (3/3)" in table.decode()             # paired wombet - sac, every seed
  (wd / "comparison.md").unlink()
  done = helpers.script("postprocess.py", "compare", f"--workdir={wd}")
  assert done.returncode == 0, done.stderr[-3000:]
  assert (wd / "comparison.md").read_bytes() == table
  assert (wd / "comparison.png").stat().st_size > 0


def test_provenance_records_the_command_as_typed_and_the_commit(tmp_path):
  from wombet_jax.harness import provenance
  argv = [os.path.join(helpers.ROOT, "experiments", "diagnostics", "lower_bound.py"),
          "--lambdas=0,1", "--out=a b"]
  assert provenance.command(argv) == \
      "python experiments/diagnostics/lower_bound.py --lambdas=0,1 '--out=a b'"
  assert provenance.command(["experiments/figures.py", "--figure=5", "--draw_only"],
                            drop=("--draw_only",)) == "python experiments/figures.py --figure=5"
  assert provenance.commit(str(tmp_path)) == "unknown"  # not a git checkout
  assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", provenance.commit()) or \
      provenance.commit() == "unknown"
  assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", provenance.today())
