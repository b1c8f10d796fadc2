"""Fault injection on the smoke config: a changed config on resume, non-finite losses,
corrupt or incomplete checkpoints, occupied workdirs, bad inputs and interrupted writes.

Most tests copy the session's finished smoke run (conftest.full_run) and reuse its compiled
pipeline. Its checkpoints are 11 (one online chunk left) and 12 (the end); resuming from 11
reruns the last chunk, which must give the metrics of the uninterrupted run.
"""
import gc
import glob
import json
import os
import shutil
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import helpers
from wombet_jax.errors import UserError
from wombet_jax.harness import config as config_lib
from wombet_jax.harness import checkpointing, experiment, handlers, results, runner

_copy = helpers.copy_run
_tree = helpers.file_tree
_cli = helpers.run_cli
_error_lines = helpers.error_lines


def _like(pipe, config):
  return pipe.init(jax.vmap(jax.random.PRNGKey)(jnp.arange(config.num_seeds, dtype=jnp.uint32)))


# --- resume compares the whole config and writes nothing when it refuses -------------------------
@pytest.mark.parametrize("field,value,saved", [
    ("seed", 5, 0), ("agent.critic_lr", 1e-3, 3e-4),
    ("num_seeds", 3, 2), ("agent.hidden_size", 64, 32)])  # the last two change array shapes
def test_resume_with_another_config_is_refused_before_any_write(full_run, tmp_path, field,
                                                                value, saved):
  wd = _copy(full_run, tmp_path)
  before = _tree(wd)
  c = helpers.make_config(**{field: value})
  with pytest.raises(ValueError) as e:
    runner.Runner(c, wd, resume=True, verbose=False).run()
  assert f"config.{field}: {saved!r} in the checkpoint, {value!r} now" in str(e.value)
  assert _tree(wd) == before  # config.json included


def test_resume_may_change_a_resume_safe_field(full_run, config, pipe, tmp_path):
  wd = _copy(full_run, tmp_path)
  c = config.copy_and_resolve_references()
  c.loop.checkpoint_every = 200
  assert "loop.checkpoint_every" in config_lib.RESUME_SAFE_FIELDS
  # The field only decides when the host saves: the compiled pieces are the same.
  summary = runner.run(c, wd, resume=True, verbose=False, pipeline=pipe._replace(config=c))
  assert summary["complete"]
  assert json.load(open(os.path.join(wd, "config.json")))["loop"]["checkpoint_every"] == 200


# --- every update is checked for non-finite values -----------------------------------------------
def _resume_from_11(full_run, tmp_path, config, pipe, poison) -> str:
  """A copy whose newest checkpoint is 11 (one chunk left), its state changed by `poison`."""
  wd = _copy(full_run, tmp_path)
  ckpt = os.path.join(wd, "checkpoints")
  state, meta = checkpointing.restore(ckpt, 11, _like(pipe, config))
  for step in (11, 12):
    shutil.rmtree(os.path.join(ckpt, str(step)))
  meta.pop("checksum", None)
  checkpointing.save(ckpt, 11, poison(state), meta)
  return wd


@pytest.mark.parametrize("poison,names", [
    # Rewards of 1e30 square to inf in the critic loss (as agent.lambda_q=1e30 does):
    # the parameters stay finite (Adam's step is bounded) and so do the returns.
    (lambda s: s.replace(online=s.online.replace(data=s.online.data.replace(
        reward=jnp.full_like(s.online.data.reward, 1e30)))), ["critic_loss"]),
    (lambda s: s.replace(agent=s.agent.replace(actor=s.agent.actor.replace(
        params=jax.tree_util.tree_map(lambda x: jnp.full_like(x, jnp.nan),
                                      s.agent.actor.params)))),
     ["actor_loss", "critic_loss", "agent parameters/optimiser state"]),
])
def test_a_nonfinite_online_loss_stops_the_run_at_its_step(full_run, config, pipe, tmp_path,
                                                           poison, names):
  wd = _resume_from_11(full_run, tmp_path, config, pipe, poison)
  metrics = open(os.path.join(wd, "metrics.jsonl")).read()
  with pytest.raises(FloatingPointError) as e:
    runner.run(config, wd, resume=True, verbose=False, pipeline=pipe)
  msg = str(e.value)
  # The last chunk starts at 300 target steps and updates from its first step on.
  assert msg.startswith("online updates: ") and "at target step 301 for seeds [0, 1]" in msg
  for name in names:
    assert name in msg.split(" not finite")[0], msg
  assert "last checkpoint (task 11) is kept" in msg
  assert checkpointing.all_steps(os.path.join(wd, "checkpoints")) == [11]
  assert open(os.path.join(wd, "metrics.jsonl")).read() == metrics


def test_a_nonfinite_pretraining_loss_names_the_update_and_seeds(bc_pipes):
  from wombet_jax import replay
  from wombet_jax.envs import Transition
  whole, parts = bc_pipes
  c = whole.config
  states = _like(whole, c)
  n, o, a = 64, whole.pair.obs_dim, whole.pair.act_dim
  z = jnp.zeros((c.num_seeds, n))
  action = jnp.zeros((c.num_seeds, n, a)).at[1].set(jnp.nan)  # seed 1's data only
  trs = Transition(obs=jnp.zeros((c.num_seeds, n, o)), action=action, reward=z,
                   next_obs=jnp.zeros((c.num_seeds, n, o)), terminal=z, done=z)
  states = states.replace(offline=jax.vmap(replay.add_batch)(states.offline, trs))
  _, info = parts.pretrain(states, 8, 8)
  np.testing.assert_array_equal(info["nonfinite_step"], [-1, 9])  # the first of updates 9-16
  np.testing.assert_array_equal(info["nonfinite"]["bc_loss"], [False, True])
  with pytest.raises(FloatingPointError, match=r"^offline pretraining: agent parameters/"
                     r"optimiser state, bc_loss not finite at update 9 for seeds \[1\]"):
    handlers.check_health(info, "offline pretraining", "update", seeds=[0, 1], last_saved=None)


def test_a_nonfinite_model_fit_names_the_seed_number():
  from wombet_jax import world_model as W
  metrics = {"finite": np.array([True, False]), "data_finite": np.array([True, True]),
             "nonfinite_epoch": np.array([-1, 3]), "nonfinite_step": np.array([-1, 2])}
  with pytest.raises(FloatingPointError, match=r"at epoch 3, step 2 of that epoch \(seed 8\)"):
    W.check_finite(metrics, where="world-model fit", seeds=[7, 8])


# --- checkpoints are verified, and a corrupt newest one falls back -------------------------------
def test_restore_detects_data_that_reads_back_but_is_not_the_checkpoints(tmp_path):
  d = str(tmp_path / "ckpt")
  checkpointing.save(d, 1, {"a": jnp.arange(6.0)}, {"next_task": 1})
  checkpointing.save(d, 2, {"a": jnp.arange(6.0) + 1}, {"next_task": 2})
  shutil.rmtree(os.path.join(d, "2", "state"))  # same size, valid files, other values
  shutil.copytree(os.path.join(d, "1", "state"), os.path.join(d, "2", "state"))
  with pytest.raises(Exception, match="checkpoint 2 does not match its checksum"):
    checkpointing.restore(d, 2, {"a": jnp.zeros(6)})


def _xor_values(step_dir):
  for p in glob.glob(os.path.join(step_dir, "state", "ocdbt.process_0", "d", "*")):
    b = bytearray(open(p, "rb").read())
    i = len(b) // 4
    b[i:i + 16] = bytes(x ^ 0xFF for x in b[i:i + 16])
    open(p, "wb").write(bytes(b))


def _truncate_largest(step_dir):
  p = max(glob.glob(os.path.join(step_dir, "state", "**", "d", "*"), recursive=True),
          key=os.path.getsize)
  with open(p, "r+b") as f:
    f.truncate(os.path.getsize(p) // 2)


def _remove_meta(step_dir):
  os.unlink(os.path.join(step_dir, "meta", "metadata"))


@pytest.mark.parametrize("corrupt", [_xor_values, _truncate_largest, _remove_meta])
def test_a_corrupt_newest_checkpoint_falls_back_to_the_older_one(full_run, config, pipe,
                                                                 tmp_path, capsys, corrupt):
  wd = _copy(full_run, tmp_path)
  corrupt(os.path.join(wd, "checkpoints", "12"))
  runner.run(config, wd, resume=True, verbose=True, pipeline=pipe)
  out = capsys.readouterr().out
  assert "checkpoint 12 " in out and "fell back to an older checkpoint" in out, out
  assert "resumed from checkpoint 11" in out
  assert os.path.isdir(os.path.join(wd, "checkpoints_corrupt", "12"))
  # The last chunk, rerun from checkpoint 11, gives the uninterrupted run's numbers.
  assert (results.read_jsonl(os.path.join(wd, "metrics.jsonl"))
          == results.read_jsonl(os.path.join(full_run[0], "metrics.jsonl")))
  assert checkpointing.all_steps(os.path.join(wd, "checkpoints")) == [12, 11]
  checkpointing.restore(os.path.join(wd, "checkpoints"), 12, _like(pipe, config))


def test_no_intact_checkpoint_is_one_error_and_changes_nothing(full_run, config, pipe,
                                                               tmp_path, capfd):
  wd = _copy(full_run, tmp_path)
  _remove_meta(os.path.join(wd, "checkpoints", "12"))
  _truncate_largest(os.path.join(wd, "checkpoints", "11"))
  before = _tree(wd)
  with pytest.raises(Exception) as e:
    runner.run(config, wd, resume=True, verbose=False, pipeline=pipe)
  msg = str(e.value)
  assert "\n" not in msg and msg.startswith("no intact checkpoint in "), msg[:2000]
  assert "checkpoint 12 has no readable metadata" in msg
  assert "checkpoint 11 is unreadable" in msg
  assert "TensorStore" not in msg and "OUT_OF_RANGE" in msg, msg  # the cause, not the spec
  from wombet_jax import errors
  assert isinstance(e.value, errors.CheckpointError) and errors.exit_status(e.value) == 1
  # orbax's other reads of the failed restore report nothing of their own.
  time.sleep(0.5)
  gc.collect()
  err = capfd.readouterr().err
  assert "Event loop is closed" not in err and "never retrieved" not in err, err[-2000:]
  assert "TensorStore" not in err, err[-2000:]
  assert _tree(wd) == before


# --- a save that does not happen is never reported; occupied workdirs are refused ----------------
def test_a_fresh_run_into_a_workdir_with_checkpoints_is_refused(full_run, config, pipe,
                                                                tmp_path):
  wd = _copy(full_run, tmp_path)
  os.unlink(os.path.join(wd, "metrics.jsonl"))
  before = _tree(wd)
  with pytest.raises(ValueError, match=r"already holds a run \(.*checkpoints \[11, 12\]\); "
                                       "pass --resume"):
    runner.run(config, wd, verbose=False, pipeline=pipe)
  assert _tree(wd) == before


def test_a_save_orbax_skips_raises(tmp_path):
  d = str(tmp_path / "ckpt")
  checkpointing.save(d, 5, {"a": jnp.ones(3)}, {})
  with pytest.raises(RuntimeError, match="did not write checkpoint 3 .* already 5"):
    checkpointing.save(d, 3, {"a": jnp.ones(3)}, {})
  assert checkpointing.all_steps(d) == [5]


# --- every compared algorithm is validated before any work ---------------------------------------
def test_compared_algorithms_are_validated_before_the_first_run(tmp_path, monkeypatch):
  def work(*args, **kwargs):
    raise AssertionError("a run started before every config was checked")

  monkeypatch.setattr(runner.Runner, "run", work)
  c = helpers.make_config(compare="ppo", ppo=dict(num_minibatches=3))
  wd = str(tmp_path / "wd")
  with pytest.raises(ValueError, match=r"^config.ppo.num_minibatches=3 is invalid: must "
                                       r"divide ppo.rollout_length=100$"):
    experiment.run(c, wd, verbose=False)
  assert not os.path.exists(wd)


# --- bad inputs are named before any work --------------------------------------------------------
@pytest.mark.parametrize("field,value,message", [
    ("seed", 4294967296, "config.seed=4294967296 is invalid: must be an integer in "
                         "[0, 4294967294]"),
    ("world_model", dict(capacity=40, batch_size=32),  # a section's fields, updated
     "config.world_model.capacity=40 is invalid: must be >= the episode length 50"),
    ("world_model.batch_size", 4096, "config.world_model.batch_size=4096 is invalid: must be "
                                     "<= world_model.capacity=2000"),
    ("agent.lambda_q", 1e39, "config.agent.lambda_q=1e+39 is invalid: must be a finite number "
                             "representable in float32 (|x| <= 3.4028235e+38)"),
    ("iql.temperature", 1e39, "config.iql.temperature=1e+39 is invalid: must be a finite "
                              "number representable in float32"),
    ("loop.eval_every", 2**31, "config.loop.eval_every=2147483648 is invalid: must be an "
                               "integer representable in int32"),
])
def test_bad_values_stop_the_run_before_any_write(tmp_path, field, value, message):
  wd = str(tmp_path / "wd")
  with pytest.raises(ValueError) as e:
    experiment.run(helpers.make_config(**{field: value}), wd, verbose=False)
  assert str(e.value).startswith(message), str(e.value)
  assert not os.path.exists(wd)


@pytest.mark.parametrize("flag,needle", [
    ("--config.agent.nonexistent=1", "config.agent has no field 'nonexistent'; its fields: "
                                     "['actor_lr', 'batch_size',"),
    ("--config.nosection.x=1", "config has no field 'nosection'; its sections and fields: "
                               "['agent', 'algo',"),
    ("--config.seed=4294967296", "config.seed=4294967296 is invalid"),
    ("--config.world_model.propagation=ts1", "config.world_model.propagation='ts1' is "
                                             "invalid: the field moved to "
                                             "config.planner.propagation; set that instead"),
])
def test_cli_input_errors_are_one_line_with_status_2(tmp_path, flag, needle):
  out = _cli(flag, "--workdir=" + str(tmp_path / "wd"))
  assert out.returncode == 2, out.stderr[-3000:]
  assert "Traceback" not in out.stderr
  [line] = _error_lines(out.stderr)
  assert needle in line, line
  assert not os.path.exists(tmp_path / "wd")


def test_unknown_field_names_the_full_path_and_the_sections_fields():
  c = helpers.make_config()
  assert config_lib.unknown_field(c, "agent.lambda_q", "1") is None
  assert config_lib.unknown_field(c, "agent.lambda_q.x", "1") == (
      "config.agent.lambda_q.x='1' is invalid: config.agent.lambda_q is a field, not a "
      "section with fields")
  assert config_lib.unknown_field(c, "pets.episodes", "3") == (
      "config.pets.episodes='3' is invalid: config.pets has no field 'episodes'; its fields: "
      "['mpc_episodes', 'random_episodes']")


def test_a_moved_field_set_in_a_config_file_is_refused_naming_its_new_place():
  c = helpers.make_config()
  assert c.planner.propagation == "ts_inf" and "propagation" not in c.world_model
  c.world_model.propagation = "ts1"  # a config file written for the old layout
  with pytest.raises(UserError, match=r"^config.world_model.propagation='ts1' is invalid: the "
                                      r"field moved to config.planner.propagation; set that "
                                      r"instead$"):
    config_lib.validate(c)


# --- temporary files, modes, strict JSON, complete written last ----------------------------------
def test_resume_removes_temp_files_and_writes_the_summary_last(full_run, config, pipe,
                                                               tmp_path, monkeypatch):
  wd = _copy(full_run, tmp_path)
  # As atomic_write_bytes and orbax name them, in every folder a run writes into.
  stale = [os.path.join(wd, ".metrics.jsonl.x1y2.partial"),
           os.path.join(wd, "policy", ".params-0123456789abcdef.npz.x1y2.partial"),
           os.path.join(wd, "checkpoints", "13.orbax-checkpoint-tmp-1733000000")]
  for path in stale[:2]:
    open(path, "w").write("half a file")
  os.makedirs(os.path.join(stale[2], "state"))
  written = []
  real = results.atomic_write_bytes

  def record(path, data):
    written.append(os.path.basename(path))
    real(path, data)

  monkeypatch.setattr(results, "atomic_write_bytes", record)
  umask = os.umask(0o077)  # modes follow the umask, as open() gives them
  try:
    runner.run(config, wd, resume=True, verbose=False, pipeline=pipe)
  finally:
    os.umask(umask)
  for path in stale:
    assert not os.path.exists(path), path
  # The policy export (policy/policy.json, policy/params-<hash>.npz) comes before the outputs.
  contract = [w for w in written if w != "policy.json" and not w.startswith("params-")]
  assert contract == ["config.json", "metrics.jsonl", "learning_curve.png", "summary.json"]
  assert written[-1] == "summary.json"
  for name in contract:
    assert os.stat(os.path.join(wd, name)).st_mode & 0o777 == 0o600, name


def test_checkpoint_json_is_strict(full_run):
  def reject(token):
    raise ValueError(f"non-standard JSON token {token}")

  for step in (11, 12):
    with open(os.path.join(full_run[0], "checkpoints", str(step), "meta", "metadata")) as f:
      meta = json.loads(f.read(), parse_constant=reject)
    assert meta["rows"][0]["td_error"] is None  # nan before the first update
