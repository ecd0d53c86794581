"""Fixtures of the reference-stack tests: the built circuit and local prover processes."""
import shutil

import pytest

import stack_helpers


@pytest.fixture(scope='session')
def circuit():
    """Circuit artifacts + local trusted setup (built once, then cached by hash stamp)."""
    if shutil.which('node') is None or shutil.which('npm') is None:
        pytest.fail('node and npm are required for the reference circuit (Node >= 18)')
    return stack_helpers.circuit_build().build()


@pytest.fixture(scope='session')
def provers(circuit, tmp_path_factory):
    """provers(name, **env): a prover process per name, started on first use, stopped at the end."""
    running = {}

    def get(name, **env):
        if name not in running:
            tmp = tmp_path_factory.mktemp('prover-%s' % name)
            running[name] = stack_helpers.ProverProcess(circuit, tmp, **env).start()
        return running[name]

    yield get
    for proc in running.values():
        proc.stop()


@pytest.fixture(scope='session')
def prover(provers):
    """The prover in its normal mode, with rate limits high enough not to interfere."""
    return provers('normal')
