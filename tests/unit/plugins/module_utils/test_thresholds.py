# -*- coding: utf-8 -*-
"""Unit tests of the threshold engine (plugins/module_utils/thresholds.py).

The boundary examples of spec/THRESHOLDS.md are checked against the rules of
the REAL data file (roles/thresholds/defaults/main.yml), so a wrong number in
the data file fails a test, not only a wrong comparison.
"""

from __future__ import annotations

import math
import re

import pytest

from ansible_collections.x402.runbook.plugins.module_utils.thresholds import (
    KINDS,
    OPS,
    ThresholdError,
    alert_name,
    alert_rules,
    decide,
    evaluate,
    format_duration,
    format_number,
    holds,
    merge_rules,
    normalize_observed,
    promql_condition,
    sustained,
    to_seconds,
    validate_rule,
)
from testlib import threshold_data

RESULT_KEYS = {'id', 'name', 'kind', 'observed', 'rule', 'breached', 'status', 'detail'}
SOL = 1000000000  # lamports


@pytest.fixture(scope='module')
def data():
    return threshold_data()


def series(values, start=0.0, step=1.0):
    """[[ts, value], ...] one sample every `step` seconds from `start`."""
    return [[start + i * step, v] for i, v in enumerate(values)]


def constant(value, seconds, step=1.0, start=0.0):
    """Samples of `value` every `step` s covering exactly `seconds` (first to last)."""
    count = int(round(seconds / step)) + 1
    return series([value] * count, start=start, step=step)


def assert_error_names(exc_info, *parts):
    message = str(exc_info.value)
    for part in parts:
        assert part in message, 'expected %r in the error message: %s' % (part, message)


# =========================================================================== boundary examples

class TestBoundaryExamples:
    """Each boundary example of THRESHOLDS.md, on both sides, with the data file's rule."""

    def test_error_rate_first_30_min_of_exactly_0_05_fails_the_gate(self, rules):
        result = evaluate(0.05, rules['post_deployment.immediate_monitoring.1'])
        assert (result['status'], result['breached']) == ('fail', True)
        assert result['detail'] == 'error rate (first 30 min): observed 0.05 (ratio), required < 0.05: FAIL'

    def test_error_rate_first_30_min_of_0_0499_passes_the_gate(self, rules):
        result = evaluate(0.0499, rules['post_deployment.immediate_monitoring.1'])
        assert (result['status'], result['breached']) == ('pass', False)
        assert result['detail'] == 'error rate (first 30 min): observed 0.0499 (ratio), required < 0.05: PASS'

    def test_error_rate_exactly_0_20_for_20_min_does_not_fire_rollback(self, rules):
        samples = constant(0.20, 20 * 60, step=1)
        result = evaluate(samples, rules['rollback_criteria.1'])
        assert (result['status'], result['breached']) == ('quiet', False)
        assert result['observed'] == 0.2
        assert not sustained(samples, '>', rules['rollback_criteria.1']['value'], rules['rollback_criteria.1']['for'])

    def test_error_rate_0_2001_for_5_min_1_s_of_continuous_samples_fires_rollback(self, rules):
        samples = constant(0.2001, 5 * 60 + 1, step=1)
        assert samples[-1][0] - samples[0][0] == 301
        result = evaluate(samples, rules['rollback_criteria.1'])
        assert (result['status'], result['breached']) == ('fire', True)
        assert 'held 301s of required 300s: FIRE' in result['detail']

    def test_error_rate_0_3_for_4_min_59_s_does_not_fire_yet(self, rules):
        samples = constant(0.3, 4 * 60 + 59, step=1)
        result = evaluate(samples, rules['rollback_criteria.1'])
        assert (result['status'], result['breached']) == ('quiet', False)
        assert 'held 299s of required 300s: QUIET' in result['detail']

    def test_error_rate_0_3_fires_once_the_window_reaches_5_min(self, rules):
        # the other side of 4 min 59 s: one more sample and the same trigger fires
        result = evaluate(constant(0.3, 5 * 60, step=1), rules['rollback_criteria.1'])
        assert (result['status'], result['breached']) == ('fire', True)

    def test_program_of_204800_bytes_is_refused(self, rules):
        result = evaluate(204800, rules['deployment_day.build_phase.6'])
        assert (result['status'], result['breached']) == ('fail', True)
        assert 'observed 204800 (bytes), required < 204800: FAIL' in result['detail']

    def test_program_of_204799_bytes_is_accepted(self, rules):
        result = evaluate(204799, rules['deployment_day.build_phase.6'])
        assert (result['status'], result['breached']) == ('pass', False)

    def test_wallet_at_9_999999999_sol_is_refused(self, rules):
        result = evaluate(10 * SOL - 1, rules['deployment_day.deploy_solana_program.2'])
        assert (result['status'], result['breached']) == ('fail', True)
        assert 'observed 9999999999 (lamports), required >= 10000000000: FAIL' in result['detail']

    def test_wallet_at_exactly_10_sol_is_accepted(self, rules):
        result = evaluate(10 * SOL, rules['deployment_day.deploy_solana_program.2'])
        assert (result['status'], result['breached']) == ('pass', False)

    def test_api_key_of_31_characters_is_refused(self, rules):
        result = evaluate(len('k' * 31), rules['pre_deployment.configuration.2'])
        assert (result['status'], result['breached']) == ('fail', True)

    def test_api_key_of_32_characters_is_accepted(self, rules):
        result = evaluate(len('k' * 32), rules['pre_deployment.configuration.2'])
        assert (result['status'], result['breached']) == ('pass', False)

    @pytest.mark.parametrize('rule_id', ['post_deployment.performance_validation.3',
                                         'day_1_7_monitoring.metrics_to_monitor.4'])
    def test_cache_hit_rate_of_0_15_meets_the_expectation(self, rules, rule_id):
        result = evaluate(0.15, rules[rule_id])
        assert (result['kind'], result['status'], result['breached']) == ('expectation', 'pass', False)

    @pytest.mark.parametrize('rule_id', ['post_deployment.performance_validation.3',
                                         'day_1_7_monitoring.metrics_to_monitor.4'])
    def test_cache_hit_rate_of_0_1501_warns(self, rules, rule_id):
        result = evaluate(0.1501, rules[rule_id])
        assert (result['status'], result['breached']) == ('warn', True)
        assert result['detail'].endswith('required between 0.1 and 0.15: WARN')

    @pytest.mark.parametrize('rule_id', ['post_deployment.performance_validation.3',
                                         'day_1_7_monitoring.metrics_to_monitor.4'])
    def test_cache_hit_rate_of_0_10_meets_the_expectation(self, rules, rule_id):
        assert evaluate(0.10, rules[rule_id])['status'] == 'pass'

    @pytest.mark.parametrize('rule_id', ['post_deployment.performance_validation.3',
                                         'day_1_7_monitoring.metrics_to_monitor.4'])
    def test_cache_hit_rate_of_0_0999_warns(self, rules, rule_id):
        assert evaluate(0.0999, rules[rule_id])['status'] == 'warn'

    @pytest.mark.parametrize('observed', [None, [], ''])
    def test_no_samples_at_all_for_the_p95_gate_fails_with_no_data(self, rules, observed):
        result = evaluate(observed, rules['post_deployment.immediate_monitoring.2'])
        assert result['status'] == 'no_data'
        assert result['breached'] is True
        assert result['observed'] is None
        assert 'no data' in result['detail'] and 'fails closed' in result['detail']
        assert decide([result])['decision'] == 'NO-GO'

    def test_p95_gate_with_samples_below_500_ms_passes(self, rules):
        # the other side: with data under the limit the same gate passes
        result = evaluate(series([420, '480.5', 499]), rules['post_deployment.immediate_monitoring.2'])
        assert result['status'] == 'pass'


# =========================================================================== the data file

class TestDataFile:
    def test_every_rule_validates_and_carries_its_id(self, data, rules):
        assert list(rules) == [str(k) for k in data['x402_thresholds']]
        for rule_id, rule in rules.items():
            assert rule['id'] == rule_id
            assert rule['kind'] in KINDS and rule['op'] in OPS

    def test_only_the_circuit_constraint_count_is_unset(self, rules):
        assert [i for i, r in rules.items() if r['value'] is None] == ['deployment_day.build_phase.4']

    def test_triggers_with_for_are_the_ones_of_the_checklist(self, rules):
        durations = {i: r['for_seconds'] for i, r in rules.items() if r['for_seconds'] is not None}
        assert durations == {
            'rollback_criteria.1': 300.0, 'rollback_criteria.2': 600.0, 'rollback_criteria.6': 600.0,
            'scaling_plan.when_to_scale_up.1.1': 600.0, 'scaling_plan.when_to_scale_up.3.1': 600.0,
            'scaling_plan.when_to_scale_up.3.2': 600.0,
        }

    def test_service_down_is_the_only_no_data_breach(self, rules):
        assert [i for i, r in rules.items() if r['no_data'] == 'breach'] == ['rollback_criteria.6']

    def test_validation_is_idempotent(self, rules):
        for rule_id, rule in rules.items():
            assert validate_rule(rule, allow_unset=True) == rule, rule_id


# =========================================================================== to_seconds

class TestToSeconds:
    @pytest.mark.parametrize('value, seconds', [
        ('90s', 90.0), ('5m', 300.0), ('2h', 7200.0), ('7d', 604800.0), ('1w', 604800.0),
        ('1y', 31536000.0), ('500ms', 0.5), ('1h30m', 5400.0), ('1m30s', 90.0), ('1d2h3m4s5ms', 93784.005),
        (' 10m ', 600.0), ('0', 0.0), ('300', 300.0), ('1.5', 1.5), (300, 300.0), (2.5, 2.5), (0, 0.0),
    ])
    def test_valid(self, value, seconds):
        result = to_seconds(value)
        assert isinstance(result, float)
        assert result == seconds

    @pytest.mark.parametrize('value', ['5x', '', 'm', '1.5h', '5m1h', '-5m', 'five minutes', '5 m', -1, -0.5,
                                       None, True, float('nan'), float('inf'), 'inf', [], {}])
    def test_invalid_names_the_value(self, value):
        with pytest.raises(ThresholdError) as exc_info:
            to_seconds(value)
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(exc_info.value.value)
        else:
            assert exc_info.value.value == value
        assert 'duration' in str(exc_info.value)

    def test_message_for_5x(self):
        with pytest.raises(ThresholdError) as exc_info:
            to_seconds('5x')
        assert_error_names(exc_info, "'5x'", 'Prometheus duration')

    @pytest.mark.parametrize('seconds, text', [(300, '5m'), (5400, '1h30m'), (0.5, '500ms'), (90, '1m30s'),
                                               (604800, '1w'), (0, '0s'), (31536000 + 86400, '1y1d')])
    def test_format_duration_round_trips(self, seconds, text):
        assert format_duration(seconds) == text
        assert to_seconds(text) == seconds


# =========================================================================== validate_rule

BAD_RULES = [
    # (rule, field, value as shown in the message)
    ({'kind': 'gate', 'op': '=>', 'value': 1}, 'op', "'=>'"),
    ({'kind': 'gates', 'op': '<', 'value': 1}, 'kind', "'gates'"),
    ({'op': '<', 'value': 1}, 'kind', 'null'),
    ({'kind': 'gate', 'value': 1}, 'op', 'null'),
    ({'kind': 'gate', 'op': '<', 'value': None}, 'value', 'null'),
    ({'kind': 'gate', 'op': '<'}, 'value', 'null'),
    ({'kind': 'gate', 'op': '<', 'value': 'abc'}, 'value', "'abc'"),
    ({'kind': 'gate', 'op': '<', 'value': True}, 'value', 'true'),
    ({'kind': 'gate', 'op': '<', 'value': float('nan')}, 'value', 'nan'),
    ({'kind': 'gate', 'op': '<', 'value': [1, 2]}, 'value', '[1, 2]'),
    ({'kind': 'expectation', 'op': 'between', 'value': [0.2, 0.1]}, 'value', '[0.2, 0.1]'),
    ({'kind': 'expectation', 'op': 'between', 'value': [0.1]}, 'value', '[0.1]'),
    ({'kind': 'expectation', 'op': 'between', 'value': 0.1}, 'value', '0.1'),
    ({'kind': 'expectation', 'op': 'between', 'value': [0.1, 'x']}, 'value', "[0.1, 'x']"),
    ({'kind': 'gate', 'op': 'subset', 'value': 80}, 'value', '80'),
    ({'kind': 'gate', 'op': 'subset', 'value': [80, 'http']}, 'value', "[80, 'http']"),
    ({'kind': 'trigger', 'op': '>', 'value': 1, 'for': '5x'}, 'for', "'5x'"),
    ({'kind': 'trigger', 'op': '>', 'value': 1, 'for': -60}, 'for', '-60'),
    ({'kind': 'gate', 'op': '<', 'value': 1, 'for': '5m'}, 'for', "'5m'"),
    ({'kind': 'expectation', 'op': '<', 'value': 1, 'for': '5m'}, 'for', "'5m'"),
    ({'kind': 'trigger', 'op': 'subset', 'value': [1], 'for': '5m'}, 'for', "'5m'"),
    ({'kind': 'gate', 'op': '<', 'value': 1, 'action': 'rollback'}, 'action', "'rollback'"),
    ({'kind': 'trigger', 'op': '>', 'value': 1, 'no_data': 'maybe'}, 'no_data', "'maybe'"),
    ({'kind': 'gate', 'op': '<', 'value': 1, 'aggregate': 'median'}, 'aggregate', "'median'"),
    ({'kind': 'trigger', 'op': '>', 'value': 1, 'fro': '5m'}, 'fro', "'5m'"),
    ({'kind': 'gate', 'op': '<', 'value': 1, 'query': 42}, 'query', '42'),
    ({'kind': 'gate', 'op': '<', 'value': 1, 'id': 'other.id'}, 'id', "'other.id'"),
]


class TestValidateRule:
    @pytest.mark.parametrize('rule, field, shown', BAD_RULES)
    def test_bad_rule_names_field_value_and_rule_id(self, rule, field, shown):
        with pytest.raises(ThresholdError) as exc_info:
            validate_rule(rule, 'test.rule.1')
        assert_error_names(exc_info, "rule 'test.rule.1'", "field '%s'" % field, '= %s' % shown)
        assert exc_info.value.field == field
        assert exc_info.value.rule_id == 'test.rule.1'

    def test_value_null_says_value_is_not_set(self):
        with pytest.raises(ThresholdError, match='value is not set'):
            validate_rule({'kind': 'gate', 'op': '==', 'value': None}, 'deployment_day.build_phase.4')

    def test_value_null_is_accepted_only_when_unset_values_are_allowed(self):
        rule = validate_rule({'kind': 'gate', 'op': '==', 'value': None}, 'x.1', allow_unset=True)
        assert rule['value'] is None

    def test_not_a_mapping(self):
        with pytest.raises(ThresholdError) as exc_info:
            validate_rule(['gate', '<', 1], 'x.1')
        assert_error_names(exc_info, "rule 'x.1'", 'mapping')

    def test_rule_id_from_the_rule(self):
        assert validate_rule({'id': 'a.b', 'kind': 'gate', 'op': '<', 'value': 1})['id'] == 'a.b'

    def test_normalized_copy_has_every_field(self):
        rule = {'kind': 'trigger', 'op': '>', 'value': '0.25', 'for': 300, 'action': 'rollback'}
        out = validate_rule(rule, 'r.1')
        assert out == {'id': 'r.1', 'name': 'r.1', 'kind': 'trigger', 'op': '>', 'value': 0.25, 'for': '5m',
                       'for_seconds': 300.0, 'no_data': None, 'unit': None, 'action': 'rollback', 'query': None,
                       'aggregate': 'mean', 'description': None}
        assert rule == {'kind': 'trigger', 'op': '>', 'value': '0.25', 'for': 300, 'action': 'rollback'}

    def test_integer_values_stay_integers(self):
        assert validate_rule({'kind': 'gate', 'op': '<', 'value': '204800'})['value'] == 204800
        assert isinstance(validate_rule({'kind': 'gate', 'op': '<', 'value': 204800})['value'], int)


# =========================================================================== normalize_observed

class TestNormalizeObserved:
    @pytest.mark.parametrize('observed', [None, '', '  ', []])
    def test_no_data(self, observed):
        assert normalize_observed(observed) is None

    @pytest.mark.parametrize('observed, expected', [
        (0.05, 0.05), (3, 3.0), ('0.05', 0.05), (' 7 ', 7.0), (True, 1.0), (False, 0.0), ('1e3', 1000.0),
    ])
    def test_scalars(self, observed, expected):
        value = normalize_observed(observed)
        assert isinstance(value, float)
        assert value == expected

    def test_prometheus_range_with_string_values_is_sorted(self):
        raw = [[1704067230, '0.3'], [1704067200.5, '0.1'], ['1704067215', 0.2]]
        assert normalize_observed(raw) == [(1704067200.5, 0.1), (1704067215.0, 0.2), (1704067230.0, 0.3)]

    def test_flat_list_of_numbers(self):
        assert normalize_observed([443, '80']) == [443.0, 80.0]

    @pytest.mark.parametrize('bad', [float('nan'), 'NaN', 'nan', 'abc', float('inf'), float('-inf'), 'Inf',
                                     '+Inf', '-Inf', None, {'v': 1}])
    def test_bad_sample_names_the_sample_and_its_position(self, bad):
        raw = [[0, '0.1'], [15, 0.2], [30, bad], [45, 0.1]]
        with pytest.raises(ThresholdError) as exc_info:
            normalize_observed(raw)
        message = str(exc_info.value)
        assert 'sample 2' in message
        assert '[30, ' in message
        assert exc_info.value.field == 'observed'

    @pytest.mark.parametrize('bad, shown', [('NaN', "'NaN'"), ('abc', "'abc'"), (float('nan'), 'nan'),
                                            (float('inf'), 'inf')])
    def test_bad_scalar_names_the_value(self, bad, shown):
        with pytest.raises(ThresholdError) as exc_info:
            normalize_observed(bad)
        assert shown in str(exc_info.value)

    def test_bad_timestamp(self):
        with pytest.raises(ThresholdError, match=r"sample 1 \['x', 1\], timestamp"):
            normalize_observed([[0, 1], ['x', 1]])

    def test_mixed_list(self):
        with pytest.raises(ThresholdError, match='sample 1'):
            normalize_observed([[0, 1], 5])
        with pytest.raises(ThresholdError, match='element 1'):
            normalize_observed([5, [0, 1]])

    def test_mapping_is_refused_with_a_hint(self):
        with pytest.raises(ThresholdError, match='values'):
            normalize_observed({'metric': {}, 'values': [[0, '1']]})


# =========================================================================== holds

class TestHolds:
    @pytest.mark.parametrize('op, observed, value, expected', [
        ('<', 0.0499, 0.05, True), ('<', 0.05, 0.05, False),
        ('<=', 14400, 14400, True), ('<=', 14401, 14400, False),
        ('>', 0.2001, 0.2, True), ('>', 0.2, 0.2, False),
        ('>=', 32, 32, True), ('>=', 31, 32, False),
        ('==', 1, 1, True), ('==', 0.999, 1, False),
        ('between', 0.10, [0.10, 0.15], True), ('between', 0.15, [0.10, 0.15], True),
        ('between', 0.0999, [0.10, 0.15], False), ('between', 0.1501, [0.10, 0.15], False),
        ('subset', [80, 443], [80, 443], True), ('subset', [443], [80, 443], True), ('subset', [], [80], True),
        ('subset', [22, 443], [80, 443], False), ('subset', 22, [80, 443], False),
        ('<', '0.04', 0.05, True),
    ])
    def test_table(self, op, observed, value, expected):
        assert holds(op, observed, value) is expected

    def test_unknown_op(self):
        with pytest.raises(ThresholdError, match="op '=>'"):
            holds('=>', 1, 1)

    def test_no_observed_value(self):
        with pytest.raises(ThresholdError, match='no observed value'):
            holds('<', None, 1)


# =========================================================================== sustained

class TestSustained:
    def test_continuous_window_of_exactly_the_duration_fires(self):
        assert sustained(constant(0.3, 300, step=15), '>', 0.2, '5m')

    def test_window_shorter_than_the_duration_does_not(self):
        assert not sustained(constant(0.3, 285, step=15), '>', 0.2, '5m')

    def test_a_gap_restarts_the_window(self):
        # 0..180 s and 240..420 s at 1 s steps: 420 s of breach in total, but the 59 s gap
        # (> 1.5 x step) splits it; the trailing run spans only 180 s.
        samples = constant(0.3, 180) + constant(0.3, 180, start=240)
        assert not sustained(samples, '>', 0.2, 300)
        # the same samples without the gap fire
        assert sustained(constant(0.3, 420), '>', 0.2, 300)

    def test_an_interval_of_exactly_1_5_steps_is_not_a_gap_but_more_is(self):
        base = constant(0.3, 150, step=10)  # 0..150
        assert sustained(base + constant(0.3, 150, step=10, start=165), '>', 0.2, 300)  # 15 s = 1.5 x 10
        assert not sustained(base + constant(0.3, 150, step=10, start=166), '>', 0.2, 300)

    def test_explicit_step_overrides_the_inferred_one(self):
        samples = constant(0.3, 600, step=30)
        assert sustained(samples, '>', 0.2, '5m')
        assert sustained(samples, '>', 0.2, '5m', step='30s')
        assert not sustained(samples, '>', 0.2, '5m', step='10s')  # every 30 s interval is now a gap

    def test_a_sample_that_does_not_breach_restarts_the_window(self):
        values = [0.3] * 200 + [0.2] + [0.3] * 200
        assert not sustained(series(values), '>', 0.2, 300)
        assert sustained(series([0.3] * 400), '>', 0.2, 300)

    def test_not_holding_at_the_newest_sample(self):
        assert not sustained(series([0.3] * 400 + [0.1]), '>', 0.2, 300)

    def test_stale_samples_are_not_currently_holding(self):
        samples = constant(0.3, 600, step=15, start=1000)  # newest at 1600
        assert sustained(samples, '>', 0.2, '5m', now=1600 + 22.5)
        assert not sustained(samples, '>', 0.2, '5m', now=1600 + 22.6)

    def test_string_values_and_unsorted_input(self):
        samples = [[t, '0.25'] for t in range(0, 301, 15)]
        samples.reverse()
        assert sustained(samples, '>', '0.2', 300)

    def test_no_samples_do_not_hold(self):
        assert sustained([], '>', 0.2, 300) is False
        assert sustained(None, '>', 0.2, 300) is False

    def test_a_single_number_cannot_show_a_duration(self):
        with pytest.raises(ThresholdError, match='cannot show a duration'):
            sustained(0.3, '>', 0.2, 300)

    def test_zero_duration_needs_only_the_newest_sample(self):
        assert sustained([[0, 0.1], [15, 0.3]], '>', 0.2, 0)
        assert not sustained([[0, 0.3], [15, 0.1]], '>', 0.2, 0)

    def test_bad_duration_and_step(self):
        with pytest.raises(ThresholdError, match="'5x'"):
            sustained(constant(0.3, 60), '>', 0.2, '5x')
        with pytest.raises(ThresholdError, match='step'):
            sustained(constant(0.3, 60), '>', 0.2, 30, step=0)

    def test_nan_sample_names_its_position(self):
        with pytest.raises(ThresholdError, match=r"sample 1 \[15, 'NaN'\]"):
            sustained([[0, 0.3], [15, 'NaN']], '>', 0.2, 15)


# =========================================================================== evaluate

class TestEvaluate:
    def test_result_shape(self, rules):
        result = evaluate(0.01, rules['post_deployment.immediate_monitoring.1'])
        assert set(result) == RESULT_KEYS
        assert result['id'] == 'post_deployment.immediate_monitoring.1'
        assert result['name'] == 'error rate (first 30 min)'
        assert result['kind'] == 'gate'
        assert result['observed'] == 0.01
        assert result['rule'] == rules['post_deployment.immediate_monitoring.1']

    def test_gate_no_data_fails_closed(self, rules):
        result = evaluate(None, rules['post_deployment.immediate_monitoring.1'])
        assert (result['status'], result['breached']) == ('no_data', True)
        assert result['detail'] == 'error rate (first 30 min): no data: gate fails closed'

    def test_expectation_no_data_warns_without_breach(self, rules):
        result = evaluate(None, rules['post_deployment.performance_validation.3'])
        assert (result['status'], result['breached']) == ('no_data', False)

    def test_trigger_no_data_does_not_fire(self, rules):
        result = evaluate([], rules['rollback_criteria.1'])
        assert (result['status'], result['breached']) == ('no_data', False)
        assert 'escalated' in result['detail']

    def test_service_completely_down_without_data_fires(self, rules):
        result = evaluate(None, rules['rollback_criteria.6'])
        assert (result['status'], result['breached']) == ('fire', True)

    def test_service_down_zero_healthy_for_10_min_fires_and_one_healthy_does_not(self, rules):
        rule = rules['rollback_criteria.6']
        assert evaluate(constant(0, 600, step=15), rule)['status'] == 'fire'
        assert evaluate(constant(0, 585, step=15), rule)['status'] == 'quiet'
        assert evaluate(constant(1, 1200, step=15), rule)['status'] == 'quiet'

    def test_window_value_is_the_mean_by_default(self, rules):
        rule = rules['post_deployment.immediate_monitoring.1']  # < 0.05
        result = evaluate(series([0.01, 0.09, 0.02]), rule)  # mean 0.04, worst 0.09
        assert result['status'] == 'pass'
        assert result['observed'] == pytest.approx(0.04)
        assert 'mean of 3 samples' in result['detail']

    @pytest.mark.parametrize('aggregate, status, observed', [('last', 'pass', 0.02), ('max', 'fail', 0.09),
                                                             ('min', 'pass', 0.01), ('mean', 'pass', 0.04)])
    def test_aggregate_changes_the_window_value(self, rules, aggregate, status, observed):
        rule = dict(rules['post_deployment.immediate_monitoring.1'], aggregate=aggregate)
        result = evaluate(series([0.01, 0.09, 0.02]), rule)
        assert (result['status'], result['observed']) == (status, pytest.approx(observed))

    def test_mean_of_a_constant_window_is_exactly_the_constant(self, rules):
        values = [0.15] * 10
        assert sum(values) / len(values) != 0.15  # the naive mean would warn on an exact 0.15
        result = evaluate(series(values), rules['post_deployment.performance_validation.3'])
        assert result['observed'] == 0.15
        assert result['status'] == 'pass'

    def test_trigger_without_for_fires_on_the_value(self, rules):
        rule = rules['scaling_plan.when_to_scale_up.1.2']  # queue depth > 100
        assert evaluate(101, rule)['status'] == 'fire'
        assert evaluate(100, rule)['status'] == 'quiet'
        assert evaluate(101, rule)['detail'] == 'prover queue depth: observed 101 (count), fires when > 100: FIRE'

    def test_single_number_for_a_rule_with_for_is_an_error(self, rules):
        with pytest.raises(ThresholdError) as exc_info:
            evaluate(0.3, rules['rollback_criteria.1'])
        assert_error_names(exc_info, "rule 'rollback_criteria.1'", "field 'observed'", '0.3',
                           'single value cannot show a duration')

    def test_stale_series_with_now_is_quiet(self, rules):
        samples = constant(0.3, 600, step=15, start=1000)
        assert evaluate(samples, rules['rollback_criteria.1'], now=1610)['status'] == 'fire'
        result = evaluate(samples, rules['rollback_criteria.1'], now=1700)
        assert result['status'] == 'quiet'
        assert 'old' in result['detail']

    def test_gap_in_the_samples_keeps_the_trigger_quiet(self, rules):
        samples = constant(0.3, 240, step=15) + constant(0.3, 240, step=15, start=300)
        assert evaluate(samples, rules['rollback_criteria.1'])['status'] == 'quiet'

    def test_subset_of_open_ports(self, rules):
        rule = rules['pre_deployment.infrastructure.3']
        assert evaluate([443, 80], rule)['status'] == 'pass'
        assert evaluate([], rule)['status'] == 'pass'  # nothing reachable is fine
        failed = evaluate([22, 80, 443], rule)
        assert failed['status'] == 'fail'
        assert '(not allowed: 22)' in failed['detail']
        assert evaluate(None, rule)['status'] == 'no_data'

    def test_list_of_numbers_for_a_comparison_is_an_error(self, rules):
        with pytest.raises(ThresholdError, match="only fits op 'subset'"):
            evaluate([0.01, 0.02], rules['post_deployment.immediate_monitoring.1'])

    def test_unset_value_is_reported_when_evaluated(self, rules, data):
        with pytest.raises(ThresholdError) as exc_info:
            evaluate(41230, rules['deployment_day.build_phase.4'])
        assert_error_names(exc_info, "rule 'deployment_day.build_phase.4'", "field 'value'", 'value is not set')
        overridden = merge_rules(data['x402_thresholds'], {'deployment_day.build_phase.4': {'value': 41230}})
        assert evaluate(41230, overridden['deployment_day.build_phase.4'])['status'] == 'pass'
        assert evaluate(41231, overridden['deployment_day.build_phase.4'])['status'] == 'fail'

    def test_nan_observation_names_rule_and_sample(self, rules):
        with pytest.raises(ThresholdError) as exc_info:
            evaluate([[0, '0.01'], [15, 'NaN']], rules['post_deployment.immediate_monitoring.1'])
        assert_error_names(exc_info, "rule 'post_deployment.immediate_monitoring.1'", 'sample 1', "'NaN'")

    def test_ad_hoc_rule_without_id(self):
        result = evaluate(3, {'kind': 'gate', 'op': '>=', 'value': 2, 'name': 'provers'})
        assert (result['id'], result['status']) == (None, 'pass')

    def test_bad_rule_is_refused(self):
        with pytest.raises(ThresholdError, match="field 'op'"):
            evaluate(1, {'id': 'x.1', 'kind': 'gate', 'op': '=<', 'value': 2})


# =========================================================================== decide

def _result(kind, status, rule_id='x.1'):
    return {'id': rule_id, 'name': rule_id, 'kind': kind, 'observed': 1, 'rule': None,
            'breached': status in ('fail', 'warn', 'fire'), 'status': status, 'detail': '%s %s' % (kind, status)}


class TestDecide:
    def test_all_pass_is_go(self, rules):
        results = [evaluate(0.01, rules['post_deployment.immediate_monitoring.1']),
                   evaluate(0.12, rules['post_deployment.performance_validation.3']),
                   evaluate(50, rules['scaling_plan.when_to_scale_up.1.2'])]
        assert decide(results) == {'decision': 'GO', 'blocking': [], 'warnings': []}

    @pytest.mark.parametrize('kind, status, decision, blocks, warns', [
        ('gate', 'pass', 'GO', False, False),
        ('gate', 'fail', 'NO-GO', True, False),
        ('gate', 'no_data', 'NO-GO', True, False),
        ('expectation', 'pass', 'GO', False, False),
        ('expectation', 'warn', 'GO', False, True),
        ('expectation', 'no_data', 'GO', False, True),
        ('trigger', 'quiet', 'GO', False, False),
        ('trigger', 'fire', 'NO-GO', True, False),
        ('trigger', 'no_data', 'GO', False, True),
    ])
    def test_each_kind_and_status(self, kind, status, decision, blocks, warns):
        entry = _result(kind, status)
        out = decide([_result('gate', 'pass', 'ok.1'), entry])
        assert out['decision'] == decision
        assert out['blocking'] == ([entry] if blocks else [])
        assert out['warnings'] == ([entry] if warns else [])

    def test_no_results_is_no_go_with_one_synthetic_blocking_entry(self):
        out = decide([])
        assert out['decision'] == 'NO-GO'
        assert out['warnings'] == []
        assert len(out['blocking']) == 1
        assert out['blocking'][0]['status'] == 'no_data'
        assert 'no checks were given' in out['blocking'][0]['detail']

    def test_mapping_of_results_by_id(self):
        assert decide({'a': _result('gate', 'fail', 'a'), 'b': _result('gate', 'pass', 'b')})['decision'] == 'NO-GO'

    def test_kind_from_the_rule_or_the_status(self):
        assert decide([{'id': 'a', 'status': 'no_data', 'rule': {'kind': 'expectation'}}])['decision'] == 'GO'
        assert decide([{'id': 'a', 'status': 'fail'}])['decision'] == 'NO-GO'
        assert decide([{'id': 'a', 'status': 'fire'}])['decision'] == 'NO-GO'

    @pytest.mark.parametrize('results, match', [
        (None, 'must be a list'),
        ('GO', 'must be a list'),
        (5, 'must be a list'),
        ([None], 'result 0 = null'),
        (['pass'], "result 0 = 'pass'"),
        ([{'id': 'a', 'kind': 'gate', 'status': 'warn'}], "'status' = 'warn' is not a status of a gate"),
        ([{'id': 'a', 'kind': 'gate', 'status': 'ok'}], "'status' = 'ok'"),
        ([{'id': 'a', 'kind': 'gates', 'status': 'pass'}], "'kind' = 'gates'"),
        ([{'id': 'a', 'status': 'no_data'}], 'no kind'),
        ([{'id': 'a', 'kind': 'gate'}], "'status' = null"),
        ({'id': 'a', 'kind': 'gate', 'status': 'pass'}, 'wrap it in a list'),
    ])
    def test_malformed(self, results, match):
        with pytest.raises(ThresholdError, match=re.escape(match)):
            decide(results)


# =========================================================================== merge_rules

class TestMergeRules:
    def test_override_is_deep_merged(self, data):
        merged = merge_rules(data['x402_thresholds'], {'rollback_criteria.1': {'value': 0.25}})
        rule = merged['rollback_criteria.1']
        assert rule['value'] == 0.25
        assert (rule['for'], rule['action'], rule['kind']) == ('5m', 'rollback', 'trigger')
        assert data['x402_thresholds']['rollback_criteria.1']['value'] == 0.20  # defaults untouched

    def test_override_for_an_unknown_id_names_it(self, data):
        with pytest.raises(ThresholdError) as exc_info:
            merge_rules(data['x402_thresholds'], {'rollback_criteria.10': {'value': 1}})
        assert_error_names(exc_info, "'rollback_criteria.10'", "did you mean 'rollback_criteria.1'")
        assert exc_info.value.rule_id == 'rollback_criteria.10'

    def test_bad_override_names_field_value_and_rule(self, data):
        with pytest.raises(ThresholdError) as exc_info:
            merge_rules(data['x402_thresholds'], {'rollback_criteria.1': {'for': '5x'}})
        assert_error_names(exc_info, "rule 'rollback_criteria.1'", "field 'for'", "'5x'")

    def test_override_must_be_a_mapping(self, data):
        with pytest.raises(ThresholdError, match="rollback_criteria.1' = 0.25"):
            merge_rules(data['x402_thresholds'], {'rollback_criteria.1': 0.25})

    @pytest.mark.parametrize('defaults, overrides, match', [
        (None, None, 'x402_thresholds'), ([], None, 'x402_thresholds'), ({}, [], 'x402_threshold_overrides'),
        ({'a.1': 'gate'}, None, "rule 'a.1'"),
    ])
    def test_bad_arguments(self, defaults, overrides, match):
        with pytest.raises(ThresholdError, match=re.escape(match)):
            merge_rules(defaults, overrides)

    def test_none_or_empty_overrides(self, data, rules):
        assert merge_rules(data['x402_thresholds'], None) == rules
        assert merge_rules(data['x402_thresholds'], {}) == rules
        assert merge_rules(data['x402_thresholds'], {'rollback_criteria.1': None}) == rules


# =========================================================================== Prometheus

class TestAlertRules:
    def test_one_alert_per_trigger_with_a_query(self, data, rules):
        expected = sorted(i for i, r in data['x402_thresholds'].items() if r['kind'] == 'trigger' and r.get('query'))
        assert len(expected) == 13
        generated = alert_rules(rules)
        assert list(generated) == ['groups']
        assert [g['name'] for g in generated['groups']] == ['x402-triggers']
        alerts = generated['groups'][0]['rules']
        assert sorted(a['labels']['checklist_id'] for a in alerts) == expected
        names = [a['alert'] for a in alerts]
        assert len(set(names)) == len(names)
        assert all(re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', n) for n in names)

    def test_error_rate_rollback_alert(self, rules):
        alerts = {a['alert']: a for a in alert_rules(rules)['groups'][0]['rules']}
        alert = alerts['X402RollbackCriteria1']
        assert alert['expr'] == '(%s) > 0.2' % rules['rollback_criteria.1']['query']
        assert alert['for'] == '5m'
        assert alert['labels'] == {'severity': 'critical', 'action': 'rollback', 'checklist_id': 'rollback_criteria.1'}
        assert '{{ $value }}' in alert['annotations']['description']
        assert '> 0.2 for 5m' in alert['annotations']['description']
        assert set(alert['annotations']) == {'summary', 'description'}

    def test_alert_without_for_and_scaling_severity(self, rules):
        alerts = {a['labels']['checklist_id']: a for a in alert_rules(rules)['groups'][0]['rules']}
        assert 'for' not in alerts['rollback_criteria.3']
        scale = alerts['scaling_plan.when_to_scale_up.1.2']
        assert scale['alert'] == 'X402ScalingPlanWhenToScaleUp1_2'
        assert scale['labels'] == {'severity': 'warning', 'action': 'add_prover',
                                   'checklist_id': 'scaling_plan.when_to_scale_up.1.2'}
        assert scale['expr'] == '(sum(active_requests{job="x402-prover"})) > 100'

    def test_list_of_rules_gives_the_same_alerts(self, rules):
        assert alert_rules(list(rules.values())) == alert_rules(rules)

    def test_group_name(self, rules):
        assert alert_rules(rules, group='custom')['groups'][0]['name'] == 'custom'
        with pytest.raises(ThresholdError, match='group'):
            alert_rules(rules, group='')

    def test_gates_expectations_and_triggers_without_query_are_left_out(self):
        rules = {
            'g.1': {'kind': 'gate', 'op': '<', 'value': 1, 'query': 'up'},
            'e.1': {'kind': 'expectation', 'op': '<', 'value': 1, 'query': 'up'},
            't.1': {'kind': 'trigger', 'op': '>', 'value': 1},
            't.2': {'kind': 'trigger', 'op': '>', 'value': 1, 'query': 'up', 'action': 'page'},
        }
        alerts = alert_rules(rules)['groups'][0]['rules']
        assert [a['alert'] for a in alerts] == ['X402T2']

    def test_trigger_with_unset_value_is_an_error(self):
        with pytest.raises(ThresholdError, match="rule 't.1'.*value is not set"):
            alert_rules({'t.1': {'kind': 'trigger', 'op': '>', 'value': None, 'query': 'up'}})

    def test_list_entry_without_id(self):
        with pytest.raises(ThresholdError, match=r'rules\[0\]'):
            alert_rules([{'kind': 'trigger', 'op': '>', 'value': 1, 'query': 'up'}])

    def test_colliding_alert_names(self):
        with pytest.raises(ThresholdError, match='X402AB1'):
            alert_rules({'a.b.1': {'kind': 'trigger', 'op': '>', 'value': 1, 'query': 'up'},
                         'a_b.1': {'kind': 'trigger', 'op': '>', 'value': 1, 'query': 'up'}})

    @pytest.mark.parametrize('rule_id, name', [('rollback_criteria.1', 'X402RollbackCriteria1'),
                                               ('scaling_plan.when_to_scale_up.1.1', 'X402ScalingPlanWhenToScaleUp1_1'),
                                               ('scaling_plan.when_to_scale_up.11', 'X402ScalingPlanWhenToScaleUp11')])
    def test_alert_name(self, rule_id, name):
        assert alert_name(rule_id) == name


class TestPromqlCondition:
    @pytest.mark.parametrize('op, value, expected', [
        ('>', 0.2, '(q) > 0.2'), ('>', 204800, '(q) > 204800'), ('>=', 1e10, '(q) >= 10000000000'),
        ('<', 0.00001, '(q) < 0.00001'), ('==', 0, '(q) == 0'), ('<=', 10737418240, '(q) <= 10737418240'),
        ('between', [0.1, 0.15], '(q) >= 0.1 <= 0.15'),
    ])
    def test_numbers_are_exact_and_readable(self, op, value, expected):
        assert promql_condition({'kind': 'trigger', 'op': op, 'value': value, 'query': 'q'}) == expected

    def test_no_query(self):
        with pytest.raises(ThresholdError, match="rule 'x.1'.*field 'query'"):
            promql_condition({'id': 'x.1', 'kind': 'trigger', 'op': '>', 'value': 1})

    def test_subset_has_no_promql(self):
        with pytest.raises(ThresholdError, match="field 'op' = 'subset'"):
            promql_condition({'id': 'x.1', 'kind': 'gate', 'op': 'subset', 'value': [80], 'query': 'q'})


@pytest.mark.parametrize('number, text', [(0.2, '0.2'), (204800, '204800'), (204800.0, '204800'),
                                          (1e10, '10000000000'), (1e-05, '0.00001'), (0.0499, '0.0499'),
                                          (-3.5, '-3.5'), (1e21, '1000000000000000000000')])
def test_format_number(number, text):
    assert format_number(number) == text
    assert float(text) == number and not math.isnan(float(text))


class TestEvaluateStep:
    """evaluate(step=...): the real sampling interval (e.g. a range query's step) finds gaps."""

    def test_step_given_makes_wide_intervals_gaps(self, rules):
        samples = constant(0.3, 600, step=30)
        assert evaluate(samples, rules['rollback_criteria.1'])['status'] == 'fire'
        assert evaluate(samples, rules['rollback_criteria.1'], step='30s')['status'] == 'fire'
        assert evaluate(samples, rules['rollback_criteria.1'], step=15)['status'] == 'quiet'

    def test_step_and_now_together(self, rules):
        samples = constant(0.3, 600, step=15, start=1000)
        assert evaluate(samples, rules['rollback_criteria.1'], now=1600 + 22.5, step=15)['status'] == 'fire'
        assert evaluate(samples, rules['rollback_criteria.1'], now=1600 + 22.5, step=10)['status'] == 'quiet'

    @pytest.mark.parametrize('step', [0, -15, '5x'])
    def test_bad_step(self, rules, step):
        with pytest.raises(ThresholdError):
            evaluate(constant(0.3, 600), rules['rollback_criteria.1'], step=step)
