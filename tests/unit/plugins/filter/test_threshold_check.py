# -*- coding: utf-8 -*-
"""x402.runbook.threshold_check: through FilterModule and through a real ansible-playbook."""

from __future__ import annotations


import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.filter.threshold_check import FilterModule, threshold_check
from ansible_collections.x402.runbook.plugins.module_utils.thresholds import evaluate
from testlib import run_local_play, task_results


def run_playbook(tmp_path, tasks, callback='ansible.builtin.json'):
    return run_local_play(tmp_path, tasks, roles=['x402.runbook.thresholds'], callback=callback)


def test_filter_module_registers_the_filter():
    assert FilterModule().filters() == {'threshold_check': threshold_check}


def test_same_result_as_the_engine(rules):
    rule = rules['post_deployment.immediate_monitoring.1']
    assert threshold_check(0.05, rule) == evaluate(0.05, rule)
    assert threshold_check(0.05, rule)['status'] == 'fail'
    assert threshold_check(0.0499, rule)['status'] == 'pass'


def test_now_is_passed_on(rules):
    samples = [[1000 + 15 * i, 0.3] for i in range(41)]  # 600 s up to 1600
    assert threshold_check(samples, rules['rollback_criteria.1'], now=1610)['status'] == 'fire'
    assert threshold_check(samples, rules['rollback_criteria.1'], now=1700)['status'] == 'quiet'


def test_step_is_passed_on(rules):
    samples = [[1000 + 30 * i, 0.3] for i in range(21)]  # 600 s up to 1600, every 30 s
    assert threshold_check(samples, rules['rollback_criteria.1'], step='30s')['status'] == 'fire'
    assert threshold_check(samples, rules['rollback_criteria.1'], step='15s')['status'] == 'quiet'


@pytest.mark.parametrize('observed, rule, parts', [
    (0.1, {'id': 'x.1', 'kind': 'gate', 'op': '=>', 'value': 1}, ["rule 'x.1'", "field 'op'", "'=>'"]),
    (0.1, {'id': 'x.1', 'kind': 'gate', 'op': '<', 'value': None}, ["rule 'x.1'", "field 'value'", 'value is not set']),
    (0.1, {'id': 'x.1', 'kind': 'gat', 'op': '<', 'value': 1}, ["rule 'x.1'", "field 'kind'", "'gat'"]),
    (0.1, {'id': 'x.1', 'kind': 'expectation', 'op': 'between', 'value': [0.2, 0.1]},
     ["rule 'x.1'", "field 'value'", '[0.2, 0.1]', 'lo <= hi']),
    (0.1, {'id': 'x.1', 'kind': 'trigger', 'op': '>', 'value': 1, 'for': '5x'}, ["rule 'x.1'", "field 'for'", "'5x'"]),
    ([[0, 0.1], [15, 'NaN']], {'id': 'x.1', 'kind': 'gate', 'op': '<', 'value': 1},
     ["rule 'x.1'", 'sample 1', "'NaN'"]),
    ('abc', {'id': 'x.1', 'kind': 'gate', 'op': '<', 'value': 1}, ["rule 'x.1'", "'abc'"]),
    (0.3, {'id': 'x.1', 'kind': 'trigger', 'op': '>', 'value': 0.2, 'for': '5m'},
     ["rule 'x.1'", "field 'observed'", 'cannot show a duration']),
    (0.3, 'not a rule', ['mapping', "'not a rule'"]),
])
def test_bad_input_is_an_ansible_filter_error(observed, rule, parts):
    with pytest.raises(AnsibleFilterError) as exc_info:
        threshold_check(observed, rule)
    message = str(exc_info.value)
    assert message.startswith('x402.runbook.threshold_check: ')
    for part in parts:
        assert part in message, message
    assert exc_info.value.__cause__ is None and exc_info.value.__suppress_context__


def test_in_a_real_playbook(tmp_path):
    tasks = [
        {'name': 'fail', 'ansible.builtin.debug': {
            'msg': "{{ 0.05 | x402.runbook.threshold_check(x402_rules['post_deployment.immediate_monitoring.1']) }}"}},
        {'name': 'pass', 'ansible.builtin.debug': {
            'msg': "{{ 0.0499 | x402.runbook.threshold_check(x402_rules['post_deployment.immediate_monitoring.1']) }}"}},
        {'name': 'series', 'vars': {'samples': [[1704067200 + t, '0.2001'] for t in range(302)]},
         'ansible.builtin.debug': {'msg': "{{ samples | x402.runbook.threshold_check(x402_rules['rollback_criteria.1']) }}"}},
        {'name': 'no data', 'ansible.builtin.debug': {
            'msg': "{{ [] | x402.runbook.threshold_check(x402_rules['post_deployment.immediate_monitoring.2']) }}"}},
        {'name': 'bad rule', 'ignore_errors': True, 'ansible.builtin.debug': {
            'msg': "{{ 0.1 | x402.runbook.threshold_check({'id': 'my.rule', 'kind': 'gate', 'op': '=>', "
                   "'value': 1}) }}"}},
        {'name': 'bad sample', 'ignore_errors': True, 'ansible.builtin.debug': {
            'msg': "{{ [[0, '0.1'], [15, 'abc']] | x402.runbook.threshold_check("
                   "x402_rules['post_deployment.immediate_monitoring.1']) }}"}},
    ]
    process = run_playbook(tmp_path, tasks)
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    results = task_results(process)
    assert results['fail']['msg']['status'] == 'fail'
    assert results['fail']['msg']['detail'] == \
        'error rate (first 30 min): observed 0.05 (ratio), required < 0.05: FAIL'
    assert results['pass']['msg']['status'] == 'pass'
    assert results['series']['msg']['status'] == 'fire'
    assert 'held 301s of required 300s: FIRE' in results['series']['msg']['detail']
    assert (results['no data']['msg']['status'], results['no data']['msg']['breached']) == ('no_data', True)
    bad = results['bad rule']
    assert bad['failed'] is True
    assert "x402.runbook.threshold_check: rule 'my.rule': field 'op' = '=>'" in bad['msg']
    bad = results['bad sample']
    assert bad['failed'] is True
    assert "rule 'post_deployment.immediate_monitoring.1'" in bad['msg'] and "'abc'" in bad['msg']
    assert 'Traceback' not in process.stdout + process.stderr


def test_a_bad_input_fails_the_play_cleanly(tmp_path):
    tasks = [{'name': 'bad', 'ansible.builtin.debug': {
        'msg': "{{ 0.3 | x402.runbook.threshold_check(x402_rules['rollback_criteria.1']) }}"}}]
    process = run_playbook(tmp_path, tasks, callback='ansible.builtin.default')
    output = process.stdout + process.stderr
    assert process.returncode == 2, output[-4000:]
    assert "x402.runbook.threshold_check: rule 'rollback_criteria.1' (error rate): field 'observed' = 0.3" in output
    assert 'Traceback' not in output
