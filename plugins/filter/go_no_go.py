# -*- coding: utf-8 -*-
# Copyright (c) x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: go_no_go
short_description: The go/no-go decision from a list of check results
version_added: 0.1.0
author: x402.runbook developers
description:
  - Takes the results of P(x402.runbook.threshold_check#filter) (or any results with C(kind) and C(status))
    and decides V(GO) or V(NO-GO).
  - Blocking are gates with status V(fail) or V(no_data) and triggers with status V(fire).
  - Warnings are expectations with status V(warn) or V(no_data) and triggers with status V(no_data)
    (escalated to the operator); they never block.
  - The decision is V(GO) if and only if nothing blocks. An empty list of results is V(NO-GO) (fail closed),
    with one blocking entry that says no checks were given.
  - A malformed result (not a mapping, unknown kind, a status that the kind cannot have) fails the task.
options:
  _input:
    description:
      - The check results, a list (or a mapping id -> result).
      - Each result needs C(status) and C(kind) (or C(rule.kind)); C(kind) may be left out only where the status
        tells it (V(fail) is a gate, V(warn) an expectation, V(quiet) and V(fire) a trigger).
    type: raw
    required: true
seealso:
  - plugin: x402.runbook.threshold_check
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Decide
  ansible.builtin.set_fact:
    decision: "{{ [error_rate_result, latency_result, cache_result] | x402.runbook.go_no_go }}"

- name: Stop on NO-GO, naming what blocks
  ansible.builtin.assert:
    that: decision.decision == 'GO'
    fail_msg: "NO-GO: {{ decision.blocking | map(attribute='detail') | join('; ') }}"
"""

RETURN = r"""
_value:
  description: The decision.
  type: dict
  contains:
    decision:
      description: V(GO) or V(NO-GO).
      type: str
      sample: NO-GO
    blocking:
      description: The results that block (gates failed or without data, triggers fired).
      type: list
      elements: dict
    warnings:
      description: The results to report and escalate (expectations warned or without data, triggers without data).
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.module_utils.thresholds import ThresholdError, decide


def go_no_go(results):
    """GO iff nothing blocks."""
    try:
        return decide(results)
    except ThresholdError as exc:
        raise AnsibleFilterError('x402.runbook.go_no_go: %s' % exc) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise AnsibleFilterError('x402.runbook.go_no_go: cannot decide on results %r: %s' % (results, exc)) from None


class FilterModule:
    """x402.runbook.go_no_go"""

    def filters(self):
        return {'go_no_go': go_no_go}
