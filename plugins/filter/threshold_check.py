# -*- coding: utf-8 -*-
# Copyright (c) x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: threshold_check
short_description: Evaluate an observation against one rule of the checklist thresholds
version_added: 0.1.0
author: x402.runbook developers
description:
  - Compares an observed value (a number, or Prometheus range samples) with one rule of the
    thresholds data file (C(x402_rules[id]), see the role C(x402.runbook.thresholds)) and returns the result
    that reports, the deployment record and P(x402.runbook.go_no_go#filter) use.
  - For a B(gate) or an B(expectation), O(rule.op) and O(rule.value) say what is required; the result breaches
    when that does not hold. For a B(trigger) they say when it fires.
  - "No data: a gate fails (fail closed), an expectation warns (status V(no_data)), a trigger reports V(no_data)
    and does not fire, unless the rule has C(no_data: breach)."
  - A list of samples for a rule without C(for) is reduced to one value by O(rule.aggregate) (mean by default).
    A rule with C(for) fires when the condition held at every sample of a trailing run, without gaps, that spans
    at least C(for) (Prometheus C(for:) semantics).
  - Any bad rule or observation fails the task with a message naming the field, the value and the rule id.
positional: rule
options:
  _input:
    description:
      - The observation. V(null), an empty string or an empty list mean no data.
      - A number, a numeric string or a boolean (V(true) is 1).
      - A list of C([timestamp, value]) pairs (the C(values) of a Prometheus range query; values may be strings).
      - For O(rule.op=subset), a list of numbers (for example open ports).
    type: raw
    required: true
  rule:
    description:
      - The rule, normally C(x402_rules[id]). Fields as in the thresholds data file.
    type: dict
    required: true
    suboptions:
      id:
        description: The checklist item id.
        type: str
      name:
        description: What is measured, as a person reads it.
        type: str
      kind:
        description: What a breach does.
        type: str
        choices: [gate, expectation, trigger]
        required: true
      op:
        description: The comparison.
        type: str
        choices: ['<', '<=', '>', '>=', '==', between, subset]
        required: true
      value:
        description: A number, C([lo, hi]) for V(between) (inclusive), a list for V(subset).
        type: raw
        required: true
      for:
        description: Triggers only; seconds or a Prometheus duration such as V(5m).
        type: raw
      no_data:
        description: V(breach) where the absence of data is itself the signal.
        type: str
        choices: [breach]
      aggregate:
        description: How a list of samples becomes one value for a rule without C(for).
        type: str
        choices: [mean, last, max, min]
        default: mean
      unit:
        description: The unit, shown in the report.
        type: str
  now:
    description:
      - The current time (Unix seconds). When given, samples older than 1.5 steps mean a C(for) condition
        is not currently holding.
    type: float
  step:
    description:
      - The sampling interval of the samples (seconds or a duration such as V(15s)), for example the step of the
        Prometheus range query; inferred as the smallest interval between samples when omitted. Two consecutive
        samples more than 1.5 x step apart are a gap, which restarts a C(for) window.
    type: raw
seealso:
  - plugin: x402.runbook.go_no_go
    plugin_type: filter
  - plugin: x402.runbook.threshold_rules
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Gate the error rate of the first 30 minutes
  ansible.builtin.set_fact:
    error_rate_result: "{{ 0.0499 | x402.runbook.threshold_check(x402_rules['post_deployment.immediate_monitoring.1']) }}"
  # error_rate_result.status == 'pass'
  # error_rate_result.detail == 'error rate (first 30 min): observed 0.0499 (ratio), required < 0.05: PASS'

- name: Evaluate the rollback trigger on a Prometheus range result
  ansible.builtin.set_fact:
    rollback: "{{ prom.json.data.result[0]['values'] | x402.runbook.threshold_check(x402_rules['rollback_criteria.1']) }}"

- name: Stop the play when a gate breaches
  ansible.builtin.assert:
    that: not error_rate_result.breached
    fail_msg: "{{ error_rate_result.detail }}"
"""

RETURN = r"""
_value:
  description: The result of the check.
  type: dict
  contains:
    id:
      description: The checklist item id of the rule.
      type: str
    name:
      description: The name of the rule.
      type: str
    kind:
      description: V(gate), V(expectation) or V(trigger).
      type: str
    observed:
      description:
        - The value compared (the aggregate of a list of samples, the newest sample for a rule with C(for),
          the list for V(subset)); V(null) without data.
      type: raw
    rule:
      description: The validated rule.
      type: dict
    breached:
      description: Whether the rule is breached (gate failed, expectation warned, trigger fired).
      type: bool
    status:
      description:
        - V(pass) or V(fail) for a gate, V(pass) or V(warn) for an expectation, V(quiet) or V(fire) for a trigger,
          V(no_data) for any kind without data.
      type: str
    detail:
      description: One sentence for the report.
      type: str
      sample: "error rate (first 30 min): observed 0.05 (ratio), required < 0.05: FAIL"
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.module_utils.thresholds import ThresholdError, evaluate


def threshold_check(observed, rule, now=None, step=None):
    """Evaluate one observation against one rule."""
    try:
        return evaluate(observed, rule, now=now, step=step)
    except ThresholdError as exc:
        raise AnsibleFilterError('x402.runbook.threshold_check: %s' % exc) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise AnsibleFilterError('x402.runbook.threshold_check: cannot evaluate observed %r against rule %r: %s'
                                 % (observed, rule, exc)) from None


class FilterModule:
    """x402.runbook.threshold_check"""

    def filters(self):
        return {'threshold_check': threshold_check}
