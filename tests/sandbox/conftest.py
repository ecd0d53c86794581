"""The local sandbox, created once for every end-to-end test and destroyed at the end
(X402RB_KEEP_SANDBOX=1 keeps it for inspection)."""
import os

import pytest

from testlib import run_playbook


@pytest.fixture(scope='session')
def sandbox():
    created = run_playbook('playbooks/sandbox_create.yml')
    assert created.returncode == 0, created.stdout[-6000:] + created.stderr[-3000:]
    yield
    if os.environ.get('X402RB_KEEP_SANDBOX') != '1':
        destroyed = run_playbook('playbooks/sandbox_destroy.yml')
        assert destroyed.returncode == 0, destroyed.stdout[-3000:]
