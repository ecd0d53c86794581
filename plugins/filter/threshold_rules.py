# -*- coding: utf-8 -*-
# Copyright (c) x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: threshold_rules
short_description: Validate the checklist thresholds and merge the per-inventory overrides into them
version_added: 0.1.0
author: x402.runbook developers
description:
  - Deep-merges O(overrides) (per checklist id) into the thresholds data file (C(x402_thresholds)), validates
    every rule and returns them keyed by id, each with its C(id) and every field normalized
    (C(for) as a Prometheus duration and C(for_seconds) in seconds, C(aggregate), C(no_data), ...).
  - An override for an id that is not in the data file, an unknown field, an unknown kind or operator, a value
    that is not a number, V(between) with lo > hi, C(for) on a rule that is not a trigger or a bad duration fail
    the task with a message naming the field, the value and the rule id.
  - A rule whose value is V(null) (set per release, such as the circuit constraint count) is kept; checking it
    before the value is set fails with C(value is not set).
  - The role C(x402.runbook.thresholds) sets C(x402_rules) with this filter.
positional: overrides
options:
  _input:
    description: The thresholds data file, a mapping checklist id -> rule (normally C(x402_thresholds)).
    type: dict
    required: true
  overrides:
    description: Per-id changes, deep-merged (normally C(x402_threshold_overrides)).
    type: dict
    default: {}
seealso:
  - plugin: x402.runbook.threshold_check
    plugin_type: filter
  - plugin: x402.runbook.alert_rules
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Rules of this inventory
  ansible.builtin.set_fact:
    x402_rules: "{{ x402_thresholds | x402.runbook.threshold_rules(x402_threshold_overrides) }}"

- name: A stricter rollback limit for staging
  ansible.builtin.set_fact:
    x402_rules: "{{ x402_thresholds | x402.runbook.threshold_rules({'rollback_criteria.1': {'value': 0.1}}) }}"
"""

RETURN = r"""
_value:
  description: Checklist id -> validated rule.
  type: dict
  sample:
    rollback_criteria.1:
      id: rollback_criteria.1
      name: error rate
      kind: trigger
      op: '>'
      value: 0.2
      for: 5m
      for_seconds: 300.0
      no_data: null
      unit: ratio
      action: rollback
      aggregate: mean
      query: sum(rate(proof_generation_errors_total[1m])) / sum(rate(proof_generation_total[1m]))
      description: null
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.module_utils.thresholds import ThresholdError, merge_rules


def threshold_rules(defaults, overrides=None):
    """Validated rules, overrides deep-merged, keyed by id."""
    try:
        return merge_rules(defaults, overrides)
    except ThresholdError as exc:
        raise AnsibleFilterError('x402.runbook.threshold_rules: %s' % exc) from None


class FilterModule:
    """x402.runbook.threshold_rules"""

    def filters(self):
        return {'threshold_rules': threshold_rules}
