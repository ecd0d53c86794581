"""Fixtures shared by every test directory; plain helpers live in testlib.py."""
import pytest

from testlib import ROOT


@pytest.fixture(scope='session')
def repo_root():
    return ROOT
