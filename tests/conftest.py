"""Fixtures shared by every test directory; plain helpers live in testlib.py."""
import pytest

from testlib import ROOT, threshold_data


@pytest.fixture(scope='session')
def repo_root():
    return ROOT


@pytest.fixture(scope='session')
def rules():
    """The real rules of the data file, merged and validated by the engine (what x402_rules holds)."""
    from ansible_collections.x402.runbook.plugins.module_utils.thresholds import merge_rules
    data = threshold_data()
    return merge_rules(data['x402_thresholds'], data['x402_threshold_overrides'])
