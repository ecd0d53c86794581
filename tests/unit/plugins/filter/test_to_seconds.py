# -*- coding: utf-8 -*-
"""x402.runbook.to_seconds: through FilterModule and through a real ansible-playbook."""

from __future__ import annotations


import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.filter.to_seconds import FilterModule, to_seconds
from testlib import run_local_play, task_results


def run_playbook(tmp_path, tasks, callback='ansible.builtin.json'):
    return run_local_play(tmp_path, tasks, callback=callback)


def test_filter_module_registers_the_filter():
    assert FilterModule().filters() == {'to_seconds': to_seconds}


@pytest.mark.parametrize('value, seconds', [('90s', 90.0), ('5m', 300.0), ('2h', 7200.0), ('7d', 604800.0),
                                            ('1w', 604800.0), ('1y', 31536000.0), ('500ms', 0.5),
                                            ('1h30m', 5400.0), (300, 300.0), ('300', 300.0)])
def test_durations(value, seconds):
    assert to_seconds(value) == seconds


@pytest.mark.parametrize('value, shown', [('5x', "'5x'"), ('', "''"), ('1.5h', "'1.5h'"), (-1, '-1'),
                                          (None, 'null'), ([], '[]')])
def test_bad_duration_is_an_ansible_filter_error_naming_the_value(value, shown):
    with pytest.raises(AnsibleFilterError) as exc_info:
        to_seconds(value)
    message = str(exc_info.value)
    assert message.startswith('x402.runbook.to_seconds: duration %s' % shown), message


def test_in_a_real_playbook(tmp_path):
    tasks = [
        {'name': 'compound', 'ansible.builtin.debug': {'msg': "{{ '1h30m' | x402.runbook.to_seconds }}"}},
        {'name': 'millis', 'ansible.builtin.debug': {'msg': "{{ '500ms' | x402.runbook.to_seconds }}"}},
        {'name': 'number', 'ansible.builtin.debug': {'msg': '{{ 90 | x402.runbook.to_seconds }}'}},
        {'name': 'bad', 'ignore_errors': True, 'ansible.builtin.debug': {'msg': "{{ '5x' | x402.runbook.to_seconds }}"}},
    ]
    process = run_playbook(tmp_path, tasks)
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    results = task_results(process)
    assert results['compound']['msg'] == 5400.0
    assert results['millis']['msg'] == 0.5
    assert results['number']['msg'] == 90.0
    assert results['bad']['failed'] is True
    assert "x402.runbook.to_seconds: duration '5x' is not valid" in results['bad']['msg']


def test_a_bad_duration_fails_the_play_cleanly(tmp_path):
    tasks = [{'name': 'bad', 'ansible.builtin.debug': {'msg': "{{ '5x' | x402.runbook.to_seconds }}"}}]
    process = run_playbook(tmp_path, tasks, callback='ansible.builtin.default')
    output = process.stdout + process.stderr
    assert process.returncode == 2, output[-4000:]
    assert "x402.runbook.to_seconds: duration '5x' is not valid" in output
    assert 'Traceback' not in output
