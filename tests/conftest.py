"""Shared fixtures. Compiling is the slow part of Brian2 tests: standalone projects are compiled in
one session directory (make only rebuilds what changed) and networks are shared where possible."""
import os

import numpy as np
import pytest

os.environ.setdefault("PDLF_BRIAN_CACHE", os.path.join(os.path.dirname(__file__), "..", ".brian_cache"))


@pytest.fixture(scope="session")
def cpp_directory(tmp_path_factory):
    """One project directory for every cpp_standalone network built by the tests."""
    return str(tmp_path_factory.mktemp("cpp_standalone"))


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)
