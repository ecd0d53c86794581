# -*- coding: utf-8 -*-
"""The Prometheus alerting rules generated from the REAL thresholds data file,
checked and unit-tested by the real promtool (Debian's Prometheus 2.42).

Every scenario runs `promtool test rules` on the boundary cases of
spec/THRESHOLDS.md, and then once more with each expectation inverted: the
inverted run must FAIL, which proves the expectation really constrains the
alert (an `exp_alerts: []` that could never fail would prove nothing).

Exact ratios through rate(): the series are sampled every second and evaluated
every second, so every 1m window of a counter that started at 0 has its first
sample at the window start or at the counter's zero; Prometheus' extrapolation
factor is then exactly 1 and rate() = increase / 60. With increments chosen as
multiples of 60 per second (errors 60/s of 300/s, 120060/s of 600000/s) each
rate is an exact integer and the ratio is the correctly rounded quotient, i.e.
exactly the float 0.2 (0.2001) that the rule compares with. Increments of 1/s
and 5/s would NOT do: (t/60) / (5t/60) is 0.20000000000000004 for some t < 60.
"""

from __future__ import annotations

import copy
import os
import shutil

import pytest
import yaml

from ansible_collections.x402.runbook.plugins.module_utils.thresholds import alert_rules
from testlib import ROOT, run

pytestmark = pytest.mark.integration


def _promtool():
    local = ROOT / '.cache' / 'tools' / 'bin' / 'promtool'
    if local.is_file() and os.access(str(local), os.X_OK):
        return str(local)
    return shutil.which('promtool')


PROMTOOL = _promtool()
if PROMTOOL is None:
    pytest.skip('promtool not found in .cache/tools/bin (run scripts/bootstrap.sh) nor on PATH',
                allow_module_level=True)

ERRORS = 'proof_generation_errors_total{job="x402-prover"}'
TOTAL = 'proof_generation_total{job="x402-prover"}'
BUCKET = 'proof_generation_duration_seconds_bucket{job="x402-prover",le="%s"}'
SAMPLES = 1300  # 21m40s of 1 s samples


def counter(per_second):
    return '0+%dx%d' % (per_second, SAMPLES)


def gauge(value):
    return '%sx%d' % (value, SAMPLES)


def histogram(per_second_by_le):
    return [{'series': BUCKET % le, 'values': counter(n)} for le, n in per_second_by_le]


@pytest.fixture(scope='module')
def generated(rules):
    return alert_rules(rules)


@pytest.fixture(scope='module')
def alerts(generated):
    return {a['labels']['checklist_id']: a for a in generated['groups'][0]['rules']}


@pytest.fixture(scope='module')
def rules_file(tmp_path_factory, generated):
    path = tmp_path_factory.mktemp('promtool') / 'x402-triggers.yml'
    path.write_text(yaml.safe_dump(generated, sort_keys=False))
    return path


def go_float(value):
    """A float64 as Go's text/template prints {{ $value }} (%v)."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)


def firing(alert, value):
    """The alert promtool reports as firing, with the annotations expanded for `value`."""
    return {
        'exp_labels': dict(alert['labels']),
        'exp_annotations': {k: v.replace('{{ $value }}', go_float(value)) for k, v in alert['annotations'].items()},
    }


def promtool_test(rules_file, tmp_path, name, input_series, alert_tests=(), expr_tests=()):
    doc = {
        'rule_files': [str(rules_file)],
        'evaluation_interval': '1s',
        'tests': [{'interval': '1s', 'input_series': input_series,
                   'alert_rule_test': list(alert_tests), 'promql_expr_test': list(expr_tests)}],
    }
    path = tmp_path / ('%s.yml' % name)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return run([PROMTOOL, 'test', 'rules', str(path)], timeout=600)


def check_scenario(rules_file, tmp_path, input_series, alert_tests, expr_tests=()):
    """The scenario passes, and each expectation inverted makes promtool fail."""
    result = promtool_test(rules_file, tmp_path, 'scenario', input_series, alert_tests, expr_tests)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    checks = [('alert', i) for i in range(len(alert_tests))] + [('expr', i) for i in range(len(expr_tests))]
    for kind, index in checks:
        bad_alerts, bad_exprs = copy.deepcopy(list(alert_tests)), copy.deepcopy(list(expr_tests))
        if kind == 'alert':
            test = bad_alerts[index]
            test['exp_alerts'] = [] if test['exp_alerts'] else [{'exp_labels': {'severity': 'critical'}}]
        else:
            test = bad_exprs[index]
            test['exp_samples'] = [] if test['exp_samples'] else [{'labels': '{}', 'value': 1}]
        inverted = promtool_test(rules_file, tmp_path, 'inverted-%s-%d' % (kind, index), input_series,
                                 bad_alerts, bad_exprs)
        assert inverted.returncode != 0, 'the inverted %s check %d passed too: %r' % (kind, index, test)


def pending(alert, eval_time):
    """promql_expr_test: the alert is pending (not firing) at eval_time."""
    labels = dict(alert['labels'], alertname=alert['alert'], alertstate='pending')
    return {'expr': 'ALERTS{alertname="%s"}' % alert['alert'], 'eval_time': eval_time,
            'exp_samples': [{'labels': 'ALERTS{%s}' % ','.join('%s="%s"' % kv for kv in sorted(labels.items())),
                             'value': 1}]}


def never_active(alert, eval_time, window):
    """promql_expr_test: the alert was neither pending nor firing in the trailing window."""
    return {'expr': 'count_over_time(ALERTS{alertname="%s"}[%s])' % (alert['alert'], window),
            'eval_time': eval_time, 'exp_samples': []}


# --------------------------------------------------------------------------- promtool check rules

def test_promtool_check_rules_accepts_the_generated_rules(rules_file, generated):
    result = run([PROMTOOL, 'check', 'rules', str(rules_file)], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'SUCCESS: %d rules found' % len(generated['groups'][0]['rules']) in result.stdout


def test_promtool_check_rules_rejects_a_broken_rule(tmp_path, generated):
    # the check above can fail: a broken expression is refused
    broken = copy.deepcopy(generated)
    broken['groups'][0]['rules'][0]['expr'] += ' >'
    path = tmp_path / 'broken.yml'
    path.write_text(yaml.safe_dump(broken))
    assert run([PROMTOOL, 'check', 'rules', str(path)], timeout=120).returncode != 0


# --------------------------------------------------------------------------- rollback_criteria.1

def test_error_rate_of_exactly_0_20_for_20_min_never_alerts(rules_file, tmp_path, alerts):
    alert = alerts['rollback_criteria.1']
    series = [{'series': ERRORS, 'values': counter(60)}, {'series': TOTAL, 'values': counter(300)}]
    ratio = alert['expr'].rsplit(' > ', 1)[0]
    check_scenario(rules_file, tmp_path, series,
                   alert_tests=[{'eval_time': '20m', 'alertname': alert['alert'], 'exp_alerts': []}],
                   expr_tests=[never_active(alert, '20m', '20m'),
                               # the ratio really is 0.2 (and so not > 0.2) all the time
                               {'expr': 'count_over_time((%s == 0.2)[20m:1s])' % ratio, 'eval_time': '20m',
                                'exp_samples': [{'labels': '{}', 'value': 1200}]}])


def test_error_rate_of_0_2001_for_5_min_1_s_fires(rules_file, tmp_path, alerts):
    alert = alerts['rollback_criteria.1']
    series = [{'series': ERRORS, 'values': counter(120060)}, {'series': TOTAL, 'values': counter(600000)}]
    # the first rate() exists at 1s: active from 1s, so 5m1s is 5 min of breach at every evaluation
    check_scenario(rules_file, tmp_path, series,
                   alert_tests=[{'eval_time': '5m1s', 'alertname': alert['alert'],
                                 'exp_alerts': [firing(alert, 0.2001)]}])


def test_error_rate_of_0_3_for_4_min_59_s_is_pending_not_firing(rules_file, tmp_path, alerts):
    alert = alerts['rollback_criteria.1']
    series = [{'series': ERRORS, 'values': counter(180)}, {'series': TOTAL, 'values': counter(600)}]
    check_scenario(rules_file, tmp_path, series,
                   alert_tests=[{'eval_time': '5m', 'alertname': alert['alert'], 'exp_alerts': []},
                                {'eval_time': '5m1s', 'alertname': alert['alert'],
                                 'exp_alerts': [firing(alert, 0.3)]}],
                   expr_tests=[pending(alert, '5m')])


# --------------------------------------------------------------------------- rollback_criteria.2

def test_p95_latency_above_5000_ms_for_10_min_fires(rules_file, tmp_path, alerts):
    alert = alerts['rollback_criteria.2']
    # every observation in (5 s, 10 s]: P95 = 5 + 5 x 0.95 = 9.75 s = 9750 ms
    series = histogram([('1', 0), ('5', 0), ('10', 600), ('+Inf', 600)])
    check_scenario(rules_file, tmp_path, series,
                   alert_tests=[{'eval_time': '10m', 'alertname': alert['alert'], 'exp_alerts': []},
                                {'eval_time': '10m1s', 'alertname': alert['alert'],
                                 'exp_alerts': [firing(alert, 9750)]}],
                   expr_tests=[pending(alert, '10m')])


def test_p95_latency_of_exactly_5000_ms_for_20_min_does_not_fire(rules_file, tmp_path, alerts):
    alert = alerts['rollback_criteria.2']
    # 95 % of the observations at or below 5 s: P95 is exactly the bucket bound, 5 s = 5000 ms
    series = histogram([('1', 0), ('5', 570), ('10', 600), ('+Inf', 600)])
    query = alert['expr'].rsplit(' > ', 1)[0]
    check_scenario(rules_file, tmp_path, series,
                   alert_tests=[{'eval_time': '20m', 'alertname': alert['alert'], 'exp_alerts': []}],
                   expr_tests=[never_active(alert, '20m', '20m'),
                               {'expr': query, 'eval_time': '20m', 'exp_samples': [{'labels': '{}', 'value': 5000}]}])


def test_p95_latency_below_5000_ms_does_not_fire(rules_file, tmp_path, alerts):
    alert = alerts['rollback_criteria.2']
    series = histogram([('1', 0), ('5', 600), ('10', 600), ('+Inf', 600)])  # P95 = 4.8 s
    check_scenario(rules_file, tmp_path, series,
                   alert_tests=[{'eval_time': '20m', 'alertname': alert['alert'], 'exp_alerts': []}],
                   expr_tests=[never_active(alert, '20m', '20m')])


# --------------------------------------------------------------------------- rollback_criteria.6

def test_service_completely_down_for_10_min_fires(rules_file, tmp_path, alerts):
    alert = alerts['rollback_criteria.6']
    series = [{'series': 'up{job="x402-prover",instance="prover-1:8080"}', 'values': gauge(0)},
              {'series': 'up{job="x402-prover",instance="prover-2:8080"}', 'values': gauge(0)}]
    check_scenario(rules_file, tmp_path, series,
                   alert_tests=[{'eval_time': '9m59s', 'alertname': alert['alert'], 'exp_alerts': []},
                                {'eval_time': '10m', 'alertname': alert['alert'], 'exp_alerts': [firing(alert, 0)]}],
                   expr_tests=[pending(alert, '9m59s')])


def test_service_without_any_up_series_fires_too(rules_file, tmp_path, alerts):
    alert = alerts['rollback_criteria.6']
    series = [{'series': 'unrelated_metric', 'values': gauge(1)}]
    check_scenario(rules_file, tmp_path, series,
                   alert_tests=[{'eval_time': '10m', 'alertname': alert['alert'], 'exp_alerts': [firing(alert, 0)]}])


def test_one_healthy_prover_keeps_the_service_down_alert_quiet(rules_file, tmp_path, alerts):
    alert = alerts['rollback_criteria.6']
    series = [{'series': 'up{job="x402-prover",instance="prover-1:8080"}', 'values': gauge(0)},
              {'series': 'up{job="x402-prover",instance="prover-2:8080"}', 'values': gauge(1)}]
    check_scenario(rules_file, tmp_path, series,
                   alert_tests=[{'eval_time': '20m', 'alertname': alert['alert'], 'exp_alerts': []}],
                   expr_tests=[never_active(alert, '20m', '20m')])


# --------------------------------------------------------------------------- scaling trigger

def test_queue_depth_of_101_adds_a_prover_and_100_does_not(rules_file, tmp_path, alerts):
    alert = alerts['scaling_plan.when_to_scale_up.1.2']
    assert alert['labels']['severity'] == 'warning' and 'for' not in alert
    above = [{'series': 'active_requests{job="x402-prover",instance="prover-1:8080"}', 'values': gauge(60)},
             {'series': 'active_requests{job="x402-prover",instance="prover-2:8080"}', 'values': gauge(41)}]
    check_scenario(rules_file, tmp_path, above,
                   alert_tests=[{'eval_time': '0s', 'alertname': alert['alert'], 'exp_alerts': [firing(alert, 101)]}])
    at_limit = [{'series': 'active_requests{job="x402-prover",instance="prover-1:8080"}', 'values': gauge(60)},
                {'series': 'active_requests{job="x402-prover",instance="prover-2:8080"}', 'values': gauge(40)}]
    check_scenario(rules_file, tmp_path, at_limit,
                   alert_tests=[{'eval_time': '5m', 'alertname': alert['alert'], 'exp_alerts': []}],
                   expr_tests=[never_active(alert, '5m', '5m')])
