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
