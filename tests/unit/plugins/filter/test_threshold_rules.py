# -*- coding: utf-8 -*-
"""x402.runbook.threshold_rules through FilterModule, and the role x402.runbook.thresholds
that sets x402_rules with it, through a real ansible-playbook."""

from __future__ import annotations


import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.filter.threshold_rules import FilterModule, threshold_rules
from ansible_collections.x402.runbook.plugins.module_utils.thresholds import merge_rules
from testlib import run_local_play, task_results, threshold_data


@pytest.fixture(scope='module')
def data():
    return threshold_data()


def run_playbook(tmp_path, play_vars, callback='ansible.builtin.json', tags=None):
    """The thresholds role with play_vars, then x402_rules shown."""
    tasks = [{'name': 'rules', 'ansible.builtin.debug': {'var': 'x402_rules'}, 'tags': ['always']}]
    return run_local_play(tmp_path, tasks, roles=['x402.runbook.thresholds'], play_vars=play_vars,
                          callback=callback, tags=tags)


def test_filter_module_registers_the_filter():
    assert FilterModule().filters() == {'threshold_rules': threshold_rules}


def test_same_as_the_engine_and_overrides_default_to_none(data):
    assert threshold_rules(data['x402_thresholds']) == merge_rules(data['x402_thresholds'])
    merged = threshold_rules(data['x402_thresholds'], {'rollback_criteria.1': {'value': 0.25}})
    assert merged['rollback_criteria.1']['value'] == 0.25
    assert merged['rollback_criteria.1']['id'] == 'rollback_criteria.1'


@pytest.mark.parametrize('overrides, parts', [
    ({'rollback_criteria.10': {'value': 1}}, ["'rollback_criteria.10'", 'unknown checklist id']),
    ({'rollback_criteria.1': {'op': '=>'}}, ["rule 'rollback_criteria.1'", "field 'op'", "'=>'"]),
    ({'rollback_criteria.1': {'value': None}}, []),  # unset is allowed until evaluated
    ({'post_deployment.performance_validation.3': {'value': [0.15, 0.10]}},
     ["rule 'post_deployment.performance_validation.3'", "field 'value'", '[0.15, 0.1]']),
    ({'pre_deployment.database.2': {'for': '1h'}}, ["rule 'pre_deployment.database.2'", "field 'for'", "'1h'"]),
    ({'rollback_criteria.1': {'for': '5x'}}, ["rule 'rollback_criteria.1'", "field 'for'", "'5x'"]),
])
def test_bad_overrides_are_an_ansible_filter_error(data, overrides, parts):
    if not parts:
        assert threshold_rules(data['x402_thresholds'], overrides)['rollback_criteria.1']['value'] is None
        return
    with pytest.raises(AnsibleFilterError) as exc_info:
        threshold_rules(data['x402_thresholds'], overrides)
    message = str(exc_info.value)
    assert message.startswith('x402.runbook.threshold_rules: ')
    for part in parts:
        assert part in message, message


def test_role_sets_x402_rules_with_overrides(tmp_path, data):
    overrides = {'rollback_criteria.1': {'value': 0.25}, 'deployment_day.build_phase.4': {'value': 41230}}
    process = run_playbook(tmp_path, {'x402_threshold_overrides': overrides}, tags='rules')
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    rules = task_results(process)['rules']['x402_rules']
    assert rules == merge_rules(data['x402_thresholds'], overrides)
    assert rules['rollback_criteria.1']['value'] == 0.25
    assert rules['deployment_day.build_phase.4']['value'] == 41230


def test_role_fails_cleanly_on_an_unknown_override(tmp_path):
    process = run_playbook(tmp_path, {'x402_threshold_overrides': {'rollback_criterias.1': {'value': 0.25}}},
                           callback='ansible.builtin.default')
    output = process.stdout + process.stderr
    assert process.returncode == 2, output[-4000:]
    assert "unknown checklist id 'rollback_criterias.1' (did you mean 'rollback_criteria.1'?)" in output
    assert 'Traceback' not in output
