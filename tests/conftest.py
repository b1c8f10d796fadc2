"""Shared test setup: a compilation cache for the session, the smoke config, its pipeline and
one complete run of it, compiled and run once per session."""
import atexit
import os
import shutil
import tempfile

# One persistent compilation cache per test session, set before jax is imported so that the
# pytest-xdist workers and the scripts the tests start as subprocesses (all of which inherit
# the environment) use it too: a program another test process already compiled is loaded
# instead of compiled again. The loaded executable is the one XLA built, so no number changes;
# an entry still being written when another process reads it fails to decompress, and that
# process compiles the program itself (jax warns). A cache directory set by the user is kept
# (and then outlives the session).
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _CACHE = tempfile.mkdtemp(prefix="wombet_jax_test_cache_")
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE

import jax  # noqa: E402  (after the cache's environment is set)
import pytest  # noqa: E402

# jax reads the variable when it is first imported; this covers a plugin that imported it first.
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])


@pytest.fixture(scope="session")
def config():
  import helpers
  return helpers.make_config()


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
