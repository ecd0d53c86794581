# -*- coding: utf-8 -*-
"""x402.runbook.origin_problems: through FilterModule, against the data file's rule
pre_deployment.configuration.3 (0 problems pass, 1 fails), and in a real playbook."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.filter.origin_problems import FilterModule, origin_problems
from ansible_collections.x402.runbook.plugins.module_utils.thresholds import evaluate
from testlib import run_local_play, task_results

RULE = 'pre_deployment.configuration.3'


def test_filter_module_registers_the_filter():
    assert FilterModule().filters() == {'origin_problems': origin_problems}


@pytest.mark.parametrize('value, status', [('https://app.acme.io,https://pay.acme.io', 'pass'),
                                           ('https://app.acme.io,https://app.example.com', 'fail')])
def test_the_count_meets_the_gate_on_both_sides(rules, value, status):
    assert evaluate(len(origin_problems(value)), dict(rules[RULE], id=RULE))['status'] == status


def test_a_bad_value_is_an_ansible_filter_error_naming_it():
    with pytest.raises(AnsibleFilterError) as raised:
        origin_problems(42)
    assert str(raised.value) == ('x402.runbook.origin_problems: ALLOWED_ORIGINS = 42: '
                                 'must be a comma-separated string or a list of origins')


def test_in_a_real_playbook(tmp_path):
    tasks = [
        {'name': 'good', 'ansible.builtin.debug': {'msg': "{{ 'https://app.acme.io' | x402.runbook.origin_problems }}"}},
        {'name': 'bad', 'ansible.builtin.debug': {'msg': "{{ '*,https://127.0.0.1' | x402.runbook.origin_problems }}"}},
        {'name': 'wrong type', 'ignore_errors': True,
         'ansible.builtin.debug': {'msg': '{{ 42 | x402.runbook.origin_problems }}'}},
    ]
    process = run_local_play(tmp_path, tasks)
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    results = task_results(process)
    assert results['good']['msg'] == []
    assert results['bad']['msg'] == ['*: a wildcard allows every site', 'https://127.0.0.1: an IP address is not a domain']
    assert results['wrong type']['failed'] is True and 'ALLOWED_ORIGINS = 42' in results['wrong type']['msg']
    assert 'Traceback' not in process.stdout + process.stderr
