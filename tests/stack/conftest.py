"""Fixtures of the reference-stack tests; `circuit` and `provers` are in tests/conftest.py (shared)."""
import pytest


@pytest.fixture(scope='session')
def prover(provers):
    """The prover in its normal mode, with rate limits high enough not to interfere."""
    return provers('normal')
