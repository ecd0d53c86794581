"""Fixtures shared by every test directory; plain helpers live in testlib.py."""
import shutil

import pytest

from testlib import ROOT, ProverProcess, circuit_build, threshold_data


@pytest.fixture(scope='session')
def repo_root():
    return ROOT


@pytest.fixture(scope='session')
def rules():
    """The real rules of the data file, merged and validated by the engine (what x402_rules holds)."""
    from ansible_collections.x402.runbook.plugins.module_utils.thresholds import merge_rules
    data = threshold_data()
    return merge_rules(data['x402_thresholds'], data['x402_threshold_overrides'])


@pytest.fixture(scope='session')
def circuit():
    """Circuit artifacts + local trusted setup of the reference stack (built once, then cached by hash stamp)."""
    if shutil.which('node') is None or shutil.which('npm') is None:
        pytest.fail('node and npm are required for the reference circuit (Node >= 18)')
    return circuit_build().build()


@pytest.fixture(scope='session')
def provers(circuit, tmp_path_factory):
    """provers(name, **env): a reference prover process per name, started on first use, stopped at the end."""
    running = {}

    def get(name, **env):
        if name not in running:
            tmp = tmp_path_factory.mktemp('prover-%s' % name)
            running[name] = ProverProcess(circuit, tmp, **env).start()
        return running[name]

    yield get
    for proc in running.values():
        proc.stop()
