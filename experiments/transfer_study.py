"""The transfer study: does WOMBET's transfer stage help when D_off is competent?

  python experiments/transfer_study.py                       # every arm, then the report
  python experiments/transfer_study.py --arms=sac,wombet     # some arms (resumes partial ones)
  python experiments/transfer_study.py --report_only         # the report from finished arms

The arms and the fixed sizes are in experiments/configs/transfer/<study>.py: SAC from scratch,
WOMBET as configured, WOMBET generating from replayed states, WOMBET's transfer stage on an
oracle D_off (a small and a large one) and WOMBET without D_off (beta fixed at 0). First the
oracle dataset is made (`experiments/oracle_dataset.py`, in a subprocess), then each arm runs
into <workdir>/<arm> (reused when finished, resumed when not), recording the commit it ran at.
The report (`wombet_jax.harness.transfer`) is written to --out; it refuses arms that ran at
different commits.
"""
import importlib
import json
import os
import subprocess
import sys
import time

from absl import app, flags

from wombet_jax.harness import cli, provenance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_STUDY = flags.DEFINE_string("study", "halfcheetah", "experiments/configs/transfer/<study>.py")
_ARMS = flags.DEFINE_string("arms", "", "Comma-separated arms to run (default: all).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the runs live (default "
                               "/tmp/wombet_transfer/<study>).")
_OUT = flags.DEFINE_string("out", None, "Report folder (default "
                           "experiments/results/transfer_<study>).")
_REPORT_ONLY = flags.DEFINE_bool("report_only", False, "Write the report; run nothing.")
_REPORT = flags.DEFINE_bool("report", True, "Write the report after the runs.")


def make_oracle(study, config_file: str, path: str) -> None:
  if os.path.exists(path) and os.path.exists(path + ".json"):
    return
  os.makedirs(os.path.dirname(path), exist_ok=True)
  cmd = [sys.executable, os.path.join(ROOT, "experiments", "oracle_dataset.py"),
         f"--config={config_file}", f"--out={path}", f"--episodes={study.ORACLE_EPISODES}",
         f"--action_noise={study.ORACLE_NOISE}", f"--seed={study.ORACLE_SEED}",
         f"--workdir={os.path.join(os.path.dirname(path), 'sac')}"]
  print("[transfer] " + " ".join(cmd[1:]), flush=True)
  subprocess.run(cmd, check=True)


@cli.one_line_errors("transfer_study.py")
def main(argv):
  del argv

  from wombet_jax.harness.reference import REFERENCE_SCORES
  from wombet_jax.harness import config as config_lib
  from wombet_jax.harness import figures, results, runner
  name = _STUDY.value
  study = importlib.import_module(f"wombet_jax.configs.transfer.{name}")
  config_file = os.path.join(ROOT, "experiments", "configs", "transfer", f"{name}.py")
  wd = _WORKDIR.value or os.path.join("/tmp/wombet_transfer", name)
  out = _OUT.value or os.path.join(ROOT, "experiments", "results", f"transfer_{name}")
  oracle = os.path.join(wd, "oracle", "oracle.npz")
  arms = [a.strip() for a in _ARMS.value.split(",") if a.strip()] or list(study.ARMS)
  from wombet_jax.harness import transfer
  configs = {arm: transfer.arm_config(study, arm, oracle) for arm in arms}
  for c in configs.values():
    config_lib.validate(c)
  if not _REPORT_ONLY.value:
    if any(c.offline.dataset for c in configs.values()):
      make_oracle(study, config_file, oracle)
      for c in configs.values():  # every arm's D_off fits, before any arm runs
        runner.read_offline_dataset(c)
    for arm, c in configs.items():
      arm_wd = os.path.join(wd, arm)
      prov_path = os.path.join(arm_wd, "provenance.json")
      prov = {}
      if os.path.exists(prov_path):
        with open(prov_path) as f:
          prov = json.load(f)
      t0 = time.time()
      how = figures.ensure_run(c, arm_wd, run_fn=lambda cfg, d, resume: runner.run(
          cfg, d, resume=resume, reference_table=REFERENCE_SCORES))
      if how != "reused":
        prov.setdefault("commits", [])
        prov["commits"].append(provenance.commit(ROOT))
        prov["seconds"] = prov.get("seconds", 0.0) + provenance.seconds_since(t0, ndigits=None)
        prov["command"] = provenance.command()
        results.atomic_write_json(prov_path, prov)
      print(f"[transfer] {arm}: {how} ({time.time() - t0:.0f} s)", flush=True)
  if _REPORT.value or _REPORT_ONLY.value:
    transfer.write_report(study, list(study.ARMS), wd, out, REFERENCE_SCORES)
    print(f"[transfer] report written to {out}", flush=True)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
