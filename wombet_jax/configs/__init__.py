"""The run configs (`ml_collections` files, each with `get_config()`), shipped with the package
so that an installed wheel runs them too; `base.py` documents every field. CONFIGS is this
folder: `--config=<CONFIGS>/smoke.py` (in a checkout also `experiments/configs/smoke.py`)."""
import os

CONFIGS = os.path.dirname(os.path.abspath(__file__))
