# -*- coding: utf-8 -*-
"""x402.runbook.alert_rules through FilterModule and through a real ansible-playbook
(the Prometheus template {{ $value }} must survive Ansible's templating)."""

from __future__ import annotations


import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.filter.alert_rules import FilterModule, alert_rules
from ansible_collections.x402.runbook.plugins.module_utils.thresholds import alert_rules as engine_alert_rules
from testlib import run_local_play


def test_filter_module_registers_the_filter():
    assert FilterModule().filters() == {'alert_rules': alert_rules}


def test_dict_or_list_of_rules(rules):
    generated = alert_rules(rules)
    assert generated == engine_alert_rules(rules)
    assert alert_rules(list(rules.values())) == generated
    assert alert_rules(rules, 'other')['groups'][0]['name'] == 'other'
    assert len(generated['groups'][0]['rules']) == 13


@pytest.mark.parametrize('rules, parts', [
    ({'t.1': {'kind': 'trigger', 'op': '>', 'value': None, 'query': 'up'}}, ["rule 't.1'", 'value is not set']),
    ({'t.1': {'kind': 'trigger', 'op': '>>', 'value': 1, 'query': 'up'}}, ["rule 't.1'", "field 'op'", "'>>'"]),
    ([{'kind': 'trigger', 'op': '>', 'value': 1, 'query': 'up'}], ['rules[0]', 'id']),
    ('rules', ["rules = 'rules'"]),
])
def test_bad_rules_are_an_ansible_filter_error(rules, parts):
    with pytest.raises(AnsibleFilterError) as exc_info:
        alert_rules(rules)
    message = str(exc_info.value)
    assert message.startswith('x402.runbook.alert_rules: ')
    for part in parts:
        assert part in message, message


def test_written_by_a_real_playbook(tmp_path, rules):
    dest = tmp_path / 'x402-triggers.yml'
    tasks = [{'name': 'write', 'ansible.builtin.copy': {
        'content': '{{ x402_rules | x402.runbook.alert_rules | ansible.builtin.to_nice_yaml(indent=2) }}',
        'dest': str(dest), 'mode': '0644'}}]
    process = run_local_play(tmp_path, tasks, roles=['x402.runbook.thresholds'], callback='default')
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    written = yaml.safe_load(dest.read_text())
    assert written == engine_alert_rules(rules)
    assert '{{ $value }}' in written['groups'][0]['rules'][0]['annotations']['description']
