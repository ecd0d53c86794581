# -*- coding: utf-8 -*-
"""x402.runbook.sustained through FilterModule."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.filter.sustained import FilterModule, sustained


def samples(value, seconds, step=1, start=0):
    return [[start + i * step, value] for i in range(int(seconds // step) + 1)]


def test_filter_module_registers_the_filter():
    assert FilterModule().filters() == {'sustained': sustained}


def test_0_2001_for_5_min_1_s_holds_and_0_20_for_20_min_does_not():
    assert sustained(samples('0.2001', 301), '>', 0.2, '5m') is True
    assert sustained(samples(0.20, 1200), '>', 0.2, '5m') is False


def test_0_3_for_4_min_59_s_does_not_hold_yet():
    assert sustained(samples(0.3, 299), '>', 0.2, '5m') is False
    assert sustained(samples(0.3, 300), '>', 0.2, '5m') is True


def test_gap_restarts_the_window():
    gapped = samples(0.3, 200, step=15) + samples(0.3, 200, step=15, start=260)
    assert sustained(gapped, '>', 0.2, 300) is False
    assert sustained(samples(0.3, 460, step=15), '>', 0.2, 300) is True


def test_step_and_now_are_passed_on():
    data = samples(0.3, 600, step=30)
    assert sustained(data, '>', 0.2, '5m', step='30s') is True
    assert sustained(data, '>', 0.2, '5m', step='10s') is False
    assert sustained(data, '>', 0.2, '5m', now=600 + 45) is True
    assert sustained(data, '>', 0.2, '5m', now=600 + 46) is False


def test_between_is_inclusive():
    assert sustained(samples(0.15, 600, step=60), 'between', [0.10, 0.15], '10m') is True


@pytest.mark.parametrize('args, parts', [
    ((samples(0.3, 300), '>', 0.2, '5x'), ["'5x'", 'duration']),
    ((samples(0.3, 300), '=>', 0.2, '5m'), ["'=>'"]),
    ((0.3, '>', 0.2, '5m'), ['0.3', 'cannot show a duration']),
    (([[0, 0.3], [15, 'NaN']], '>', 0.2, '15s'), ['sample 1', "'NaN'"]),
    (([[0, 0.3], [15, 'abc']], '>', 0.2, '15s'), ['sample 1', "'abc'"]),
    (([[0, 0.3], [15, float('inf')]], '>', 0.2, '15s'), ['sample 1', 'inf']),
])
def test_bad_input_is_an_ansible_filter_error(args, parts):
    with pytest.raises(AnsibleFilterError) as exc_info:
        sustained(*args)
    message = str(exc_info.value)
    assert message.startswith('x402.runbook.sustained: ')
    for part in parts:
        assert part in message, message
