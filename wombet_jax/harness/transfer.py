"""A transfer study (`experiments/transfer_study.py`): each arm's config (`arm_config`), and
the report: paired per-seed endpoints of every arm against SAC and against WOMBET, and what
each arm's D_off held.

Endpoints, per seed, on the normalised return under the reference table given (never an arm's
own run): the primary one is the mean over the evaluations in the study's window (target steps
`WINDOW`), the secondary ones the return at the last evaluation and the first evaluation step
at which the return reaches 50% / 80% of the reference. Differences are paired by seed: their
mean, standard error and a 95% bootstrap interval of the mean (seeds resampled).

D_off statistics: its size per seed and iteration, the source return and target-reward return
of its trajectories, and its coverage of the states SAC's final policy visits on the target
task (the distance from each visited state to its nearest D_off state, every dimension scaled
by the visited states' std).
"""
from __future__ import annotations

import glob
import json
import os
import shutil
from typing import Mapping, Sequence

import numpy as np

from wombet_jax.errors import UserError
from wombet_jax.harness import dataset, reference, results, stats

WINDOW = (2500, 5000, 7500, 10000)  # target steps of the primary endpoint
FRACTIONS = (0.5, 0.8)
COVERAGE_RADIUS = 1.0               # "covered": nearest D_off state within 1 std per dimension
ARM_FILES = ("metrics.jsonl", "summary.json", "config.json", "provenance.json",
             "offline_dataset.json")


ORACLE = "$ORACLE"  # in a study's ARMS: the oracle dataset's path


def arm_config(study, arm: str, oracle_path: str):
  """The config of `arm` of the study module `study`: its get_config() with the arm's
  overrides (dotted field -> value) applied, "$ORACLE" replaced by `oracle_path`."""
  if arm not in study.ARMS:
    raise UserError(f"--arms contains {arm!r}; this study's arms: {list(study.ARMS)}")
  c = study.get_config()
  for field, value in study.ARMS[arm].items():
    *parents, leaf = field.split(".")
    node = c
    for part in parents:
      node = node[part]
    node[leaf] = oracle_path if value == ORACLE else value
  return c


def scores(rows: Sequence[Mapping], key: str = "normalized_return") -> dict[int, dict[int, float]]:
  """{step: {seed: value}} of the evaluation rows."""
  return results.by_step_and_seed(rows, key)


def window_mean(by_step: Mapping[int, Mapping[int, float]], steps: Sequence[int]
                ) -> dict[int, float]:
  """{seed: mean over `steps`} for the seeds evaluated at every one of them."""
  missing = [s for s in steps if s not in by_step]
  if missing:
    raise UserError(f"the runs have no evaluation at target steps {missing}; the window needs "
                    f"{list(steps)}")
  seeds = set.intersection(*(set(by_step[s]) for s in steps))
  return {seed: float(np.mean([by_step[s][seed] for s in steps])) for seed in sorted(seeds)}


def steps_to(by_step: Mapping[int, Mapping[int, float]], level: float) -> dict[int, float]:
  """{seed: first evaluation step whose value is >= level}, inf where none is."""
  seeds = sorted(set().union(*(set(v) for v in by_step.values())))
  out = {}
  for seed in seeds:
    hits = [s for s in sorted(by_step) if by_step[s].get(seed, -np.inf) >= level]
    out[seed] = float(hits[0]) if hits else float("inf")
  return out


def paired(a: Mapping[int, float], b: Mapping[int, float], seed: int = 0) -> dict | None:
  """a - b over shared seeds: `results.paired_stats` plus the mean's 95% bootstrap interval
  (seeds resampled). None without a shared seed; infinities (never reached) are not paired."""
  shared = [s for s in sorted(set(a) & set(b)) if np.isfinite(a[s]) and np.isfinite(b[s])]
  if not shared:
    return None
  out = results.paired_stats({s: a[s] for s in shared}, {s: b[s] for s in shared})
  diffs = np.array([a[s] - b[s] for s in shared])
  if len(diffs) > 1:
    _, lo, hi = stats.mean_ci(diffs, seed=seed)
  else:
    lo = hi = float(diffs[0])
  out.update(ci_lo=lo, ci_hi=hi)
  return out


def coverage(doff_obs: np.ndarray, visited: np.ndarray, radius: float = COVERAGE_RADIUS
             ) -> dict:
  """Nearest-neighbour distance from each visited state to D_off, each dimension scaled by
  the visited states' std: its median and the fraction within `radius`."""
  scale = np.maximum(visited.std(axis=0), 1e-6)
  v, d = visited / scale, doff_obs / scale
  nearest = np.empty(len(v))
  for i in range(0, len(v), 1024):  # chunks keep the distance matrix small
    blk = v[i:i + 1024]
    sq = (blk ** 2).sum(1)[:, None] - 2 * blk @ d.T + (d ** 2).sum(1)[None, :]
    nearest[i:i + 1024] = np.sqrt(np.maximum(sq.min(axis=1), 0.0))
  return {"median_distance": float(np.median(nearest)),
          "fraction_within": float(np.mean(nearest <= radius)), "radius": radius}


def generated_doff(arm_wd: str) -> dict[tuple[int, int], dict[str, np.ndarray]]:
  """{(iteration, seed): D_off arrays} from a run's exported datasets (accepted rows)."""
  out = {}
  for path in sorted(glob.glob(os.path.join(arm_wd, "datasets", "iter*_seed*.npz"))):
    name = os.path.basename(path)[len("iter"):-len(".npz")]
    k, seed = name.split("_seed")
    out[(int(k), int(seed))] = dataset.load(path, filtered=True)
  return out


def doff_summary(parts: Mapping[tuple[int, int], Mapping[str, np.ndarray]]) -> dict:
  """Size per (iteration, seed) and the per-trajectory source / target returns of D_off."""
  sizes, src, tgt = {}, [], []
  for (k, seed), a in parts.items():
    sizes[f"iter{k}_seed{seed}"] = int(len(a["observations"]))
    ends = a["terminals"].astype(bool) | a["timeouts"].astype(bool)
    src += dataset.trajectory_returns(a.get("source_rewards", a["rewards"]), ends).tolist()
    tgt += dataset.trajectory_returns(a["rewards"], ends).tolist()
  vals = list(sizes.values())
  return {"size_min": min(vals), "size_median": float(np.median(vals)), "size_max": max(vals),
          "sizes": sizes, "trajectories": len(src),
          "source_return_mean": float(np.mean(src)), "target_return_mean": float(np.mean(tgt)),
          "source_return_range": [float(np.min(src)), float(np.max(src))]}


def visited_states(policy_dir: str, env: str, episode_length: int, seed: int = 0
                   ) -> np.ndarray:
  """Observations of one target-task episode per seed of the deterministic policy exported
  in `policy_dir` (the SAC arm's final policies), stacked (seeds * steps, obs_dim)."""
  import jax

  from wombet_jax.envs import make_pair
  from wombet_jax.harness import policy
  pol = policy.load_policy(policy_dir)
  pair = make_pair(env, episode_length)

  def one(params, k):
    def body(env_state, _):
      a = pol.deterministic(params, env_state.obs)
      nxt, tr = pair.target.step(env_state, a)
      return nxt, tr.obs
    _, obs = jax.lax.scan(body, pair.target.reset(k), None, length=episode_length)
    return obs

  n = len(pol.meta["seeds"])
  obs = jax.jit(jax.vmap(one))(pol.params, jax.random.split(jax.random.PRNGKey(seed), n))
  return np.asarray(obs).reshape(-1, pair.obs_dim)


def check_one_commit(provenance: Mapping[str, Mapping]) -> str:
  """The one commit every arm ran at (every resume included); UserError otherwise."""
  commits = {arm: set(p.get("commits", [])) for arm, p in provenance.items()}
  every = set().union(*commits.values()) if commits else set()
  if len(every) != 1 or any(c.endswith("+dirty") for c in every):
    raise UserError(f"the arms ran at {sorted(every)} (by arm: "
                    f"{ {a: sorted(c) for a, c in commits.items()} }); a report compares arms "
                    "run at one clean commit")
  return every.pop()


def _fmt(d: Mapping | None) -> str:
  if d is None:
    return "n/a"
  return (f"{d['mean']:+.1f} ± {d['se']:.1f} [{d['ci_lo']:+.1f}, {d['ci_hi']:+.1f}] "
          f"(n={d['n']}, {100 * d['fraction_a_above']:.0f}% of seeds above)")


def endpoints(rows: Sequence[Mapping], window: Sequence[int]) -> dict:
  """Per-seed endpoints of one arm (normalised rows)."""
  by_step = scores(rows)
  last = max(by_step)
  return {"primary": window_mean(by_step, window),
          "final": {s: float(v) for s, v in by_step[last].items()},
          **{f"steps_to_{int(100 * f)}": steps_to(by_step, 100.0 * f) for f in FRACTIONS}}


def _complete(folder: str) -> bool:
  path = os.path.join(folder, "summary.json")
  if not os.path.exists(path):
    return False
  with open(path) as f:
    return bool(json.load(f).get("complete"))


def arm_folder(wd: str, out: str, arm: str) -> str | None:
  """Where a finished arm is read from: its run folder under `wd`, else the copy of its files
  under `out` (a report committed earlier); None if neither holds a finished run."""
  for folder in (os.path.join(wd, arm), os.path.join(out, arm)):
    if _complete(folder):
      return folder
  return None


def arm_doff(wd: str, arm: str, config: Mapping, visited: np.ndarray | None) -> dict | None:
  """D_off statistics of one arm, from its exported datasets or the oracle file it drew from;
  None when those files are gone (only the cached doff.json of a committed report is left)."""
  if config["offline"]["dataset"]:
    oracle = os.path.join(wd, "oracle", "oracle.npz")
    if not os.path.exists(oracle):
      return None
    parts = {(0, -1): dataset.load(oracle, filtered=False)}
    info = doff_summary(parts)
    del info["sizes"]
    info.update(source="oracle file",
                drawn_per_seed=config["offline"]["max_transitions"] or info["size_max"])
  else:
    parts = generated_doff(os.path.join(wd, arm))
    if not parts:
      return None
    info = doff_summary(parts)
    info.update(source="generated")
  if visited is not None:
    info["coverage_of_sac_states"] = coverage(
        np.concatenate([p["observations"] for p in parts.values()]), visited)
  return info


def write_report(study, arms: Sequence[str], wd: str, out: str, reference_table: str) -> dict:
  """Reads the finished arms (`arm_folder`), writes `out`/report.json, report.md, curves.png
  and a copy of each arm's per-seed files (with its D_off statistics, doff.json) under
  `out`/<arm>/. Returns the report."""
  from wombet_jax.envs import registry
  from wombet_jax.harness import plotting
  runs, prov, configs, folders = {}, {}, {}, {}
  for arm in arms:
    folder = arm_folder(wd, out, arm)
    if folder is None:
      continue
    folders[arm] = folder
    runs[arm] = results.read_jsonl(os.path.join(folder, "metrics.jsonl"))
    with open(os.path.join(folder, "provenance.json")) as f:
      prov[arm] = json.load(f)
    with open(os.path.join(folder, "config.json")) as f:
      configs[arm] = json.load(f)
  if not runs:
    raise UserError(f"no finished arm under {wd!r} or {out!r}; run "
                    "experiments/transfer_study.py first")
  commit = check_one_commit(prov)
  first = next(iter(configs.values()))
  env = first["env"]
  ep_len = first["episode_length"] or registry.default_episode_length(env)
  ref = reference.lookup(env, ep_len, reference_table)
  if ref is None:
    raise UserError(f"the reference table {reference_table!r} has no entry for {env}/{ep_len}")
  runs = {a: results.renormalize(r, ref, reference.normalize) for a, r in runs.items()}
  ends = {a: endpoints(r, WINDOW) for a, r in runs.items()}
  comparisons = {}
  for base in ("sac", "wombet"):
    if base not in ends:
      continue
    for arm in ends:
      if arm == base:
        continue
      comparisons[f"{arm} - {base}"] = {k: paired(ends[arm][k], ends[base][k]) for k in ends[arm]}

  doff, visited = {}, None
  sac_policy = os.path.join(wd, "sac", "policy")
  for arm, c in configs.items():
    if c["algo"] == "sac":
      continue
    cached = os.path.join(folders[arm], "doff.json")
    if os.path.exists(cached):
      with open(cached) as f:
        doff[arm] = json.load(f)
      continue
    if visited is None and os.path.isdir(sac_policy):
      visited = visited_states(sac_policy, env, ep_len)
    info = arm_doff(wd, arm, c, visited)
    if info is not None:
      doff[arm] = info
      results.atomic_write_json(cached, info)

  report = {"env": env, "episode_length": ep_len, "commit": commit, "window": list(WINDOW),
            "reference": ref, "arms": list(runs),
            "seconds": {a: round(p.get("seconds", 0.0)) for a, p in prov.items()},
            "commands": {a: p.get("command") for a, p in prov.items()},
            "endpoints": {a: {k: {str(s): v for s, v in e.items()} for k, e in ends[a].items()}
                          for a in ends},
            "comparisons": comparisons, "doff": doff}
  os.makedirs(out, exist_ok=True)
  for arm, folder in folders.items():
    dest = os.path.join(out, arm)
    if os.path.abspath(folder) == os.path.abspath(dest):
      continue
    os.makedirs(dest, exist_ok=True)
    for f in ARM_FILES + ("doff.json",):
      src = os.path.join(folder, f)
      if os.path.exists(src):
        shutil.copyfile(src, os.path.join(dest, f))
  oracle_meta = os.path.join(wd, "oracle", "oracle.npz.json")
  if os.path.exists(oracle_meta):
    shutil.copyfile(oracle_meta, os.path.join(out, "oracle.json"))
  results.atomic_write_json(os.path.join(out, "report.json"), report)
  with open(os.path.join(out, "report.md"), "w") as f:
    f.write(report_markdown(report))
  plotting.learning_curves(runs, os.path.join(out, "curves.png"),
                           title=f"{env}: transfer study arms", band="ci")
  return report


def report_markdown(report: Mapping) -> str:
  """The report's tables (generated; `report.json` holds every number)."""
  ref = report["reference"]
  lines = [f"Commit `{report['commit'][:12]}`, {report['env']} ({report['episode_length']}-step "
           f"episodes), normalised with R_random = {ref['random']:.1f} and R_reference = "
           f"{ref['reference']:.1f} ({ref.get('command', '')}); "
           f"{reference.ceiling_text(report['env'], report['episode_length'], ref)}.", "",
           f"Primary endpoint: mean normalised return over target steps "
           f"{', '.join(str(s) for s in report['window'])}, per seed.", "",
           "| arm | seeds | primary (mean ± s.e.) | final | wall time (s) |",
           "| --- | ---: | ---: | ---: | ---: |"]
  for arm in report["arms"]:
    e = report["endpoints"][arm]
    p, fin = np.array(list(e["primary"].values())), np.array(list(e["final"].values()))
    lines.append(f"| {arm} | {len(p)} | {p.mean():.1f} ± {p.std(ddof=1) / np.sqrt(len(p)):.1f}"
                 f" | {fin.mean():.1f} ± {fin.std(ddof=1) / np.sqrt(len(fin)):.1f} | "
                 f"{report['seconds'].get(arm, '')} |")
  lines += ["", "Paired differences (mean ± s.e. [95% bootstrap CI] over seeds):", "",
            "| comparison | primary | final | steps to 50% | steps to 80% |",
            "| --- | --- | --- | --- | --- |"]
  # report.json may come back with its keys sorted: rows follow the study's arm order.
  order = {a: i for i, a in enumerate(report["arms"])}
  rank = lambda arm: order.get(arm, len(order))

  def by_base_then_arm(item):
    arm, _, base = item[0].partition(" - ")
    return (("sac", "wombet").index(base) if base in ("sac", "wombet") else 2, rank(arm))

  for name, c in sorted(report["comparisons"].items(), key=by_base_then_arm):
    lines.append(f"| {name} | {_fmt(c['primary'])} | {_fmt(c['final'])} | "
                 f"{_fmt(c['steps_to_50'])} | {_fmt(c['steps_to_80'])} |")
  lines += ["", "Steps to 50% / 80%: seeds that never reach the level by the last evaluation "
            "are left out of a pair (counts per arm in report.json).", "",
            "D_off per arm:", "",
            "| arm | source | size (min / median / max) | source return | target-reward return "
            "| coverage of SAC's target states (median distance, fraction within 1 std) |",
            "| --- | --- | --- | ---: | ---: | --- |"]
  for arm, d in sorted(report["doff"].items(), key=lambda item: rank(item[0])):
    cov = d.get("coverage_of_sac_states")
    cov_s = f"{cov['median_distance']:.2f}, {cov['fraction_within']:.2f}" if cov else "n/a"
    size = (f"{d['drawn_per_seed']} drawn of {d['size_max']}" if d["source"] == "oracle file"
            else f"{d['size_min']} / {d['size_median']:.0f} / {d['size_max']}")
    lines.append(f"| {arm} | {d['source']} | {size} | {d['source_return_mean']:.1f} | "
                 f"{d['target_return_mean']:.1f} | {cov_s} |")
  return "\n".join(lines) + "\n"
