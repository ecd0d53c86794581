# -*- coding: utf-8 -*-
# Copyright (c) x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: alert_rules
short_description: Prometheus alerting rules for the checklist triggers
version_added: 0.1.0
author: x402.runbook developers
description:
  - Generates a Prometheus rule file (as data) with one alerting rule for every rule of kind C(trigger) that has
    a C(query); gates and expectations are checked by the playbooks, not by Prometheus.
  - The alert name derives from the checklist id (C(rollback_criteria.1) gives C(X402RollbackCriteria1),
    C(scaling_plan.when_to_scale_up.1.1) gives C(X402ScalingPlanWhenToScaleUp1_1)); C(expr) is
    C((<query>) <op> <value>) with the number written exactly; C(for) comes from the rule (left out when it has
    none); labels are C(severity) (V(critical) for C(action=rollback), else V(warning)), C(action) and
    C(checklist_id); annotations are C(summary) and C(description) (with C({{ $value }}) and the limit).
  - Write the result with P(ansible.builtin.to_nice_yaml#filter) and check it with C(promtool check rules).
positional: group
options:
  _input:
    description: The rules, the mapping id -> rule (as C(x402_rules)) or a list of rules that have their C(id).
    type: raw
    required: true
  group:
    description: The name of the rule group.
    type: str
    default: x402-triggers
seealso:
  - plugin: x402.runbook.threshold_rules
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Write the alerting rules of the checklist triggers
  ansible.builtin.copy:
    content: "{{ x402_rules | x402.runbook.alert_rules | ansible.builtin.to_nice_yaml(indent=2) }}"
    dest: /etc/prometheus/rules/x402-triggers.yml
    mode: "0644"
    validate: promtool check rules %s
"""

RETURN = r"""
_value:
  description: A Prometheus rule file.
  type: dict
  contains:
    groups:
      description: One group.
      type: list
      elements: dict
      sample:
        - name: x402-triggers
          rules:
            - alert: X402RollbackCriteria1
              expr: (sum(rate(proof_generation_errors_total[1m])) / sum(rate(proof_generation_total[1m]))) > 0.2
              for: 5m
              labels: {severity: critical, action: rollback, checklist_id: rollback_criteria.1}
              annotations:
                summary: 'x402: error rate > 0.2 for 5m (ratio): rollback'
                description: >-
                  error rate is {{ $value }} (ratio); the trigger fires when > 0.2 for 5m.
                  Action: rollback (checklist item rollback_criteria.1).
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.module_utils.thresholds import ThresholdError, alert_rules as _alert_rules


def alert_rules(rules, group='x402-triggers'):
    """Prometheus alerting rules for every trigger with a query."""
    try:
        return _alert_rules(rules, group=group)
    except ThresholdError as exc:
        raise AnsibleFilterError('x402.runbook.alert_rules: %s' % exc) from None


class FilterModule:
    """x402.runbook.alert_rules"""

    def filters(self):
        return {'alert_rules': alert_rules}
