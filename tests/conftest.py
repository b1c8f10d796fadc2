"""Shared test setup: the smoke config, its pipeline and one complete run of it, compiled and
run once per session."""
import pytest


@pytest.fixture(scope="session")
def config():
  from experiments.configs import smoke
  return smoke.get_config()


@pytest.fixture(scope="session")
def pipe(config):
  from wombet_jax import loop
  return loop.make_pipeline(config)


@pytest.fixture(scope="session")
def full_run(config, pipe, tmp_path_factory):
  """(workdir, summary) of the smoke config run to the end; tests copy it before changing it."""
  from wombet_jax.harness import runner
  wd = str(tmp_path_factory.mktemp("full"))
  summary = runner.run(config, wd, verbose=False, pipeline=pipe)
  return wd, summary


@pytest.fixture(scope="session")
def bc_pipes(config):
  """BC (the cheapest offline update) pipelines pretraining in one piece and in pieces of 8."""
  from wombet_jax import loop
  c = config.copy_and_resolve_references()
  c.algo = "bc"
  return (loop.make_pipeline(c, pretrain_piece=c.loop.offline_steps),
          loop.make_pipeline(c, pretrain_piece=8))
