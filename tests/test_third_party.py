"""Known third-party start-up noise is filtered, and nothing else is."""
import subprocess
import sys

from wombet_jax import third_party


def test_without_lines_drops_only_the_known_prefixes(capsys):
  with third_party.without_lines(third_party.STDOUT_PREFIXES):
    print("Failed to import warp: No module named 'warp'")
    print("ours: keep me")
    print("Failed to import mujoco_warp: No module named 'warp'")
    print("Failed to import something_else: kept")
  assert capsys.readouterr().out == "ours: keep me\nFailed to import something_else: kept\n"


def test_building_an_mjx_pair_prints_no_warp_line_and_no_brax_warning():
  code = ("import warnings; warnings.simplefilter('default')\n"
          "from wombet_jax.envs import make_pair\n"
          "make_pair('inverted_double_pendulum')\n"
          "warnings.warn('our own warning stays')\n")
  p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert "Failed to import" not in p.stdout + p.stderr
  assert "not actively being maintained" not in p.stderr
  assert "our own warning stays" in p.stderr


def test_mujoco_warns_of_nothing_known_and_keeps_other_warnings(capsys):
  third_party.mujoco_warning("compiler attribute 'settotalmass' is deprecated and will be removed")
  third_party.mujoco_warning("Nan, Inf or huge value in QACC at DOF 0")
  assert capsys.readouterr().out == "WARNING: Nan, Inf or huge value in QACC at DOF 0\n\n"


def test_loading_a_locomotion_pair_prints_no_settotalmass_line_and_writes_no_log(tmp_path):
  # halfcheetah's XML (brax's) sets settotalmass; MuJoCo would print it and append it to
  # MUJOCO_LOG.TXT in the working directory. Only the model is compiled (no MJX step).
  code = ("import mujoco\n"
          "from wombet_jax import envs\n"
          "import brax, os\n"
          "p = os.path.join(os.path.dirname(brax.__file__), 'envs/assets/half_cheetah.xml')\n"
          "mujoco.MjModel.from_xml_path(p)\n")
  p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                     cwd=tmp_path)
  assert "settotalmass" not in p.stdout + p.stderr
  assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
