"""Config validation fails fast, naming the field, before anything compiles."""
import glob
import os

import pytest
from ml_collections import config_flags  # noqa: F401  (ensures ml_collections importable)

import helpers
from wombet_jax.harness.config import validate

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments", "configs")


def _load(path):
  import importlib.util
  spec = importlib.util.spec_from_file_location("cfg", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config()


@pytest.mark.parametrize("path", sorted(
    p for p in glob.glob(os.path.join(CONFIG_DIR, "*.py"))
    if os.path.basename(p) not in ("__init__.py", "paper.py")))
def test_every_shipped_config_is_valid(path):
  validate(_load(path))


@pytest.mark.parametrize("field,value,needle", [
    ("env", "cartpole", "known"),
    ("algo", "dqn", "must be one of"),
    ("num_seeds", 0, "integer in [1, 2147483647]"),
    ("num_seeds", -3, "integer in [1, 2147483647]"),
    ("filter.eps_u", 1.5, "[0.0, 1.0]"),
    ("filter.eps_r", -0.1, "[0.0, 1.0]"),
    ("filter.variant", "both", "must be one of"),
    ("sampling.beta_min", 0.9, "beta_max"),
    ("sampling.rho", float("nan"), "finite"),
    ("sampling.td_error", "scaled", "must be one of"),
    ("agent.critic_subset", 20, "num_critics"),
    ("agent.utd", 0, "integer in [1, 2147483647]"),
    ("planner.lambda_plan", -1.0, "[0.0, 3.4028235e+38]"),
    ("generation.plan_dtype", "float16", "must be one of ['bfloat16', 'float32']"),
    ("world_model.num_elites", 9, "ensemble_size"),
    ("loop.steps_per_iteration", 150, "multiple of loop.eval_every"),
    ("writers", "jsonl,csv", "'csv' is not a writer; allowed: ['jsonl', 'tensorboard', 'wandb']"),
])
def test_bad_values_name_the_field(field, value, needle):
  c = helpers.make_config(**{field: value})
  with pytest.raises(ValueError) as e:
    validate(c)
  msg = str(e.value)
  assert f"config.{field}" in msg and needle in msg, msg


def test_absolute_thresholds_allow_any_return_but_not_negative_uncertainty():
  c = helpers.make_config("base", filter=dict(threshold_mode="absolute", eps_r=-250.0, eps_u=3.0))
  validate(c)
  c.filter.eps_u = -0.5
  with pytest.raises(ValueError, match=r"config.filter.eps_u=-0.5"):
    validate(c)


PAPER_PAIRS = ("halfcheetah", "hopper", "walker2d", "ant", "reacher", "inverted_double_pendulum")


@pytest.mark.parametrize("env", PAPER_PAIRS)
def test_paper_and_cpu_configs_validate_and_build(env):
  """Every paper config (and the CPU-scale locomotion ones) builds its pipeline for WOMBET and
  SAC at its real shapes; nothing is compiled (experiments/diagnostics/check_configs.py runs them)."""
  import importlib
  
  from wombet_jax import loop
  names = [f"wombet_jax.configs.{env}"]
  if os.path.exists(os.path.join(os.path.dirname(__file__), "..", "experiments", "configs", "cpu",
                                 f"{env}.py")):
    names.append(f"wombet_jax.configs.cpu.{env}")
  for name in names:
    c = importlib.import_module(name).get_config()
    assert c.env == env
    for algo in ("wombet", "sac"):
      c.algo = algo
      validate(c)
      pipe = loop.make_pipeline(c)
      assert pipe.episode_length == (c.episode_length or 1000)
      assert pipe.pair.name == env
      assert all(v == 0 for v in pipe.trace_counts.values())  # built, not traced


# --- One rule per field: config.validate and the builders answer with the same validator ----
def _message(fn, *args) -> str:
  with pytest.raises(ValueError) as e:
    fn(*args)
  return str(e.value)


def _make_planner(planner_config):
  from wombet_jax.planner import Dynamics, make_planner
  dyn = Dynamics(step=lambda p, eps, o, a, m: o + a, uncertainty=lambda p, o, a: 0.0 * o[0],
                 num_members=1)
  return make_planner(planner_config, 1, dyn, lambda o, a, o2: 1.0 + 0.0 * o[0])


def test_planner_alpha_one_is_rejected_by_one_rule():
  c = helpers.make_config(**{"planner.alpha": 1.0})
  expected = ("config.planner.alpha=1.0 is invalid: must be a finite number in [0.0, 1.0) "
              "(alpha = 1 never moves the CEM distribution)")
  assert _message(validate, c) == expected
  assert _message(_make_planner, c.planner) == expected


def test_planner_discount_zero_is_accepted_by_one_rule():
  """gamma = 0 plans on the first step's reward alone (0^0 = 1): accepted by both."""
  c = helpers.make_config(**{"planner.discount": 0.0})
  validate(c)
  _make_planner(c.planner)


@pytest.mark.parametrize("field,value,expected", [
    ("agent.discount", 1.0, "config.agent.discount=1.0 is invalid: must be a finite number in "
                            "[0.0, 1.0) (the critic bootstraps through time limits, so 1 "
                            "diverges)"),
    ("agent.tau", 0.0, "config.agent.tau=0.0 is invalid: must be a finite number in (0.0, 1.0] "
                       "(tau = 0 never updates the target critics)"),
])
def test_agent_discount_one_and_tau_zero_are_rejected_by_one_rule(field, value, expected):
  from wombet_jax.agents.sac import check_agent, make_sac
  c = helpers.make_config(**{field: value})
  assert _message(validate, c) == expected
  assert _message(make_sac, 2, 2, c.agent, c.sampling) == expected  # WOMBET, SAC, RLPD
  assert _message(check_agent, c.agent, 2, 2) == expected  # every baseline


def test_validate_calls_each_section_validator_once(monkeypatch):
  from wombet_jax import beta, filtering, generation, loop, planner
  from wombet_jax import world_model
  from wombet_jax.agents import sac
  owners = {"world_model": (world_model, "validate_config"),
            "planner": (planner, "validate_planner_config"),
            "pets": (generation, "validate_pets_config"),
            "generation": (generation, "validate_generation_config"),
            "filter": (filtering, "validate_filter_config"),
            "agent": (sac, "validate"), "sampling": (beta, "validate"),
            "loop": (loop, "validate_config")}
  calls = []
  for section, (module, name) in owners.items():
    real = getattr(module, name)
    monkeypatch.setattr(module, name,
                        lambda cfg, real=real, s=section: (calls.append(s), real(cfg))[1])
  c = helpers.make_config()
  validate(c)
  assert sorted(calls) == sorted(owners)


def test_field_docs_read_trailing_and_block_comments():
  from wombet_jax.harness import config as config_lib
  source = (
      "def get_config():\n"
      "  c = ml_collections.ConfigDict()\n"
      "  c.env = 'pointmass'  # task pair name\n"
      "  # Why this section exists.\n"
      "  wm = c.world_model = ml_collections.ConfigDict()\n"
      "  wm.size = 7\n"
      "  # A block above the field,\n"
      "  # continued here.\n"
      "  wm.rate = 1e-3\n"
      "  wm.kind = 'a'      # 'a' | 'b'\n")
  assert config_lib.field_docs(source) == {
      "env": "task pair name", "world_model.size": "",
      "world_model.rate": "A block above the field, continued here.",
      "world_model.kind": "'a' | 'b'"}


def test_every_field_of_base_is_listed_with_its_doc():
  import os

  from wombet_jax.configs import base
  from wombet_jax.harness import config as config_lib
  path = os.path.join(os.path.dirname(base.__file__), "base.py")
  with open(path) as f:
    docs = config_lib.field_docs(f.read())
  c = base.get_config()
  lines = config_lib.describe(c, docs)
  assert len(lines) == len(list(config_lib._leaves(c))) == len(docs)
  assert "config.agent.utd = 20  # G: gradient updates per env step" in lines
  assert "config.offline.dataset = ''  # \"\": generate D_off; else a .npz in D4RL key layout" in lines


@pytest.mark.parametrize("field,value,message", [
    ("compare", "sac,foo", "config.compare='sac,foo' is invalid: 'foo' is not an algorithm"),
    ("baselines.num_critics", 0, "config.baselines.num_critics=0 is invalid: must be an integer"),
])
def test_compare_and_baselines_are_validated_up_front(field, value, message):
  from wombet_jax.errors import UserError
  from wombet_jax.harness import config as config_lib
  c = helpers.make_config(**{field: value})
  with pytest.raises(UserError) as e:
    config_lib.validate(c)
  assert str(e.value).startswith(message)
