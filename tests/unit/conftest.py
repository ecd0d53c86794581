"""Fixtures of the plugin unit tests."""
import pytest

from testlib import FakeSmokeWorld, http_test_server


@pytest.fixture
def smoke_world():
    """The services x402.runbook.prover_smoke talks to, faked (testlib.FakeSmokeWorld)."""
    return FakeSmokeWorld()


@pytest.fixture
def smoke_server(smoke_world):
    """smoke_world behind a real HTTP server on 127.0.0.1."""
    with http_test_server(smoke_world) as httpd:
        yield httpd
