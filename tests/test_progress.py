"""Progress events (wombet_jax/harness/progress.py): the ETA arithmetic on a fake clock, the
compile timer, and the events of a smoke run with a compared algorithm."""
import datetime
import json
import os

import pytest

import helpers
from wombet_jax.harness import experiment, progress, results, schedule

T0 = 1_764_748_800.0  # 2025-12-03T08:00:00Z


class FakeClock:
  def __init__(self):
    self.now = T0

  def __call__(self):
    return self.now


def _fake_progress(tmp_path, clock):
  plans = [progress.Plan("wombet", "pointmass", "/wd", [schedule.Evaluate(), schedule.Chunk(0),
                                                        schedule.Chunk(0), schedule.Chunk(1)]),
           progress.Plan("sac", "pointmass", "/wd/compare/sac",
                         [schedule.Evaluate(), schedule.Chunk(0), schedule.Chunk(0)])]
  got = []
  return progress.Progress(plans, str(tmp_path / progress.FILE), got.append, verbose=True,
                           clock=clock), got


def test_eta_spans_every_run_and_excludes_compilation(tmp_path, capsys):
  clock = FakeClock()
  p, got = _fake_progress(tmp_path, clock)
  first = p.start_run("wombet")
  assert first["tasks_remaining"] == 7 and first["tasks_total"] == 7
  assert first["remaining"] == {"wombet": {"eval": 1, "chunk": 3}, "sac": {"eval": 1, "chunk": 2}}
  assert (first["eta_seconds"], first["eta_partial"]) == (0.0, True)  # nothing measured yet
  assert p.begin("wombet", 0)["phase"] == "initial evaluation"

  def done(algo, idx, seconds, compile_seconds=0.0, steps=None):
    clock.now += seconds
    metrics = {"target_steps": 100 * idx, "return_mean": -1.0, "return_std": 0.5,
               "normalized_return_mean": None}
    if idx:
      metrics.update(iteration=0, iterations=2, target_steps_total=300, beta=None, agent={})
    return p.task_done(algo, idx, seconds, compile_seconds, steps, metrics)

  e = done("wombet", 0, 5.0, 4.0)
  # wombet's chunks unmeasured; sac's evaluation: wombet's 1 s steady + its 4 s compilation.
  assert (e["eta_seconds"], e["eta_partial"]) == (5.0, True)
  assert e["rate"] is None and e["elapsed_seconds"] == 5.0
  assert p.begin("wombet", 1)["phase"] == "online phase"
  assert p.begin("wombet", 2) is None  # announced once
  e = done("wombet", 1, 12.0, 10.0, steps=200)
  assert e["rate"] == 100.0  # 200 steps in the 2 s that were not compilation
  # wombet 2 chunks x 2 s; sac eval 1 + 4; sac 2 chunks x 2 s + 10 s compiling.
  assert (e["eta_seconds"], e["eta_partial"]) == (23.0, False)
  e = done("wombet", 2, 1.0, steps=200)
  assert e["rate"] == 200.0 and e["eta_seconds"] == 1.5 + 5.0 + 2 * 1.5 + 10.0
  e = done("wombet", 3, 1.5, steps=200)
  assert e["tasks_remaining"] == 3 and e["eta_seconds"] == 5.0 + 2 * 1.5 + 10.0  # sac to come
  assert p.start_run("sac")["eta_seconds"] == 18.0
  e = done("sac", 0, 3.0, 2.5)
  assert e["eta_seconds"] == 2 * 1.5 + 10.0  # sac's chunks: wombet's cost until measured
  e = done("sac", 1, 7.0, 6.0, steps=200)
  assert (e["rate"], e["eta_seconds"]) == (200.0, 1.0)
  e = done("sac", 2, 0.5, steps=200)
  assert (e["tasks_remaining"], e["eta_seconds"], e["eta_partial"]) == (0, 0.0, False)
  clock.now += 2.0
  summary = {"return": {"mean": -50.0, "std": 1.0}, "normalized_return": {"mean": None},
             "target_env_steps": 300, "complete": True}
  end = p.finish({"wombet": summary, "sac": summary}, ["/wd/comparison.md"])
  assert end["type"] == "summary" and end["wall_seconds"] == 32.0
  assert end["compile_seconds"] == 22.5
  assert end["results"]["sac"] == {"workdir": "/wd/compare/sac", "complete": True,
                                   "return_mean": -50.0, "return_std": 1.0,
                                   "normalized_return_mean": None, "target_env_steps": 300}
  # The file and the callback hold the same events; times are ISO-8601 UTC.
  assert progress.read_events(str(tmp_path / progress.FILE)) == got
  assert [e["type"] for e in got] == ["run", "phase", "task", "phase", "task", "task", "task",
                                      "run", "task", "task", "task", "summary"]
  assert got[0]["time"] == "2025-12-03T08:00:00.000Z"
  assert (datetime.datetime.fromisoformat(got[-1]["time"])
          == datetime.datetime(2025, 12, 3, 8, 0, 32, tzinfo=datetime.timezone.utc))
  lines = capsys.readouterr().out.splitlines()
  assert lines[0] == ("08:00:00 [wombet pointmass] run 1/2: wombet on pointmass into /wd, 4 "
                      "tasks | ETA ? (7 tasks left)")
  assert lines[4].endswith("| 100 steps/s | compiling 10.0 s | ETA 0m23s (5 tasks left)")
  assert lines[-4:] == ["08:00:32 [wombet pointmass] done in 0m32s (0m22s of it compiling)",
                        "  wombet: final return -50.00 ± 1.00 at 300 target steps; outputs in "
                        "/wd",
                        "  sac: final return -50.00 ± 1.00 at 300 target steps; outputs in "
                        "/wd/compare/sac",
                        "  also: /wd/comparison.md"]


def test_a_resumed_run_counts_its_restored_tasks_as_done(tmp_path):
  p, _ = _fake_progress(tmp_path, FakeClock())
  e = p.start_run("wombet", start=3)
  assert (e["start"], e["tasks_done"], e["tasks_remaining"]) == (3, 3, 4)
  assert e["remaining"] == {"wombet": {"chunk": 1}, "sac": {"eval": 1, "chunk": 2}}


def test_estimate_by_hand():
  steady = {("a", "chunk"): [2.0, 4.0], ("b", "eval"): [1.0]}
  compiled = {("a", "chunk"): 10.0, ("b", "eval"): 3.0}
  ran = {("a", "chunk"), ("b", "eval")}
  # a: 2 chunks x 3 s; b: 1 chunk x a's 3 s + a's 10 s compiling, 2 evals x 1 s.
  assert progress.estimate({"a": {"chunk": 2}, "b": {"chunk": 1, "eval": 2}}, steady, compiled,
                           ran) == (6.0 + 13.0 + 2.0, False)
  # A kind nobody has run yet: partial, counting only the rest.
  assert progress.estimate({"a": {"chunk": 1, "fit": 2}}, steady, compiled, ran) == (3.0, True)
  assert progress.fmt_eta(3.0, True) == ">0m03s" and progress.fmt_eta(0.0, True) == "?"
  assert progress.fmt_duration(3725) == "1h02m"


def test_covered_seconds_counts_nested_spans_once_within_the_window():
  spans = [(1.0, 5.0), (2.0, 3.0), (4.0, 7.0), (9.0, 12.0), (-3.0, -1.0)]
  assert progress.covered_seconds(spans, 0.0, 10.0) == 6.0 + 1.0
  assert progress.covered_seconds([], 0.0, 1.0) == 0.0


def test_the_compile_timer_measures_the_first_call_only():
  import jax
  import jax.numpy as jnp
  f = jax.jit(lambda x: jnp.tanh(x) * 3.0 + jnp.cumsum(x))
  x = jnp.arange(7.0)
  with progress.CompileTimer() as first:
    f(x).block_until_ready()
  with progress.CompileTimer() as second:
    f(x).block_until_ready()
  assert first.seconds > 0 and second.seconds == 0.0


def test_eval_means_reads_the_evaluations_of_one_run_the_last_attempt_winning():
  def ev(algo, task, step, norm):
    return {"type": "task", "algo": algo, "task": task,
            "metrics": {"target_steps": step, "normalized_return_mean": norm}}
  events = [{"type": "run", "algo": "wombet"}, ev("wombet", "eval", 0, 1.0),
            ev("wombet", "chunk", 100, 2.0), ev("wombet", "chunk", 100, 2.5),
            ev("wombet", "fit", 100, 9.0), ev("sac", "chunk", 100, 3.0),
            ev("wombet", "chunk", 200, None)]
  assert progress.eval_means(events) == {0: 1.0, 100: 2.5}
  assert progress.eval_means(events, "sac") == {100: 3.0}


# --- a smoke run with a compared algorithm -------------------------------------------------------
@pytest.fixture(scope="module")
def compared_run(pipe, tmp_path_factory):
  """(workdir, summaries, events given to progress_fn, printed lines) of smoke + compare=sac,
  WOMBET on the session's pipeline, SAC compiled here."""
  import contextlib
  import io
  wd = str(tmp_path_factory.mktemp("compared") / "run")
  c = helpers.make_config(compare="sac")
  events, out = [], io.StringIO()
  with contextlib.redirect_stdout(out):
    summaries = experiment.run(c, wd, verbose=True, progress_fn=events.append,
                               pipelines={"wombet": pipe})
  return wd, summaries, events, out.getvalue().splitlines()


# Independent of progress.py: the smoke config's task lists (tests/test_runner.py's WOMBET and
# SAC schedules).
TASKS = {"wombet": {"source": 2, "fit": 3, "regenerate": 2, "eval": 1, "chunk": 4},
         "sac": {"eval": 1, "chunk": 4}}


def test_the_first_event_counts_every_task_of_both_runs(compared_run):
  wd, _, events, _ = compared_run
  assert events == progress.read_events(os.path.join(wd, progress.FILE))
  first = events[0]
  assert first["type"] == "run" and first["algo"] == "wombet" and first["runs"] == 2
  assert first["remaining"] == TASKS
  assert first["tasks_remaining"] == first["tasks_total"] == 17
  runs = [e for e in events if e["type"] == "run"]
  assert [(e["algo"], e["workdir"], e["tasks"]) for e in runs] == [
      ("wombet", wd, 12), ("sac", os.path.join(wd, "compare", "sac"), 5)]


def test_remaining_work_falls_by_one_task_to_zero_and_phases_are_announced(compared_run):
  _, _, events, _ = compared_run
  tasks = [e for e in events if e["type"] == "task"]
  assert [e["tasks_remaining"] for e in tasks] == list(range(16, -1, -1))
  assert events[-1]["type"] == "summary" and events[-1]["tasks_remaining"] == 0
  phases = [(e["algo"], e["phase"]) for e in events if e["type"] == "phase"]
  assert phases == [("wombet", "source phase"), ("wombet", "data generation"),
                    ("wombet", "initial evaluation"), ("wombet", "online phase"),
                    ("sac", "initial evaluation"), ("sac", "online phase")]
  # Each phase is announced before its first task ends.
  for i, e in enumerate(events):
    if e["type"] == "task":
      announced = [p for p in events[:i] if p["type"] == "phase" and p["algo"] == e["algo"]]
      assert announced[-1]["phase"] == e["phase"]
  # The last WOMBET task's ETA covers the SAC run still to come, measured, not "0m00s".
  last_wombet = [e for e in tasks if e["algo"] == "wombet"][-1]
  assert last_wombet["remaining"]["sac"] == TASKS["sac"]
  assert last_wombet["eta_seconds"] > 0 and not last_wombet["eta_partial"]
  times = [datetime.datetime.fromisoformat(e["time"]) for e in events]
  assert all(t.tzinfo == datetime.timezone.utc for t in times) and times == sorted(times)


def test_chunk_rates_exclude_compilation(compared_run):
  _, _, events, _ = compared_run
  chunks = [e for e in events if e["type"] == "task" and e["task"] == "chunk"]
  assert len(chunks) == 8
  for e in chunks:
    assert e["steps"] == 100 * 2  # eval_every x seeds
    assert e["rate"] == pytest.approx(e["steps"] / (e["seconds"] - e["compile_seconds"]))
  first_sac = next(e for e in chunks if e["algo"] == "sac")
  assert first_sac["compile_seconds"] > 0  # its pipeline was built by the experiment
  assert first_sac["rate"] > first_sac["steps"] / first_sac["seconds"]


def test_the_summary_names_final_returns_and_outputs(compared_run):
  wd, summaries, events, lines = compared_run
  end = events[-1]
  for algo in ("wombet", "sac"):
    assert end["results"][algo]["return_mean"] == summaries[algo]["return"]["mean"]
    assert end["results"][algo]["target_env_steps"] == 400
  assert end["results"]["sac"]["workdir"] == os.path.join(wd, "compare", "sac")
  assert os.path.join(wd, progress.FILE) in end["outputs"]
  assert os.path.join(wd, "comparison.md") in end["outputs"]
  assert all(os.path.exists(p) for p in end["outputs"])
  assert end["wall_seconds"] >= end["compile_seconds"] > 0
  # The printed lines are the events' (plus checkpoint and export lines), with their times.
  printed = [progress.format_event(e) for e in events]
  assert all(p in "\n".join(lines) for p in printed)
  assert any(" [sac pointmass] run 2/2: sac on pointmass into " in ln for ln in lines)
  assert json.load(open(os.path.join(wd, "comparison.json")))["sac"] == results.jsonable(
      summaries["sac"])
