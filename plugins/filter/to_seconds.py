# -*- coding: utf-8 -*-
# Copyright (c) x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: to_seconds
short_description: Convert a Prometheus duration (or seconds) to seconds
version_added: 0.1.0
author: x402.runbook developers
description:
  - Converts seconds (a number or a numeric string) or a Prometheus duration to a float number of seconds.
  - Units are V(ms), V(s), V(m), V(h), V(d), V(w) and V(y) (365 days), with integer counts, largest unit first,
    also compound (V(1h30m)).
  - Anything else (V(5x), V(1.5h), a negative number, V(null)) fails the task with a message naming the value.
options:
  _input:
    description: The duration.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Seconds of a duration
  ansible.builtin.debug:
    msg: "{{ '1h30m' | x402.runbook.to_seconds }}"
  # => 5400.0

- name: Wait as long as a rule's for
  ansible.builtin.wait_for:
    timeout: "{{ x402_rules['rollback_criteria.1']['for'] | x402.runbook.to_seconds | int }}"
"""

RETURN = r"""
_value:
  description: The duration in seconds.
  type: float
  sample: 300.0
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.module_utils.thresholds import ThresholdError, to_seconds as _to_seconds


def to_seconds(value):
    """Seconds of a duration."""
    try:
        return _to_seconds(value)
    except ThresholdError as exc:
        raise AnsibleFilterError('x402.runbook.to_seconds: %s' % exc) from None


class FilterModule:
    """x402.runbook.to_seconds"""

    def filters(self):
        return {'to_seconds': to_seconds}
