"""The scripts that run, check and report experiments, their configs, and the committed
results. REFERENCE_SCORES is the repository's reference-score table (made by
experiments/reference_scores.py), which the scripts hand to the library."""
import os

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
REFERENCE_SCORES = os.path.join(RESULTS, "reference_scores.json")
