"""The markdown tables of the diagnostic scripts, flag-free: the scripts write them next to
their JSON and experiments/results_page.py renders the committed JSON with the same functions.

  source phase    source_episodes, source_phase_summary, source_phase_table
                  (experiments/diagnostics/source_phase.py)
  lower bound     lower_bound_markdown (experiments/diagnostics/lower_bound.py)
  paper configs   check_configs_table, memory_table (experiments/diagnostics/check_configs.py)
  fault check     FaultRow, fault_check_table, fault_check_markdown (experiments/fault_check.py)
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

# ------------------------------------------------------------------------------ source phase


def source_episodes(rows: Sequence[Mapping[str, Any]], random_episodes: int) -> list[dict]:
  """Per source episode (in order): phase, source steps after it, per-seed returns."""
  from wombet_jax.harness import results
  by_steps = results.by_step_and_seed(rows, "return", phase="source",
                                      step_key="source_env_steps")
  return [{"episode": i + 1, "phase": "random" if i < random_episodes else "MPC",
           "source_env_steps": steps, "returns": by_steps[steps]}
          for i, steps in enumerate(sorted(by_steps))]


def source_phase_summary(episodes: Sequence[Mapping[str, Any]], yardstick: Mapping[str, Any] | None) -> dict:
  """Mean and std over seeds of each source episode, and the reference table's yardsticks on
  the source task (its "<pair>:source/<length>" entry) where there is one."""
  import numpy as np
  out: dict[str, Any] = {"episodes": []}
  for e in episodes:
    v = np.array(list(e["returns"].values()))
    out["episodes"].append(dict(e, mean=float(v.mean()), std=float(v.std()), n=len(v)))
  if yardstick is not None:
    out["random"] = yardstick["random"]
    out["sac_source"] = {"final": yardstick["reference_final"],
                         "final_std": yardstick["reference_final_std"],
                         "best": yardstick["reference"],
                         "steps": yardstick["reference_steps"],
                         "seeds": yardstick["reference_seeds"],
                         "command": yardstick["command"]}
  return out


def source_phase_table(s: Mapping[str, Any]) -> str:
  """source_phase.md: a `source_phase_summary` as a table, then its yardsticks."""
  lines = ["| source episode | policy | source steps after it | source return (mean ± std over "
           "seeds) |", "| ---: | --- | ---: | ---: |"]
  for e in s["episodes"]:
    lines.append(f"| {e['episode']} | {e['phase']} | {e['source_env_steps']} | "
                 f"{e['mean']:.1f} ± {e['std']:.1f} (n={e['n']}) |")
  if "random" in s:
    y = s["sac_source"]
    lines += ["", f"Yardsticks on the source task: uniform-random policy {s['random']:.1f}; SAC "
              f"after {y['steps']} source steps {y['final']:.1f} ± {y['final_std']:.1f} "
              f"({y['seeds']} seeds; best evaluation {y['best']:.1f}); `{y['command']}`."]
  return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- lower bound


def _table(header, align, rows) -> list[str]:
  """Markdown lines: a header row, an alignment row and one row per list of cells."""
  return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"] + [
      "| " + " | ".join(cells) + " |" for cells in rows]


def lower_bound_markdown(rows: Sequence[Mapping[str, Any]], cross: Sequence[Sequence[float]],
                         lambdas: Sequence[float], meta: Mapping[str, Any]) -> str:
  """lower_bound.md from lower_bound.json's rows, fraction_planned_x_penalised, lambdas and
  meta."""
  lines = [
      f"# Lower-bound diagnostic (eqs. 4-5): {meta['env']}",
      "",
      f"Command: `{meta['command']}`",
      "",
      f"Env pair: {meta['env']} (source task), config `{meta['config_file']}`, seeds "
      f"{meta['seeds']}, {meta['num_trajectories_per_seed']} trajectories x {meta['horizon']} "
      f"steps per seed and lambda, discount gamma = {meta['discount']}, uncertainty "
      f"`{meta['uncertainty']}`, world model trained on {meta['source_env_steps']} real source "
      f"steps (PETS: {meta['pets']}). Wall time {meta['wall_s']:.0f} s.",
      "",
      "Returns are discounted sums over each model trajectory's valid steps; the true return "
      "replays the same actions open loop in the real source env from the same start state, "
      "stopping at the first real episode end. 'bound holds' = penalised model return <= true "
      "return.",
      ""]
  lines += _table(
      ("lambda_plan", "fraction model-penalised <= true", "mean model return", "mean penalised",
       "mean true return", "mean u", "n trajectories"), ("---:",) * 7,
      [(f"{lam:g}", f"{r['fraction_bound_holds']:.3f}", f"{r['mean_model_return']:.2f}",
        f"{r['mean_penalised_return']:.2f}", f"{r['mean_true_return']:.2f}",
        f"{r['mean_u']:.4f}", f"{r['num_trajectories']}") for lam, r in zip(lambdas, rows)])
  lines += [
      "",
      "Where the open-loop replay ends before the model trajectory (the real env terminates "
      "or hits its time limit first), the true return covers fewer steps; the last column is "
      "the bound's fraction over the other trajectories:",
      ""]
  lines += _table(
      ("lambda_plan", "mean model steps", "mean real steps", "fraction real episode ended first",
       "fraction model-penalised <= true, full window only"), ("---:",) * 5,
      [(f"{lam:g}", f"{r['mean_model_steps']:.1f}", f"{r['mean_true_steps']:.1f}",
        f"{r['fraction_real_ended_first']:.3f}", f"{r['fraction_bound_holds_full_window']:.3f}")
       for lam, r in zip(lambdas, rows)])
  lines += [
      "",
      "Same batches, penalty weight varied after the fact (row: lambda_plan the trajectories "
      "were planned with; column: lambda in the penalised return); entries are the fraction "
      "with penalised <= true:",
      ""]
  lines += _table(
      ["planned with \\ penalised with"] + [f"{lam:g}" for lam in lambdas],
      ("---:",) * (len(lambdas) + 1),
      [[f"{lam:g}"] + [f"{v:.3f}" for v in row] for lam, row in zip(lambdas, cross)])
  return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- paper configs


def check_configs_table(rows: Sequence[Mapping[str, Any]]) -> str:
  """The timing table of check_configs.py: compile time, speed, state size, projection."""
  head = ("| env | algo | compile s | s / 1000 target steps | state MiB / seed | "
          "projected h / seed (source, fits, generation, online, evals) |")
  lines = [head, "| --- | --- | ---: | ---: | ---: | --- |"]
  for r in rows:
    p = r["projected_seconds_per_seed"]
    parts = ", ".join(f"{k} {p[k] / 3600:.2f}" for k in ("source", "fits", "generate",
                                                          "pretrain", "online", "evals")
                      if k in p)
    lines.append(f"| {r['env']} | {r['algo']} | {r['compile_seconds']:.0f} | "
                 f"{r['seconds_per_1000_target_steps']:.1f} | {r['state_mib_per_seed']:.0f} | "
                 f"**{r['projected_total_hours_per_seed']:.1f}** ({parts}) |")
  return "\n".join(lines) + "\n"


def memory_table(rows: Sequence[Mapping[str, Any]], tflops: float) -> str:
  """The table of check_configs.py --memory: generation memory, seeds per device, GPU-hours."""
  lines = ["| env | state MiB / seed | generation GiB / seed unblocked (XLA; estimate) | "
           "MiB / trajectory | seeds in 80 GB / 141 GB | 5 seeds at 80 GB: block, GiB | "
           f"TFLOP / generated step | GPU-h / seed at {tflops:g} TFLOP/s |",
           "| --- | ---: | --- | --- | --- | --- | --- | --- |"]
  for r in rows:
    b, a = r["before"], r["after"]
    f5 = r["five_seeds_80gb"]
    lines.append(
        f"| {r['env']} | {r['state_mib_per_seed']:.0f} | "
        f"{b['unblocked_gib_per_seed']:.1f} -> {a['unblocked_gib_per_seed']:.1f} "
        f"({b['estimate_gib_per_seed_unblocked']:.1f}) | "
        f"{b['temp_mib_per_trajectory']:.0f} -> {a['temp_mib_per_trajectory']:.0f} | "
        f"{b['max_seeds_80gb']} / {b['max_seeds_141gb']} -> "
        f"{a['max_seeds_80gb']} / {a['max_seeds_141gb']} | "
        f"{f5['block']}, {f5['total_gib']:.1f} | "
        f"{b['tflop_per_generated_step']:.2f} -> {a['tflop_per_generated_step']:.2f} | "
        f"{b['gpu_hours_per_seed']:.1f} -> {a['gpu_hours_per_seed']:.1f} |")
  return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- fault check


@dataclasses.dataclass
class FaultRow:
  """One case of experiments/fault_check.py: what it expected and what the process did."""
  category: str
  case: str
  expected: int
  status: int
  stderr_lines: int
  noise_lines: int
  traceback: bool
  seconds: float
  last_line: str
  problem: str = ""  # what the case's own check found wrong

  @property
  def ok(self) -> bool:
    """The expected status, one line (none for a run expected to finish), no traceback."""
    lines = 0 if self.expected == 0 else 1
    return (self.status == self.expected and self.stderr_lines == lines and not self.traceback
            and not self.problem)


def fault_check_table(rows: Sequence[FaultRow]) -> str:
  out = ["| category | case | exit (expected) | stderr lines | traceback | s | last stderr line |",
         "| --- | --- | --- | --- | --- | --- | --- |"]
  for r in rows:
    mark = "" if r.ok else " **FAIL**"
    line = (r.last_line + (f" [{r.problem}]" if r.problem else "")).replace("|", "\\|")
    out.append(f"| {r.category} | {r.case}{mark} | {r.status} ({r.expected}) | "
               f"{r.stderr_lines} | {'yes' if r.traceback else 'no'} | {r.seconds:.0f} | "
               f"`{line}` |")
  bad = [r for r in rows if not r.ok]
  out.append("")
  out.append(f"{len(rows)} cases: {len(rows) - len(bad)} one line with the expected status, "
             f"{sum(r.traceback for r in rows)} tracebacks"
             + (f"; failing: {', '.join(r.case for r in bad)}" if bad else "") + ".")
  return "\n".join(out)


def fault_check_markdown(d: Mapping[str, Any]) -> str:
  """The table of a fault_check.py --json output."""
  fields = {f.name for f in dataclasses.fields(FaultRow)}
  return fault_check_table([FaultRow(**{k: v for k, v in r.items() if k in fields})
                            for r in d["rows"]])
