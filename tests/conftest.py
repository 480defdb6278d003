"""Shared pytest set-up: the ``slow`` marker and its ``--runslow`` switch."""
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
