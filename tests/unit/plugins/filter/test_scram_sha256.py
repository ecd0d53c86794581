# -*- coding: utf-8 -*-
"""x402.runbook.scram_sha256: through FilterModule and through a real ansible-playbook."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.filter.scram_sha256 import FilterModule, scram_sha256
from ansible_collections.x402.runbook.plugins.module_utils.scram import matches
from testlib import run_local_play, task_results

PASSWORD = 'Correct-Horse-1'
SALT = '8JwnD7MO3gda35qFaMPi8g=='
FROM_POSTGRESQL = ('SCRAM-SHA-256$4096:8JwnD7MO3gda35qFaMPi8g==$Q578X1S8sIOQx07BkT4VN7eT3WrDGk/BcUEN5i7AvDA='
                   ':IXfcoN2Ts/pZX2yS1G8js6JDbfh0YaTv+eDATCnSruM=')


def test_filter_module_registers_the_filter():
    assert FilterModule().filters() == {'scram_sha256': scram_sha256}


def test_given_salt_gives_postgresqls_verifier():
    assert scram_sha256(PASSWORD, salt=SALT) == FROM_POSTGRESQL


def test_current_is_returned_unchanged_when_it_matches():
    assert scram_sha256(PASSWORD, current=FROM_POSTGRESQL) == FROM_POSTGRESQL
    # A given salt does not replace a matching verifier.
    assert scram_sha256(PASSWORD, current=FROM_POSTGRESQL, salt='AAAAAAAAAAAAAAAAAAAAAA==') == FROM_POSTGRESQL


def test_current_is_replaced_when_the_password_changed():
    new = scram_sha256('New-Password-2024', current=FROM_POSTGRESQL)
    assert new != FROM_POSTGRESQL and matches('New-Password-2024', new)


def test_an_md5_current_is_replaced():
    assert matches(PASSWORD, scram_sha256(PASSWORD, current='md5' + 'a' * 32))


def test_errors_are_ansible_filter_errors_without_the_password():
    secret = 'Sécret-Password-1'
    with pytest.raises(AnsibleFilterError) as exc_info:
        scram_sha256(secret)
    assert str(exc_info.value).startswith('x402.runbook.scram_sha256: the password must be ASCII')
    assert secret not in str(exc_info.value)


def test_in_a_real_playbook(tmp_path):
    tasks = [
        {'name': 'fixed salt', 'ansible.builtin.debug': {'msg': "{{ '%s' | x402.runbook.scram_sha256(salt='%s') }}" % (PASSWORD, SALT)}},
        {'name': 'idempotent', 'ansible.builtin.debug': {
            'msg': "{{ '%s' | x402.runbook.scram_sha256(current=stored) }}" % PASSWORD}},
        {'name': 'bad', 'ignore_errors': True, 'ansible.builtin.debug': {'msg': "{{ '' | x402.runbook.scram_sha256 }}"}},
    ]
    process = run_local_play(tmp_path, tasks, play_vars={'stored': FROM_POSTGRESQL})
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    results = task_results(process)
    assert results['fixed salt']['msg'] == FROM_POSTGRESQL
    assert results['idempotent']['msg'] == FROM_POSTGRESQL
    assert results['bad']['failed'] is True
    assert 'x402.runbook.scram_sha256: the password must be a non-empty string' in results['bad']['msg']
