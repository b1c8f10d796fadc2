"""The scripts that run, check and report experiments, and the committed results (RESULTS).
Only the checkout has them; the configs (wombet_jax/configs, also reachable as
experiments/configs) and the reference-score table (wombet_jax.harness.reference.REFERENCE_SCORES)
are package data of wombet_jax, so the scripts that use them also work with a built wheel."""
import os

from wombet_jax.harness.reference import REFERENCE_SCORES  # noqa: F401  (older imports)

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
