"""Learning-curve bands: bootstrap CI of the mean from 20 seeds on, std below, or as asked."""
import numpy as np
import pytest

from wombet_jax.harness import plotting


def _rows(values_by_step):
  return [{"phase": "eval", "seed": s, "target_env_steps": step, "return": v}
          for step, values in values_by_step.items() for s, v in enumerate(values)]


def test_band_is_a_ci_from_20_seeds_on_and_std_below():
  twenty = _rows({0: [1.0] * 20, 100: list(range(20))})
  nineteen = _rows({0: [1.0] * 19, 100: list(range(19))})
  assert plotting.band_kind({"a": twenty}, "return") == "ci"
  assert plotting.band_kind({"a": twenty, "b": nineteen}, "return") == "std"
  assert plotting.band_kind({"a": twenty}, "return", "std") == "std"
  assert plotting.band_kind({"a": nineteen}, "return", "ci") == "ci"
  with pytest.raises(ValueError, match="band='sem' is invalid: allowed \\['auto', 'ci', 'std'\\]"):
    plotting.band_kind({"a": twenty}, "return", "sem")


def test_band_values():
  rows = _rows({0: [1.0] * 20, 100: list(range(20))})
  steps, mean, lo, hi, n = plotting.curve_band(rows, "return", "std")
  np.testing.assert_array_equal(steps, [0, 100])
  std = np.sqrt((20 ** 2 - 1) / 12)  # population std of 0..19
  np.testing.assert_allclose(mean, [1.0, 9.5])
  np.testing.assert_allclose(lo, [1.0, 9.5 - std])
  np.testing.assert_allclose(hi, [1.0, 9.5 + std])
  assert n == 20
  _, mean, lo, hi, _ = plotting.curve_band(rows, "return", "ci")
  np.testing.assert_allclose(mean, [1.0, 9.5])
  assert lo[0] == hi[0] == 1.0  # constant seeds: a point interval
  # The mean's interval is about 1.96 std / sqrt(20) = 2.5 wide on each side, not one std.
  assert 1.5 < 9.5 - lo[1] < 3.5 and 1.5 < hi[1] - 9.5 < 3.5


def test_learning_curves_write_a_png_with_the_band_in_the_label(tmp_path, monkeypatch):
  labels = []
  real = plotting.plt.Axes.set_ylabel
  monkeypatch.setattr(plotting.plt.Axes, "set_ylabel",
                      lambda ax, text, *a, **k: (labels.append(text), real(ax, text, *a, **k)))
  path = plotting.learning_curves({"sac": _rows({0: list(range(20)), 100: list(range(20))})},
                                  str(tmp_path / "c.png"))
  plotting.learning_curves({"sac": _rows({0: [0.0, 1.0], 100: [1.0, 2.0]})},
                           str(tmp_path / "d.png"))
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert labels == ["return (mean, 95% bootstrap CI)", "return (mean ± std)"]


def test_zero_shot_levels_get_distinct_dashes_and_error_bars_not_fills():
  import matplotlib.collections
  fig, ax = plotting.plt.subplots()
  curve = _rows({0: [0.0, 2.0], 100: [1.0, 3.0], 200: [2.0, 4.0]})
  level = _rows({0: [5.0, 7.0]})  # one evaluation: an offline algorithm, zero-shot
  plotting.plot_curves(ax, {"wombet": curve, "bc": level, "iql": _rows({0: [5.0, 7.0]})},
                       "return", band="std")
  lines = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
  assert set(lines) == {"wombet (n=2)", "bc (n=2, zero-shot)", "iql (n=2, zero-shot)"}
  # The two equal levels are told apart by their dash patterns.
  assert lines["bc (n=2, zero-shot)"].get_linestyle() != lines["iql (n=2, zero-shot)"].get_linestyle()
  np.testing.assert_array_equal(lines["bc (n=2, zero-shot)"].get_xdata(), [0, 200])
  # One filled band (the curve's); the levels' std (1.0) is drawn as error bars.
  fills = [c for c in ax.collections if isinstance(c, matplotlib.collections.PolyCollection)]
  assert len(fills) == 1
  bars = [c for c in ax.collections if isinstance(c, matplotlib.collections.LineCollection)]
  assert len(bars) == 2
  for bar in bars:
    (x0, y0), (x1, y1) = bar.get_segments()[0]
    assert x0 == x1 > 200 and (y0, y1) == (5.0, 7.0)
  plotting.plt.close(fig)
