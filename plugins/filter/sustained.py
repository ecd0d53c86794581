# -*- coding: utf-8 -*-
# Copyright (c) x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: sustained
short_description: Whether a condition held over a trailing window of samples (Prometheus C(for:) semantics)
version_added: 0.1.0
author: x402.runbook developers
description:
  - Returns V(true) when C(sample op value) held at every sample of a trailing run of samples, ending at the
    newest sample, whose span (last timestamp - first timestamp of the run) is at least O(duration).
  - A gap in the data restarts the window. The step is O(step), or else the smallest positive interval between
    samples; two consecutive samples more than 1.5 x step apart are a gap.
  - If O(now) is given and the newest sample is older than O(now) - 1.5 x step, the condition is not currently
    holding.
  - No samples give V(false). A single number (no timestamps) is an error, since a value cannot show a duration.
  - This is the comparison the thresholds engine uses for triggers with C(for); see
    P(x402.runbook.threshold_check#filter) for a whole check.
positional: op, value, duration
options:
  _input:
    description: The samples, a list of C([timestamp, value]) pairs (Prometheus range format, values may be strings).
    type: list
    elements: list
    required: true
  op:
    description: The comparison, C(sample op value).
    type: str
    choices: ['<', '<=', '>', '>=', '==', between]
    required: true
  value:
    description: The number to compare with, or C([lo, hi]) for V(between) (inclusive).
    type: raw
    required: true
  duration:
    description: How long the condition must have held, in seconds or as a Prometheus duration (V(5m), V(1h30m)).
    type: raw
    required: true
  step:
    description: The sampling interval (seconds or a duration); inferred from the samples when omitted.
    type: raw
  now:
    description: The current time (Unix seconds), to tell stale samples.
    type: float
seealso:
  - plugin: x402.runbook.threshold_check
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Has the error rate been above 0.2 for 5 minutes?
  ansible.builtin.set_fact:
    error_rate_sustained: "{{ prom.json.data.result[0]['values'] | x402.runbook.sustained('>', 0.2, '5m') }}"

- name: The same with an explicit scrape step and the current time
  ansible.builtin.set_fact:
    error_rate_sustained: >-
      {{ samples | x402.runbook.sustained('>', 0.2, '5m', step='15s', now=ansible_date_time.epoch | float) }}
"""

RETURN = r"""
_value:
  description: Whether the condition held over a trailing window of at least O(duration).
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.module_utils.thresholds import ThresholdError, sustained as _sustained


def sustained(series, op, value, duration, step=None, now=None):
    """Whether the condition held over a trailing window of at least duration."""
    try:
        return _sustained(series, op, value, duration, step=step, now=now)
    except ThresholdError as exc:
        raise AnsibleFilterError('x402.runbook.sustained: %s' % exc) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise AnsibleFilterError('x402.runbook.sustained: cannot check series %r %s %r for %r: %s'
                                 % (series, op, value, duration, exc)) from None


class FilterModule:
    """x402.runbook.sustained"""

    def filters(self):
        return {'sustained': sustained}
