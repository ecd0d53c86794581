# -*- coding: utf-8 -*-
"""Unit tests of module_utils/deploy_record: validation (messages name field, value and
rule), redaction of secrets, the JSON's stable order, the Markdown a person reads, and
the plot's data (panels, bounds, breaches) with the real rules of the data file.
What Prometheus really answers is tested in tests/integration/test_deploy_record_prometheus.py."""

from __future__ import annotations

import datetime
import json
import math

import pytest

from ansible_collections.x402.runbook.plugins.module_utils import deploy_record as dr
from ansible_collections.x402.runbook.plugins.module_utils.prometheus import PrometheusError

T0 = 1_795_824_000  # 2026-11-28T00:00:00Z
ERRORS = 'post_deployment.immediate_monitoring.1'
P95 = 'post_deployment.immediate_monitoring.2'
ROLLBACK_ERRORS = 'rollback_criteria.1'
ROLLBACK_P95 = 'rollback_criteria.2'
CACHE = 'post_deployment.performance_validation.3'


def params(**extra):
    base = {'kind': 'deployment', 'release': '1.2.0', 'previous_release': '1.1.0', 'operator': 'alice',
            'started_at': '2026-11-28T00:00:00Z', 'finished_at': '2026-11-28T01:02:03Z', 'outcome': 'GO',
            'checks': [], 'signoffs': {}, 'timeline': [], 'trigger': None, 'extra': {}}
    base.update(extra)
    return base


def check(status='pass', **extra):
    item = {'id': 'post_deployment.immediate_monitoring.4', 'name': 'CPU usage', 'kind': 'gate',
            'observed': 0.45, 'status': status, 'detail': 'observed 0.45, required < 0.7: PASS',
            'rule': {'id': 'post_deployment.immediate_monitoring.4', 'kind': 'gate', 'op': '<', 'value': 0.7,
                     'unit': 'ratio'}}
    item.update(extra)
    return item


def error_of(func, *args, **kwargs):
    with pytest.raises(dr.RecordError) as info:
        func(*args, **kwargs)
    return str(info.value)


# --- secrets -------------------------------------------------------------------------

def test_values_under_secret_keys_are_redacted_at_any_depth():
    data = {'api_key': 'k-123456', 'Nested': {'DB-Password': 'hunter22', 'list': [{'accessToken': 'tok-abc'}]},
            'client_secret': {'inner': 'deep-secret'}, 'Authorization': 'Bearer xyz1',
            'key_contacts': 'bob', 'operator': 'alice', 'empty_token': '', 'url': 'http://u:pw99@host:9090/x'}
    clean, found = dr.redact(data)
    text = json.dumps(clean)
    for secret in ('k-123456', 'hunter22', 'tok-abc', 'deep-secret', 'Bearer xyz1', 'pw99'):
        assert secret not in text
    assert clean['api_key'] == clean['Nested']['DB-Password'] == dr.REDACTED
    assert clean['Nested']['list'][0]['accessToken'] == dr.REDACTED
    assert clean['key_contacts'] == 'bob' and clean['operator'] == 'alice'  # not secrets
    assert clean['empty_token'] == ''  # nothing to hide
    assert clean['url'] == 'http://***@host:9090/x'
    assert sorted(found) == sorted(['k-123456', 'hunter22', 'tok-abc', 'deep-secret', 'Bearer xyz1'])
    assert data['api_key'] == 'k-123456'  # the input is not changed


def test_build_record_writes_no_secret_anywhere():
    record, found = dr.build_record(params(
        checks=[check(api_key='k-live-0001')],
        timeline=[{'at': T0, 'event': 'key rotated', 'token': 't-0002'}],
        trigger=check(status='fail', secret='s-0003'),
        signoffs={'deployment_day.pre_flight_checks.1': {'by': 'alice', 'password': 'p-0004'}},
        extra={'solana': {'program_id': 'Prog1111', 'deployer_private_key': 'pk-0005'}}), T0)
    text = dr.to_json(record) + dr.to_markdown(record)
    for secret in ('k-live-0001', 't-0002', 's-0003', 'p-0004', 'pk-0005'):
        assert secret not in text
        assert secret in found
    assert 'Prog1111' in text and dr.REDACTED in text


# --- times -----------------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    (T0, T0), (str(T0), T0), ('2026-11-28T00:00:00Z', T0), ('2026-11-28T01:00:00+01:00', T0),
    ('2026-11-28T00:00:00.250Z', T0 + 0.25),
    (datetime.datetime(2026, 11, 28, tzinfo=datetime.timezone.utc), T0),
])
def test_times_in_every_accepted_form(value, expected):
    assert dr.to_time('started_at', value) == pytest.approx(expected)


@pytest.mark.parametrize('value', ['yesterday', '2026-11-28 00:00', '', None, True,
                                   datetime.datetime(2026, 11, 28)])
def test_unparseable_times_name_the_field_value_and_rule(value):
    msg = error_of(dr.to_time, 'timeline[0].at', value)
    assert msg.startswith('timeline[0].at = ')
    assert 'RFC 3339' in msg and 'unix seconds' in msg


def test_finished_may_equal_started_but_not_precede_it():
    record = dr.build_record(params(finished_at='2026-11-28T00:00:00Z'), T0 + 99)[0]
    assert record['duration'] == '0s'
    msg = error_of(dr.build_record, params(finished_at=T0 - 1), T0)
    assert "finished_at = %d" % (T0 - 1) in msg and 'before started_at 2026-11-28T00:00:00Z' in msg


def test_finished_defaults_to_now():
    record = dr.build_record(params(finished_at=None), T0 + 3723)[0]
    assert record['finished_at'] == '2026-11-28T01:02:03Z' and record['duration'] == '1h2m3s'


# --- validation ------------------------------------------------------------------------

@pytest.mark.parametrize('status', dr.CHECK_STATUSES)
def test_every_status_of_the_result_shape_is_accepted(status):
    kind = {'quiet': 'trigger', 'fire': 'trigger', 'warn': 'expectation'}.get(status, 'gate')
    assert dr.validate_check('checks[0]', check(status=status, kind=kind))['status'] == status


@pytest.mark.parametrize('status', ['ok', 'PASS', 'failed', None, ''])
def test_an_unknown_status_is_refused_naming_field_value_and_rule(status):
    msg = error_of(dr.validate_check, 'checks[2]', check(status=status))
    assert "checks[2] (id 'post_deployment.immediate_monitoring.4').status = " in msg
    assert 'must be one of pass, fail, warn, no_data, quiet, fire' in msg and 'result shape' in msg


def test_a_status_of_another_kind_is_refused():
    msg = error_of(dr.validate_check, 'trigger', check(status='pass', kind='trigger'))
    assert "trigger (id 'post_deployment.immediate_monitoring.4').status = 'pass'" in msg
    assert 'not a status of a trigger (quiet, fire, no_data)' in msg
    # The kind may come from the rule alone.
    rule = {'kind': 'trigger', 'op': '>', 'value': 0.2}
    from_rule = {'name': 'n', 'status': 'fail', 'rule': rule}
    assert 'not a status of a trigger' in error_of(dr.validate_check, 'x', from_rule)


@pytest.mark.parametrize('item, expected', [
    ('not a mapping', 'must be a mapping'),
    ({'status': 'pass'}, "needs an 'id' or a 'name'"),
    (check(kind='alarm'), ".kind = 'alarm': must be one of gate, expectation, trigger"),
])
def test_malformed_checks(item, expected):
    assert expected in error_of(dr.validate_check, 'checks[0]', item)


@pytest.mark.parametrize('outcome', ['GO', 'NO-GO', 'ROLLED-BACK', 'ROLLBACK-FAILED'])
def test_outcomes(outcome):
    assert dr.build_record(params(outcome=outcome), T0)[0]['outcome'] == outcome


@pytest.mark.parametrize('field, value, expected', [
    ('outcome', 'go', "outcome = 'go': must be one of GO, NO-GO, ROLLED-BACK, ROLLBACK-FAILED"),
    ('kind', 'audit', "kind = 'audit': must be one of deployment, incident"),
    ('release', ' ', "release = ' ': must be a non-empty text"),
    ('started_at', 'soon', "started_at = 'soon': must be unix seconds or an RFC 3339"),
    ('timeline', [{'at': 'later', 'event': 'x'}], "timeline[0].at = 'later'"),
    ('timeline', [{'at': T0, 'event': ''}], "timeline[0].event = '': must be a non-empty text"),
    ('timeline', [{'event': 'x'}], "needs 'at' (when) and 'event'"),
    ('signoffs', {'a.1': {'at': T0}}, "signoffs.a.1 = {\"at\": %d}: a sign-off given as a mapping needs 'by'" % T0),
    ('checks', [check(), check(status='ok')], "checks[1] (id 'post_deployment.immediate_monitoring.4').status"),
    ('extra', {'plot': 'mine'}, "extra.plot = 'mine': is one of the record's own fields (format, kind, release"),
])
def test_bad_inputs_name_field_value_and_rule(field, value, expected):
    assert expected in error_of(dr.build_record, params(**{field: value}), T0)


def test_an_incident_needs_its_trigger():
    msg = error_of(dr.build_record, params(kind='incident', outcome='ROLLED-BACK'), T0)
    assert msg.startswith('trigger = null: an incident record needs what fired')


# --- the record --------------------------------------------------------------------------

def test_json_is_stable_whatever_the_key_order_of_the_input():
    one = params(checks=[check()], signoffs={'b.1': 'bob', 'a.1': 'alice'}, extra={'z': 1, 'a': {'y': 2, 'b': 3}})
    reordered = dict(reversed(list(one.items())))
    backwards = dict(reversed(list(check().items())))
    backwards['rule'] = dict(reversed(list(backwards['rule'].items())))
    reordered['checks'] = [backwards]
    reordered['signoffs'] = {'a.1': 'alice', 'b.1': 'bob'}
    reordered['extra'] = {'a': {'b': 3, 'y': 2}, 'z': 1}
    first = dr.to_json(dr.build_record(one, T0)[0])
    assert first == dr.to_json(dr.build_record(reordered, T0)[0])
    record = json.loads(first)
    assert list(record) == list(dr.RECORD_FIELDS) + ['a', 'z']  # extra merged after the own fields
    assert record['a'] == {'b': 3, 'y': 2} and record['post_mortem'] is None
    assert list(record['checks'][0]) == [f for f in dr.CHECK_FIELDS if f in check()]
    assert list(record['signoffs']) == ['a.1', 'b.1']


def test_non_finite_observations_stay_valid_json():
    checks = [check(status='no_data', observed=float('nan')), check(observed=float('inf'))]
    record = dr.build_record(params(checks=checks), T0)[0]
    parsed = json.loads(dr.to_json(record))
    assert [c['observed'] for c in parsed['checks']] == ['NaN', '+Inf']


def test_summary_counts_statuses_and_lists_what_needs_attention():
    record = dr.build_record(params(checks=[
        check(), check(id='a', status='fail'), check(id='b', kind='trigger', status='fire'),
        check(id='c', kind='trigger', status='quiet'), check(id='d', status='no_data')]), T0)[0]
    assert record['summary']['checks'] == 5
    assert record['summary']['by_status'] == {'pass': 1, 'fail': 1, 'warn': 0, 'no_data': 1, 'quiet': 1, 'fire': 1}
    assert record['summary']['attention'] == ['a', 'b', 'd']


def test_timeline_in_time_order_same_time_keeps_the_given_order():
    record = dr.build_record(params(timeline=[
        {'at': '2026-11-28T00:30:00Z', 'event': 'third'}, {'at': T0, 'event': 'first'},
        {'at': '2026-11-28T00:00:00Z', 'event': 'second', 'who': 'bob'}]), T0)[0]
    assert [e['event'] for e in record['timeline']] == ['first', 'second', 'third']
    assert record['timeline'][1] == {'at': '2026-11-28T00:00:00Z', 'event': 'second', 'who': 'bob'}


@pytest.mark.parametrize('rule, expected', [
    ({'id': 'x', 'kind': 'gate', 'op': '<', 'value': 0.05, 'unit': 'ratio'}, 'required < 0.05 ratio'),
    ({'kind': 'trigger', 'op': '>', 'value': 5000, 'for': '600', 'unit': 'ms'}, 'fires when > 5000 ms for 10m'),
    ({'kind': 'expectation', 'op': 'between', 'value': [0.1, 0.15]}, 'expected between 0.1 and 0.15'),
    ({'kind': 'gate', 'op': '==', 'value': None}, 'required == (value set per release)'),
    ({'kind': 'gate', 'op': 'subset', 'value': [80, 443]}, 'required subset of [80, 443]'),
    (None, ''),
    ('as the operator decides', 'as the operator decides'),
])
def test_rule_text(rule, expected):
    assert dr.rule_text(rule) == expected


@pytest.mark.parametrize('value, expected', [
    (0.929999999999806, '0.93'), (204800.0, '204800'), (None, 'no data'), ([80, 443], '80, 443'),
    ('abc', 'abc'), (True, 'true'), (float('nan'), 'nan'),
])
def test_show_value(value, expected):
    assert dr.show_value(value) == expected


def test_markdown_of_a_deployment():
    record = dr.build_record(params(
        checks=[check(), check(id='deployment_day.build_phase.6', name='binary | size', status='fail',
                               observed=204800, detail='line one\nline two',
                               rule={'kind': 'gate', 'op': '<', 'value': 204800, 'unit': 'bytes'})],
        signoffs={'deployment_day.pre_flight_checks.1': 'alice', 'deployment_day.pre_flight_checks.7': ''},
        timeline=[{'at': T0, 'event': 'deploy started'}], extra={'program_id': 'Prog1111'}), T0)[0]
    text = dr.to_markdown(record)
    assert text.startswith('# Deployment record: release 1.2.0\n')
    assert '| Release | 1.2.0 (previous: 1.1.0) |' in text
    assert '| Outcome | **GO** |' in text and '| Operator | alice |' in text
    assert '| Finished | 2026-11-28T01:02:03Z (1h2m3s) |' in text
    assert '2 check(s): 1 pass, 1 fail.' in text
    assert ('| post_deployment.immediate_monitoring.4 | CPU usage | pass | 0.45 | required < 0.7 ratio | '
            'observed 0.45, required < 0.7: PASS |') in text
    assert ('| deployment_day.build_phase.6 | binary \\| size | **FAIL** | 204800 | required < 204800 bytes | '
            'line one<br>line two |') in text
    assert '| deployment_day.pre_flight_checks.1 | alice |' in text
    assert '| deployment_day.pre_flight_checks.7 | **MISSING** |' in text
    assert '| 2026-11-28T00:00:00Z | deploy started |' in text
    assert '"program_id": "Prog1111"' in text
    assert 'Post-mortem' not in text and 'Trigger' not in text and 'Watch window' not in text


def test_markdown_of_an_incident_has_the_trigger_and_the_post_mortem_stub():
    trigger = check(id=ROLLBACK_ERRORS, name='error rate', kind='trigger', status='fire', observed=0.3,
                    detail='held 360s of required 300s: FIRE',
                    rule={'kind': 'trigger', 'op': '>', 'value': 0.2, 'for': '5m', 'unit': 'ratio'})
    record = dr.build_record(params(kind='incident', outcome='ROLLED-BACK', trigger=trigger), T0)[0]
    assert record['post_mortem'] == {'review_due_by': '2026-11-29T01:02:03Z'}
    text = dr.to_markdown(record)
    assert text.startswith('# Incident record: release 1.2.0\n')
    assert '**rollback_criteria.1** error rate: **FIRE**' in text
    assert '- Observed: 0.3' in text and '- Rule: fires when > 0.2 ratio for 5m' in text
    headings = [line for line in text.splitlines() if line.startswith('### ')]
    assert headings == ['### Summary', '### Impact', '### Timeline', '### Root cause', '### Action items',
                        '### Review scheduled within 24 h']
    assert 'by **2026-11-29T01:02:03Z**' in text


# --- plot data ---------------------------------------------------------------------------

def spec_of(rules, series, **extra):
    plot = {'prometheus_url': 'http://127.0.0.1:9', 'series': series, 'rules': rules}
    plot.update(extra)
    return dr.plot_spec(plot, T0, T0 + 3600)


def test_rules_of_the_same_quantity_share_a_panel(rules):
    spec = spec_of(rules, [ERRORS, P95, ROLLBACK_ERRORS, ROLLBACK_P95])
    assert [(p['title'], p['unit'], [r['id'] for r in p['rules']]) for p in spec['panels']] == [
        ('error rate', 'ratio', [ERRORS, ROLLBACK_ERRORS]), ('latency P95', 'ms', [P95, ROLLBACK_P95])]
    assert (spec['start'], spec['end'], spec['step']) == (T0, T0 + 3600, 15.0)


def test_window_and_step(rules):
    spec = spec_of(rules, [ERRORS], start='2026-11-28T00:10:00Z', end=T0 + 1800, step='1m')
    assert (spec['start'], spec['end'], spec['step']) == (T0 + 600, T0 + 1800, 60.0)
    # 11,000 points is what Prometheus answers: kept; one more and the step is raised.
    assert spec_of(rules, [ERRORS], end=T0 + 10999, step=1)['step'] == 1.0
    raised = spec_of(rules, [ERRORS], end=T0 + 11000, step=1)
    assert raised['step'] == 2.0 and raised['step_given'] == 1.0


@pytest.mark.parametrize('extra, expected', [
    ({'series': ['no.such.id']}, "plot.series[0] = 'no.such.id': is not a rule of plot.rules"),
    ({'series': [ERRORS, ERRORS]}, "plot.series[1] = '%s': is listed twice" % ERRORS),
    ({'series': ['pre_deployment.infrastructure.3']}, "op 'subset' (a set of numbers) cannot be drawn"),
    ({'series': ['pre_deployment.infrastructure.1']}, 'its rule has no query'),
    ({'series': []}, 'plot.series = []: needs at least one threshold id'),
    ({'end': T0}, "plot.end = %d: must be after plot.start 2026-11-28T00:00:00Z" % T0),
    ({'start': 'noon'}, "plot.start = 'noon'"),
    ({'step': 'often'}, "plot.step = 'often'"),
    ({'step': 0}, 'plot.step = 0: must be a positive duration'),
    ({'prometheus_url': ''}, "plot.prometheus_url = '': is required"),
])
def test_bad_plot_options(rules, extra, expected):
    plot = {'series': [ERRORS]}
    plot.update(extra)
    assert expected in error_of(spec_of, rules, plot.pop('series'), **plot)


def test_a_rule_with_an_unset_value_cannot_be_drawn(rules):
    unset = dict(rules, custom={'kind': 'gate', 'op': '<', 'value': None, 'query': 'up'})
    assert "plot.rules.custom = " in error_of(spec_of, unset, ['custom'])


@pytest.mark.parametrize('rule, value, over', [
    ({'kind': 'gate', 'op': '<', 'value': 0.05}, 0.0499, False),
    ({'kind': 'gate', 'op': '<', 'value': 0.05}, 0.05, True),
    ({'kind': 'trigger', 'op': '>', 'value': 0.2}, 0.2, False),
    ({'kind': 'trigger', 'op': '>', 'value': 0.2}, 0.2000001, True),
    ({'kind': 'expectation', 'op': 'between', 'value': [0.1, 0.15]}, 0.1, False),
    ({'kind': 'expectation', 'op': 'between', 'value': [0.1, 0.15]}, 0.0999, True),
    ({'kind': 'expectation', 'op': 'between', 'value': [0.1, 0.15]}, 0.1501, True),
    ({'kind': 'gate', 'op': '<', 'value': 0.05}, float('nan'), False),
])
def test_a_sample_is_over_the_bound_on_the_right_side(rule, value, over):
    assert dr.breached(rule, value) is over


class FakeClient:
    """Answers range queries from a dict query -> matrix result (or an exception)."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def query_range(self, query, start, end, step):
        self.calls.append((query, start, end, step))
        answer = self.answers.get(query, [])
        if isinstance(answer, Exception):
            raise answer
        return {'resultType': 'matrix', 'result': answer}


def matrix(values, **labels):
    return [{'metric': labels, 'values': [[ts, str(v)] for ts, v in values]}]


def test_fetch_and_summarise(rules):
    spec = spec_of(rules, [ERRORS, ROLLBACK_ERRORS, P95])
    samples = [(T0, 0.01), (T0 + 15, 0.3), (T0 + 30, 0.25), (T0 + 45, 0.1), (T0 + 60, 0.3),
               (T0 + 120, 0.3), (T0 + 135, 'NaN')]  # 60 -> 120 is a gap: two runs
    client = FakeClient({rules[ROLLBACK_ERRORS]['query'].strip(): matrix(samples),
                         rules[ERRORS]['query'].strip(): PrometheusError('bad', error_type='bad_data')})
    panels = dr.fetch_plot(client, spec)
    assert [(q[1], q[2], q[3]) for q in client.calls] == [(T0, T0 + 3600, 15.0)] * 3
    summary = dr.plot_summary(spec, panels, 'deployment.png')
    assert summary['start'] == '2026-11-28T00:00:00Z' and summary['step'] == '15s'
    errors, rollback = summary['panels'][0]['rules']
    assert errors['error'] == 'bad' and errors['no_data'] is True and errors['series'] == []
    series = rollback['series'][0]
    assert (series['points'], series['min'], series['max'], series['last']) == (6, 0.01, 0.3, 0.3)
    assert series['breached_points'] == 4
    assert series['breaches'] == [['2026-11-28T00:00:15Z', '2026-11-28T00:00:30Z'],
                                  ['2026-11-28T00:01:00Z', '2026-11-28T00:01:00Z'],
                                  ['2026-11-28T00:02:00Z', '2026-11-28T00:02:00Z']]
    assert rollback['rule'] == 'fires when > 0.2 ratio for 5m'
    p95 = summary['panels'][1]['rules'][0]
    assert p95['no_data'] is True and p95['error'] is None


def test_an_unreachable_prometheus_ends_the_plot(rules):
    spec = spec_of(rules, [ERRORS])
    client = FakeClient({rules[ERRORS]['query'].strip(): PrometheusError('refused', error_type='connection')})
    with pytest.raises(PrometheusError):
        dr.fetch_plot(client, spec)


def test_markdown_lists_what_the_plot_shows(rules):
    spec = spec_of(rules, [ERRORS, P95])
    client = FakeClient({rules[ERRORS]['query'].strip(): matrix([(T0, 0.01), (T0 + 15, 0.07)])})
    record = dr.build_record(params(), T0)[0]
    record['plot'] = dr.plot_summary(spec, dr.fetch_plot(client, spec), 'deployment.png')
    text = dr.to_markdown(record)
    assert '![error rate, latency P95 from 2026-11-28T00:00:00Z to 2026-11-28T01:00:00Z](deployment.png)' in text
    assert ('- error rate (first 30 min) (%s, required < 0.05 ratio): max 0.07, last 0.07, over the bound '
            '2026-11-28T00:00:15Z–2026-11-28T00:00:15Z' % ERRORS) in text
    assert '- latency P95 (%s, required < 500 ms): no data in the window' % P95 in text
    assert math.isfinite(json.loads(dr.to_json(record))['plot']['panels'][0]['rules'][0]['series'][0]['max'])
