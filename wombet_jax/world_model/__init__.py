"""Probabilistic-ensemble world model (PETS) with epistemic uncertainty (docs/method.md, step 1).

Modules: `networks` (stacked Gaussian MLP, normaliser), `data` (the real transitions as a
`replay.Buffer` of `Rows`), `training` (jittable fit with holdout early stopping and elites), `model`
(make_world_model, predict/sample/uncertainty), `checkpoint` (orbax). Trajectory sampling
(TS-inf/TS-1) belongs to the planner, which steps the model through `next_from_noise`.
"""
from wombet_jax.world_model.checkpoint import restore, save
from wombet_jax.world_model.data import Rows, add_to_data, make_data
from wombet_jax.world_model.model import (UNCERTAINTY_KINDS, ModelState, WorldModel,
                                          make_world_model, validate_config)
from wombet_jax.world_model.networks import Normalizer
from wombet_jax.world_model.training import check_finite, holdout_slots

__all__ = [
    "ModelState", "Normalizer", "Rows", "UNCERTAINTY_KINDS", "WorldModel",
    "add_to_data", "check_finite", "holdout_slots", "make_data", "make_world_model",
    "restore", "save", "validate_config",
]
