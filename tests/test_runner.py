"""The run's schedule, the runner's decisions and the source-phase driver, on hand-made values:
no pipeline is built and nothing is compiled, so these run in seconds."""
import json
import types

import numpy as np
import pytest

import helpers
from wombet_jax import health
from wombet_jax.agents import registry
from wombet_jax.harness import handlers, schedule, source_phase, workdir
from wombet_jax.errors import NonFiniteError, UserError

# The smoke config: pets 1 random + 1 MPC episode, 2 iterations of 200 steps, eval_every 100
# (2 chunks per iteration), offline_steps 20.
SOURCE = [["source", 0, False], ["fit", 0], ["source", 1, True], ["fit", 0], ["regenerate", 0]]
CHUNKS = [["chunk", 0], ["chunk", 0], ["chunk", 1], ["chunk", 1]]
WOMBET = SOURCE + [["eval", 0], ["chunk", 0], ["chunk", 0], ["fit", 1], ["regenerate", 1],
                   ["chunk", 1], ["chunk", 1]]


def _tasks(algo, pieces=()):
  return schedule.build_tasks(helpers.make_config(), registry.get(algo), list(pieces))


# --- the schedule --------------------------------------------------------------------------------
def test_wombet_refits_and_regenerates_before_every_later_iteration():
  tasks = _tasks("wombet")
  assert schedule.to_json(tasks) == WOMBET
  assert [type(t) for t in tasks[:6]] == [
      schedule.SourceEpisode, schedule.FitModel, schedule.SourceEpisode, schedule.FitModel,
      schedule.Regenerate, schedule.Evaluate]
  counts = {}
  for t in tasks:
    counts[t.kind] = counts.get(t.kind, 0) + 1
  assert counts == {"source": 2, "fit": 3, "regenerate": 2, "eval": 1, "chunk": 4}


def test_sac_has_no_source_phase():
  assert schedule.to_json(_tasks("sac")) == [["eval", 0]] + CHUNKS


def test_an_offline_algorithm_pretrains_then_evaluates_once():
  assert schedule.to_json(_tasks("bc", [(0, 20)])) == SOURCE + [["pretrain", 0, 0, 20],
                                                               ["eval", 0]]


def test_offline_to_online_pretrains_in_pieces_then_fine_tunes_without_refresh():
  got = schedule.to_json(_tasks("iql_ft", [(0, 8), (8, 8), (16, 4)]))
  assert got == SOURCE + [["pretrain", 0, 0, 8], ["pretrain", 0, 8, 8], ["pretrain", 0, 16, 4],
                          ["eval", 0]] + CHUNKS


def test_a_zero_shot_algorithm_evaluates_the_generated_data_once():
  spec = registry.AlgoSpec(None, None, lambda c: None, "#000000", uses_offline=True,
                           online=False)
  assert schedule.to_json(schedule.build_tasks(helpers.make_config(), spec, [])) == SOURCE + [
      ["eval", 0]]


def test_projected_seconds_count_every_task_of_the_schedule_once():
  """check_configs' projection, by hand on the smoke schedule (WOMBET above; pointmass
  episodes of 50 steps, 5 fit epochs, 8 trajectories of 10 steps, chunks of 100 steps)."""
  t = dict(random_step=1.0, mpc_step=10.0, fit_epoch_per_transition=0.001,
           gen_step_per_trajectory=0.5, target_step=0.01, eval_step=0.1)
  c = helpers.make_config()
  got = schedule.projected_seconds(_tasks("wombet"), c, 50, t, keeps_model_data=True)
  # Fits over 50, 100 and (after 200 target steps join the data) 300 rows: 5 x 0.001 x 450.
  want = {"source": 50 + 500, "fits": 2.25, "generate": 2 * 10 * 8 * 0.5,
          "online": 4 * 100 * 0.01, "evals": 5 * 50 * 0.1}
  assert got.keys() == want.keys()
  for k in want:
    assert got[k] == pytest.approx(want[k]), k
  # Without target data the refit sees the source rows only; a capacity caps every fit.
  assert schedule.projected_seconds(_tasks("wombet"), c, 50, t, False)["fits"] == (
      pytest.approx(5 * 0.001 * (50 + 100 + 100)))
  c.world_model.capacity = 80
  assert schedule.projected_seconds(_tasks("wombet"), c, 50, t, True)["fits"] == (
      pytest.approx(5 * 0.001 * (50 + 80 + 80)))
  # SAC: online and evaluations only.
  assert schedule.projected_seconds(_tasks("sac"), c, 50, t, False) == pytest.approx(
      {"online": 4.0, "evals": 25.0})


def test_tasks_are_frozen_values_with_the_checkpoint_json_form():
  t = schedule.Pretrain(8, 4)
  assert (t.kind, t.end, t.to_json()) == ("pretrain", 12, ["pretrain", 0, 8, 4])
  assert schedule.SourceEpisode(3, True).to_json() == ["source", 3, True]
  assert schedule.Chunk(2) == schedule.Chunk(2) and len({schedule.Chunk(2), schedule.Chunk(2)}) == 1
  with pytest.raises(AttributeError):
    t.start = 0
  # A checkpoint's list, read back from JSON, compares equal to the schedule's.
  tasks = _tasks("wombet")
  workdir.check_same_tasks(json.loads(json.dumps(schedule.to_json(tasks))), tasks, "/wd")


def test_source_tasks_alternate_episodes_and_fits():
  assert schedule.to_json(schedule.source_tasks(1, 3)) == [
      ["source", 0, False], ["fit", 0], ["source", 1, True], ["fit", 0], ["source", 2, True],
      ["fit", 0]]
  assert schedule.config_source_tasks(helpers.make_config()) == _tasks("wombet")[:4]


# --- the runner's decisions ----------------------------------------------------------------------
def test_a_held_workdir_is_refused_naming_what_it_holds():
  workdir.check_free("/wd", [], [])
  with pytest.raises(UserError) as e:
    workdir.check_free("/wd", [200, 100], ["metrics.jsonl"])
  assert str(e.value) == (
      "--workdir='/wd' is invalid: it already holds a run (metrics.jsonl, checkpoints "
      "[100, 200]); pass --resume to continue it or choose another --workdir (nothing was "
      "changed)")
  with pytest.raises(UserError, match=r"holds a run \(checkpoints \[5\]\)"):
    workdir.check_free("/wd", [5], [])
  with pytest.raises(UserError, match=r"holds a run \(datasets, tensorboard\)"):
    workdir.check_free("/wd", [], ["datasets", "tensorboard"])


def test_a_checkpoint_of_another_config_is_refused_naming_the_fields():
  tasks = _tasks("sac")
  meta = {"config": {"seed": 0, "env": "pointmass"}, "tasks": schedule.to_json(tasks)}
  workdir.check_meta(meta, "/wd", {"seed": 0, "env": "pointmass"}, tasks)
  with pytest.raises(UserError, match=r"^--resume of '/wd' is invalid: its checkpoints belong "
                     r"to another config \(config.seed: 0 in the checkpoint, 1 now\)\. Resume "
                     r"with the config that started the run \(only config.compare, "):
    workdir.check_meta(meta, "/wd", {"seed": 1, "env": "pointmass"}, tasks)
  with pytest.raises(UserError, match=r"its checkpoint records no tasks to compare"):
    workdir.check_meta({"config": {}}, "/wd", {}, tasks)


def test_a_checkpoint_of_another_task_list_is_refused_naming_the_first_difference():
  now = _tasks("wombet")
  saved = schedule.to_json(now)
  saved[7] = ["chunk", 1]
  with pytest.raises(UserError) as e:
    workdir.check_meta({"config": {}, "tasks": saved}, "/wd", {}, now)
  assert str(e.value) == (
      "cannot resume '/wd': its checkpoint was written for a different task list (12 tasks, "
      "this config/code gives 12; first difference at task 7: ['chunk', 1] vs ['chunk', 0]). "
      "Resume with the config and code that started the run, or start a new --workdir; "
      "nothing was changed.")
  with pytest.raises(UserError, match=r"\(11 tasks, this config/code gives 12; first "
                     r"difference at task 11: None vs \['chunk', 1\]\)"):
    workdir.check_same_tasks(schedule.to_json(now)[:-1], now, "/wd")


def test_health_flags_name_the_losses_the_seeds_and_the_first_step():
  f, t = False, True
  info = {"nonfinite_step": np.array([4, -1]),
          "nonfinite": {"critic_loss": np.array([t, f]), health.STATE_FLAG: np.array([t, f])}}
  with pytest.raises(NonFiniteError) as e:
    handlers.check_health(info, "online updates", "target step", [10, 11], None)
  assert str(e.value) == ("online updates: agent parameters/optimiser state, critic_loss not "
                          "finite at target step 4 for seeds [10]; the run stopped before its "
                          "first checkpoint")
  handlers.check_health({"nonfinite_step": np.array([-1, -1]), "nonfinite": {}}, "ok", "step",
                       [10, 11], None)


def test_nonfinite_returns_name_the_seeds_and_the_step():
  handlers.check_finite_returns(np.array([1.0, 2.0]), 100, [0, 1], 3)
  with pytest.raises(NonFiniteError) as e:
    handlers.check_finite_returns(np.array([np.nan, 2.0, np.inf]), 300, [0, 1, 2], 3)
  assert str(e.value) == ("evaluation return is not finite at target step 300 for seeds [0, 2]; "
                          "the run stopped; its last checkpoint (task 3) is kept")


def test_checkpoints_after_chunks_at_the_interval_and_at_the_end():
  tasks = _tasks("sac")  # eval, then four chunks of 100 target steps
  decide = lambda idx, t: schedule.should_checkpoint(tasks, idx, t, 200, 0.0)
  assert [decide(1, 100), decide(2, 200), decide(3, 300), decide(4, 400)] == [
      False, True, False, True]
  assert schedule.should_checkpoint(tasks, 4, 450, 200, 0.0)  # the last task, off the interval
  assert not decide(0, None)  # the initial evaluation


def test_checkpoints_after_generation_and_pretraining():
  tasks = _tasks("iql_ft", [(0, 8), (8, 8), (16, 4)])
  kinds = [t.kind for t in tasks]
  regen, first_piece, last_piece = kinds.index("regenerate"), kinds.index("pretrain"), 7
  decide = lambda idx, since: schedule.should_checkpoint(tasks, idx, None, 100, since)
  assert not decide(regen, 1e9)  # pretraining follows: its end is saved instead
  assert not decide(first_piece, schedule.SAVE_SECONDS - 1)
  assert decide(first_piece, schedule.SAVE_SECONDS)
  assert decide(last_piece, 0.0)
  # In the source phase only a fit, and only once SAVE_SECONDS have passed since the last save.
  assert [decide(i, 1e9) for i in range(4)] == [False, True, False, True]
  assert not any(decide(i, schedule.SAVE_SECONDS - 1) for i in range(4))
  wombet = _tasks("wombet")
  assert [i for i in range(len(wombet)) if isinstance(wombet[i], schedule.Regenerate)
          and schedule.should_checkpoint(wombet, i, None, 100, 0.0)] == [4, 9]


# --- the source-phase driver ---------------------------------------------------------------------
def _fake_pipe(calls, finite=(True, True)):
  def source_episode(states, use_planner):
    calls.append(("source", use_planner))
    return states + 1, np.array([1.0, 3.0])

  def fit_model(states):
    calls.append(("fit",))
    return states + 10, {"finite": np.array(finite), "data_finite": np.array([True, True]),
                         "nonfinite_epoch": np.array([-1, 2]), "nonfinite_step": np.array([-1, 0])}
  return types.SimpleNamespace(source_episode=source_episode, fit_model=fit_model)


def test_the_driver_runs_the_tasks_in_order_and_yields_after_each():
  calls = []
  steps = list(source_phase.drive(_fake_pipe(calls), 0, schedule.source_tasks(1, 2)))
  assert calls == [("source", False), ("fit",), ("source", True), ("fit",)]
  assert [s for s, _ in steps] == [1, 11, 12, 22]
  assert [step.task for _, step in steps] == schedule.source_tasks(1, 2)
  np.testing.assert_array_equal(steps[0][1].returns, [1.0, 3.0])
  assert steps[0][1].info is None and steps[1][1].returns is None


def test_the_driver_stops_at_a_nonfinite_fit_naming_where_and_the_seed():
  with pytest.raises(NonFiniteError, match=r"^world-model fit \(iteration 3\).*\(seed 8\)"):
    source_phase.run_task(_fake_pipe([], finite=(True, False)), 0, schedule.FitModel(3),
                          where="world-model fit (iteration 3)", seeds=[7, 8])
  with pytest.raises(TypeError, match="not a source-phase task"):
    source_phase.run_task(_fake_pipe([]), 0, schedule.Chunk(0))
