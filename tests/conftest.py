"""Shared pytest set-up: the ``slow`` marker and its ``--runslow`` switch; a per-session cache
directory (``METARL_CACHE_DIR``) so tests neither read nor write the user's cache."""
import os
import tempfile

import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run learning tests marked slow (minutes each)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="learning test: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    if "METARL_CACHE_DIR" not in os.environ:  # inherited by the subprocesses tests start
        os.environ["METARL_CACHE_DIR"] = tempfile.mkdtemp(prefix="metarl-test-cache-")
