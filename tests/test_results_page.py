"""The results pages are generated from the committed data: regenerating them gives the committed
bytes, and each kind renders its data with the project's own table functions."""
import json
import os

import pytest

from experiments import results_page
from wombet_jax.harness import results, tables


def test_committed_pages_match_their_data():
  pages = results_page.render(results_page.RESULTS, warn=lambda msg: None)
  assert os.path.join(results_page.RESULTS, "README.md") in pages
  for path, text in pages.items():
    with open(path) as f:
      assert f.read() == text, (f"{path} is out of date with its data: run "
                                "python experiments/results_page.py")


def test_every_result_folder_links_files_that_exist():
  """Every image and relative link of the pages points to a file in the repository."""
  import re
  for path, text in results_page.render(results_page.RESULTS, warn=lambda m: None).items():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
      if not target.startswith("http"):
        assert os.path.exists(os.path.join(os.path.dirname(path), target)), (path, target)


def _meta(kind, **kw):
  return {"title": f"A {kind}", "kind": kind, "command": "python experiments/run.py",
          "wall_seconds": 12.0, "commit": "abc1234", "date": "2026-12-01", "machine": "a CPU",
          **kw}


def _write(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write(json.dumps(obj) if not isinstance(obj, str) else obj)


def _rows(algo, seeds, curve):
  return [{"algo": algo, "env": "pointmass", "seed": s, "phase": "eval", "iteration": 0,
           "source_env_steps": 0, "target_env_steps": step, "return": v + s,
           "normalized_return": v + s} for s in seeds for step, v in curve.items()]


def test_comparison_with_steps_to_threshold(tmp_path):
  folder = tmp_path / "cmp"
  seeds = range(12)  # two-digit seeds: JSON sorts "10" before "2"; the page must not
  runs = {"wombet": _rows("wombet", seeds, {0: 0.0, 1000: 40.0, 2000: 80.0, 3000: 90.0}),
          "sac": _rows("sac", seeds, {0: 0.0, 1000: 10.0, 2000: 50.0, 3000: 95.0})}
  results.write_jsonl(str(folder / "metrics.jsonl"), runs["wombet"])
  results.write_jsonl(str(folder / "compare" / "sac" / "metrics.jsonl"), runs["sac"])
  st = results.steps_to_threshold(runs, "sac", (0.5, 0.8))
  results.atomic_write_json(str(folder / "steps_to_threshold.json"), st)  # as thresholds.py
  _write(str(folder / "comparison.png"), "png")
  _write(str(folder / "result.json"), _meta("comparison"))
  _write(str(folder / "notes.md"), "# What it shows\n\nA head start.\n")
  page = results_page.render(str(tmp_path), warn=lambda m: None)[str(tmp_path / "README.md")]
  assert results.comparison_table(runs) in page
  assert results.steps_to_threshold_table(st) in page
  assert "![A comparison](cmp/comparison.png)" in page
  assert "- Command: `python experiments/run.py`" in page
  assert "- Commit: `abc1234` (2026-12-01)" in page
  assert "### What it shows\n\nA head start." in page  # notes' headings sit under the section


def test_check_configs_kind(tmp_path):
  """Rendered with wombet_jax.harness.tables.check_configs_table."""
  rows = [{"env": "hopper", "algo": "wombet", "compile_seconds": 61.0,
           "seconds_per_1000_target_steps": 12.5, "state_mib_per_seed": 300.0,
           "projected_seconds_per_seed": {"source": 3600.0, "online": 7200.0},
           "projected_total_hours_per_seed": 3.0}]
  _write(str(tmp_path / "check_configs" / "check_configs.json"),
         {"device": "cpu cpu", "cpu_count": 2, "flags": {"steps": 5}, "rows": rows})
  _write(str(tmp_path / "check_configs" / "result.json"),
         _meta("check_configs", command="python experiments/diagnostics/check_configs.py --json=x.json"))
  page = results_page.render(str(tmp_path), warn=lambda m: None)[str(tmp_path / "README.md")]
  assert tables.check_configs_table(rows) in page
  assert "--steps=5" in page


def test_folder_without_result_json_is_skipped_with_a_warning(tmp_path):
  results.write_jsonl(str(tmp_path / "in_progress" / "metrics.jsonl"),
                      _rows("wombet", [0], {0: 1.0}))
  warnings = []
  page = results_page.render(str(tmp_path), warn=warnings.append)[str(tmp_path / "README.md")]
  assert "in_progress" not in page
  assert len(warnings) == 1 and "in_progress" in warnings[0] and "result.json" in warnings[0]


@pytest.mark.parametrize("drop", ["commit", "date", "machine", "command", "wall_seconds"])
def test_result_json_needs_its_provenance(tmp_path, drop):
  meta = _meta("comparison")
  del meta[drop]
  _write(str(tmp_path / "cmp" / "result.json"), meta)
  with pytest.raises(results_page.PageError, match=drop):
    results_page.render(str(tmp_path), warn=lambda m: None)


def test_result_json_rejects_a_placeholder_commit(tmp_path):
  _write(str(tmp_path / "cmp" / "result.json"), _meta("comparison", commit="TBD"))
  with pytest.raises(results_page.PageError, match="git hash"):
    results_page.render(str(tmp_path), warn=lambda m: None)


def test_check_mode_reports_a_stale_page(tmp_path, capsys):
  (tmp_path / "README.md").write_text("stale\n")
  assert results_page.main(["--check", "--results", str(tmp_path)]) == 1
  assert results_page.main(["--results", str(tmp_path)]) == 0
  assert results_page.main(["--check", "--results", str(tmp_path)]) == 0


def test_log_means_reads_progress_jsonl_and_legacy_text_logs(tmp_path):
  """A run's progress.jsonl (its folder, or the file with #<algo>) and, for runs older than that
  file, the lines it printed (results_page.legacy_log_means, the one reader of them)."""
  from wombet_jax.harness import progress, schedule
  run = tmp_path / "levers" / "run"
  run.mkdir(parents=True)
  plans = [progress.Plan(a, "pointmass", str(run), [schedule.Evaluate(), schedule.Chunk(0)])
           for a in ("wombet", "sac")]
  p = progress.Progress(plans, str(run / progress.FILE), verbose=False)
  for algo, norm in (("wombet", 40.0), ("sac", 20.0)):
    p.start_run(algo)
    p.task_done(algo, 0, 1.0, metrics={"target_steps": 0, "normalized_return_mean": 0.0})
    p.task_done(algo, 1, 1.0, steps=200, metrics={"target_steps": 100,
                                                 "normalized_return_mean": norm})
  legacy = ("[wombet pointmass] iter 1/1 | target steps 100/100 | return -5.00 ± 1.00 "
            "(normalised 12.5) | beta 0.50 | 900 steps/s | ETA 0m00s\n")
  _write(str(tmp_path / "levers" / "old.log.txt"), legacy)
  _write(str(tmp_path / "levers" / "result.json"), _meta(
      "log_means", logs={"new": "run", "new sac": "run/progress.jsonl#sac", "old": "old.log.txt"}))
  page = results_page.render(str(tmp_path), warn=lambda m: None)[str(tmp_path / "README.md")]
  assert "| new | 40.0 |" in page and "| new sac | 20.0 |" in page and "| old | 12.5 |" in page
  assert results_page.legacy_log_means(legacy) == {100: 12.5}


def test_reference_seeds_name_disjoint_seeds_or_the_run_they_came_from():
  # An independent reference shows its seed range, so a reader can check it shares none with
  # the runs it normalises; one taken from a run says whose seeds it reuses.
  own = {"reference_seeds": 5, "reference_first_seed": 100, "reference_run": None}
  taken = {"reference_seeds": 5, "reference_first_seed": None,
           "reference_run": "experiments/results/hopper_cpu/compare/sac"}
  legacy = {"reference_seeds": 3}
  assert results_page._seeds(own) == "seeds 100-104"
  assert results_page._seeds(taken) == (
      "5 seeds of the run experiments/results/hopper_cpu/compare/sac")
  assert results_page._seeds(legacy) == "3 seeds"
