# -*- coding: utf-8 -*-
"""x402.runbook.go_no_go: through FilterModule and through a real ansible-playbook."""

from __future__ import annotations


import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.filter.go_no_go import FilterModule, go_no_go
from ansible_collections.x402.runbook.plugins.module_utils.thresholds import evaluate
from testlib import run_local_play, task_results


def run_playbook(tmp_path, tasks, callback='ansible.builtin.json'):
    return run_local_play(tmp_path, tasks, roles=['x402.runbook.thresholds'], callback=callback)


def test_filter_module_registers_the_filter():
    assert FilterModule().filters() == {'go_no_go': go_no_go}


def test_go_and_no_go(rules):
    passing = evaluate(0.01, rules['post_deployment.immediate_monitoring.1'])
    warning = evaluate(0.1501, rules['post_deployment.performance_validation.3'])
    failing = evaluate(204800, rules['deployment_day.build_phase.6'])
    assert go_no_go([passing, warning]) == {'decision': 'GO', 'blocking': [], 'warnings': [warning]}
    assert go_no_go([passing, warning, failing]) == {'decision': 'NO-GO', 'blocking': [failing],
                                                     'warnings': [warning]}


def test_p95_gate_without_data_blocks(rules):
    no_data = evaluate([], rules['post_deployment.immediate_monitoring.2'])
    out = go_no_go([evaluate(0.01, rules['post_deployment.immediate_monitoring.1']), no_data])
    assert out['decision'] == 'NO-GO'
    assert out['blocking'] == [no_data]


def test_empty_results_are_no_go():
    out = go_no_go([])
    assert out['decision'] == 'NO-GO'
    assert len(out['blocking']) == 1 and 'no checks were given' in out['blocking'][0]['detail']


@pytest.mark.parametrize('results, parts', [
    (None, ['results = null', 'must be a list']),
    ([{'id': 'a.1', 'kind': 'gate', 'status': 'fire'}], ["id 'a.1'", "'status' = 'fire'", 'gate']),
    ([{'id': 'a.1', 'kind': 'check', 'status': 'pass'}], ["id 'a.1'", "'kind' = 'check'"]),
    ([42], ['result 0 = 42']),
])
def test_malformed_results_are_an_ansible_filter_error(results, parts):
    with pytest.raises(AnsibleFilterError) as exc_info:
        go_no_go(results)
    message = str(exc_info.value)
    assert message.startswith('x402.runbook.go_no_go: ')
    for part in parts:
        assert part in message, message


def test_in_a_real_playbook(tmp_path):
    gate = "x402_rules['post_deployment.immediate_monitoring.1']"
    cache = "x402_rules['post_deployment.performance_validation.3']"
    tasks = [
        {'name': 'go', 'ansible.builtin.debug': {
            'msg': '{{ [0.01 | x402.runbook.threshold_check(%s), 0.1501 | x402.runbook.threshold_check(%s)] '
                   '| x402.runbook.go_no_go }}' % (gate, cache)}},
        {'name': 'no-go', 'ansible.builtin.debug': {
            'msg': '{{ [0.05 | x402.runbook.threshold_check(%s), 0.12 | x402.runbook.threshold_check(%s)] '
                   '| x402.runbook.go_no_go }}' % (gate, cache)}},
        {'name': 'empty', 'ansible.builtin.debug': {'msg': '{{ [] | x402.runbook.go_no_go }}'}},
        {'name': 'malformed', 'ignore_errors': True, 'ansible.builtin.debug': {
            'msg': "{{ [{'id': 'a.1', 'kind': 'gate', 'status': 'maybe'}] | x402.runbook.go_no_go }}"}},
    ]
    process = run_playbook(tmp_path, tasks)
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    results = task_results(process)
    go = results['go']['msg']
    assert go['decision'] == 'GO' and go['blocking'] == []
    assert [w['id'] for w in go['warnings']] == ['post_deployment.performance_validation.3']
    no_go = results['no-go']['msg']
    assert no_go['decision'] == 'NO-GO'
    assert [b['id'] for b in no_go['blocking']] == ['post_deployment.immediate_monitoring.1']
    assert results['empty']['msg']['decision'] == 'NO-GO'
    assert results['malformed']['failed'] is True
    assert "x402.runbook.go_no_go: result 0 (id 'a.1'): field 'status' = 'maybe'" in results['malformed']['msg']


def test_malformed_results_fail_the_play_cleanly(tmp_path):
    tasks = [{'name': 'bad', 'ansible.builtin.debug': {'msg': "{{ ['GO'] | x402.runbook.go_no_go }}"}}]
    process = run_playbook(tmp_path, tasks, callback='ansible.builtin.default')
    output = process.stdout + process.stderr
    assert process.returncode == 2, output[-4000:]
    assert "x402.runbook.go_no_go: result 0 = 'GO' is not a result mapping" in output
    assert 'Traceback' not in output
