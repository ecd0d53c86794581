# -*- coding: utf-8 -*-
"""Unit tests of x402.runbook.metrics_gate: argument handling, documentation and
error messages. The module runs in-process (ansible-core's patch_module_args);
protocol answers come from a tiny real HTTP server on 127.0.0.1 (testlib.http_test_server). What the
answers MEAN against real data is tested with a real Prometheus in
tests/integration/test_metrics_gate.py.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest
import yaml

import ansible.module_utils._internal as ansible_internal
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.x402.runbook.plugins.modules import metrics_gate
from testlib import assert_options_documented, free_port, http_test_server

GATE = {'id': 'post_deployment.immediate_monitoring.4', 'name': 'CPU usage (busiest host)',
        'kind': 'gate', 'op': '<', 'value': 0.70, 'unit': 'ratio',
        'query': 'max(1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))'}
TRIGGER = {'id': 'rollback_criteria.1', 'name': 'error rate', 'kind': 'trigger', 'action': 'rollback',
           'op': '>', 'value': 0.20, 'for': '5m', 'unit': 'ratio', 'query': 'error_ratio'}
EXPECTATION = {'id': 'post_deployment.performance_validation.3', 'name': 'cache hit rate',
               'kind': 'expectation', 'op': 'between', 'value': [0.10, 0.15], 'unit': 'ratio'}
TOKEN = 'Bearer unit-test-token-4f6c2b1e9d'


def vector(*values):
    return {'status': 'success', 'data': {'resultType': 'vector', 'result': [
        {'metric': {'instance': 'host-%d' % index}, 'value': [1704067200, value]}
        for index, value in enumerate(values)]}}


# query text -> (HTTP status, body)
ANSWERS = {
    'healthy': (200, json.dumps(vector('0.45'))),
    'hot': (200, json.dumps(vector('0.3', '0.93'))),
    'nan': (200, json.dumps(vector('NaN'))),
    'inf': (200, json.dumps(vector('+Inf'))),
    'nothing': (200, json.dumps(vector())),
    'scalar': (200, json.dumps({'status': 'success', 'data': {'resultType': 'scalar', 'result': [1704067200, '0.5']}})),
    'string': (200, json.dumps({'status': 'success', 'data': {'resultType': 'string', 'result': [1704067200, 'x']}})),
    'cache': (200, json.dumps(vector('0.2'))),
    'html': (200, '<html>login page</html>'),
    'crash': (500, 'internal error'),
    'parse_error': (400, json.dumps({'status': 'error', 'errorType': 'bad_data',
                                     'error': '1:5: parse error: unclosed left parenthesis'})),
}


def _answer(request):
    params = request['params']
    query = params.get('query', [''])[0]
    if request['path'].endswith('/api/v1/query_range'):
        start, step = float(params['start'][0]), float(params['step'][0])
        end = float(params['end'][0])
        values, ts = [], start
        while ts <= end:
            values.append([ts, '0.1' if query == 'quiet_ratio' else '0.3'])
            ts += step
        if query == 'sparse':  # only the first and the last point: a gap between them
            values = [values[0], values[-1]]
        elif query == 'nan_inside':  # a NaN in the middle (0/0: no traffic for a moment)
            values[len(values) // 2][1] = 'NaN'
        elif query == 'all_nan':
            values = [[v[0], 'NaN'] for v in values]
        status, body = 200, json.dumps({'status': 'success', 'data': {'resultType': 'matrix', 'result': [
            {'metric': {}, 'values': values}]}})
    else:
        status, body = ANSWERS.get(query, (200, json.dumps(vector())))
    return status, body, {'Content-Type': 'application/json' if body.startswith('{') else 'text/html'}


@pytest.fixture(autouse=True)
def module_side(monkeypatch):
    """Run the module as on a target: once any test of the process imports
    ansible.errors (the filter tests do), Ansible believes it runs on the
    controller and module.warn() prints instead of collecting its warnings."""
    monkeypatch.setattr(ansible_internal, 'is_controller', False)


@pytest.fixture(scope='module')
def server():
    with http_test_server(_answer) as httpd:
        yield httpd


@pytest.fixture
def closed_url():
    return 'http://127.0.0.1:%d' % free_port()


def run_raw(args):
    """Run the module in-process; return (result dict, raw stdout)."""
    # A module process starts without warnings; in-process they would pile up across runs.
    module_warnings._global_warnings.clear()  # pylint: disable=protected-access
    buffer = io.StringIO()
    with patch_module_args(args), redirect_stdout(buffer):
        with pytest.raises(SystemExit):
            metrics_gate.main()
    raw = buffer.getvalue()
    return json.loads(raw), raw


def run(args):
    """Run the module in-process; return its result."""
    return run_raw(args)[0]


def warning_texts(result):
    """The module's warnings as text (in-process they are still WarningSummary events;
    the controller turns them into the strings a registered result holds)."""
    return [w['event']['msg'] if isinstance(w, dict) else w for w in result.get('warnings', [])]


def gate(url, *checks, **extra):
    args = {'url': url, 'checks': list(checks), 'time': 1704067200}
    args.update(extra)
    return args


def cpu(query='healthy', rule=None, name='CPU usage'):
    return {'name': name, 'query': query, 'rule': dict(rule or GATE)}


# --- documentation -----------------------------------------------------------------

def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(metrics_gate.DOCUMENTATION)
    spec = metrics_gate.argument_spec()
    assert doc['module'] == 'metrics_gate'
    assert_options_documented(doc['options'], spec)
    assert spec['headers']['no_log'] is True and spec['url_password']['no_log'] is True
    assert doc['attributes']['check_mode']['support'] == 'full'
    assert doc['attributes']['diff_mode']['support'] == 'none'


def test_examples_and_return_are_yaml():
    examples = yaml.safe_load(metrics_gate.EXAMPLES)
    assert all('x402.runbook.metrics_gate' in task or 'ansible.builtin.include_tasks' in task for task in examples)
    returned = yaml.safe_load(metrics_gate.RETURN)
    for key in ('results', 'decision', 'blocking', 'warnings', 'warning_results', 'url', 'evaluated_at', 'msg'):
        assert key in returned
    assert {'query', 'series', 'status', 'observed', 'detail'} <= set(returned['results']['contains'])


# --- argument handling ---------------------------------------------------------------

@pytest.mark.parametrize('args, expected', [
    ({'checks': [cpu()]}, 'missing required arguments: url'),
    ({'url': 'http://127.0.0.1:1'}, 'missing required arguments: checks'),
    ({'url': 'http://127.0.0.1:1', 'checks': [{'query': 'up', 'rule': GATE}]}, 'missing required arguments: name'),
    ({'url': 'http://127.0.0.1:1', 'checks': [{'name': 'x', 'query': 'up'}]}, 'missing required arguments: rule'),
    ({'url': 'http://127.0.0.1:1', 'checks': [dict(cpu(), extra=1)]}, 'extra'),
    ({'url': 'http://127.0.0.1:1', 'checks': [cpu()], 'fail_on_breach': 'maybe'}, 'fail_on_breach'),
])
def test_ansible_validates_the_options(args, expected):
    result = run(args)
    assert result['failed'] is True
    assert expected in result['msg']


def test_empty_checks():
    result = run({'url': 'http://127.0.0.1:1', 'checks': []})
    assert result['failed'] is True and 'checks: at least one check is required' in result['msg']


def test_unknown_rule_field_names_check_field_value_and_rule(server):
    result, raw = run_raw(gate(server.url, cpu(rule=dict(GATE, threshold=0.5))))
    msg = result['msg']
    assert result['failed'] is True
    assert "checks[0] ('CPU usage')" in msg
    assert "field 'threshold' = 0.5" in msg and 'unknown field' in msg
    assert "rule 'post_deployment.immediate_monitoring.4'" in msg
    assert 'Traceback' not in raw
    assert server.requests == [] or all('/api/v1/' in r['path'] for r in server.requests)


def test_bad_op(server):
    result = run(gate(server.url, cpu(rule=dict(GATE, op='=<'))))
    assert "checks[0] ('CPU usage')" in result['msg']
    assert "field 'op' = '=<'" in result['msg'] and 'not a known operator' in result['msg']


def test_unset_value(server):
    rule = {'id': 'deployment_day.build_phase.4', 'name': 'circuit constraint count', 'kind': 'gate',
            'op': '==', 'value': None}
    result = run(gate(server.url, cpu(rule=rule, name='constraints')))
    assert "checks[0] ('constraints')" in result['msg']
    assert "field 'value' = null" in result['msg']


def test_for_on_a_gate_is_refused(server):
    result = run(gate(server.url, cpu(rule=dict(GATE, **{'for': '5m'}))))
    assert "field 'for' = '5m'" in result['msg'] and 'triggers only' in result['msg']


def test_missing_query_when_the_rule_has_none(server):
    rule = dict(GATE)
    del rule['query']
    result = run(gate(server.url, {'name': 'CPU usage', 'rule': rule}))
    msg = result['msg']
    assert "checks[0] ('CPU usage')" in msg
    assert "field 'query' is not set" in msg
    assert 'post_deployment.immediate_monitoring.4' in msg


def test_the_rule_query_is_used_when_the_check_has_none(server):
    result = run(gate(server.url, {'name': 'CPU usage', 'rule': dict(GATE, query='healthy')}))
    assert result['results'][0]['query'] == 'healthy'
    assert result['decision'] == 'GO'


def test_second_check_is_named(server):
    result = run(gate(server.url, cpu(), cpu(rule=dict(GATE, kind='must'), name='memory usage')))
    assert "checks[1] ('memory usage')" in result['msg'] and "field 'kind' = 'must'" in result['msg']


@pytest.mark.parametrize('value', ['yesterday', '2024-02-30T00:00:00Z', True])
def test_bad_time(server, value):
    result, raw = run_raw(gate(server.url, cpu(), time=value))
    assert result['failed'] is True
    assert result['msg'].startswith('time: invalid value %r' % (value,))
    assert 'Traceback' not in raw


@pytest.mark.parametrize('value', ['15 parsecs', '-5s', 0, '0s'])
def test_bad_step(server, value):
    result = run(gate(server.url, cpu(), step=value))
    assert result['failed'] is True
    assert result['msg'].startswith('step: invalid value %r' % (value,))


def test_bad_timeout(server):
    result = run(gate(server.url, cpu(), timeout=0))
    assert result['msg'].startswith('timeout: invalid value 0')


@pytest.mark.parametrize('url', ['prometheus:9090', 'ftp://prometheus/'])
def test_bad_url(url):
    result = run(gate(url, cpu()))
    assert result['failed'] is True and result['msg'].startswith('url: ')


@pytest.mark.parametrize('value, expected', [
    ('2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'),
    ('2024-01-01T01:00:00+01:00', '2024-01-01T00:00:00Z'),
    (1704067200, '2024-01-01T00:00:00Z'),
    ('1704067200.5', '2024-01-01T00:00:00.500Z'),
])
def test_time_formats(server, value, expected):
    result = run(gate(server.url, cpu(), time=value))
    assert result['evaluated_at'] == expected
    assert server.requests[-1]['params']['time'][0] == ('1704067200.5' if '.5' in str(value) else '1704067200')


def test_time_defaults_to_now(server):
    result = run({'url': server.url, 'checks': [cpu()]})
    assert result['evaluated_at'].startswith('20')
    assert float(server.requests[-1]['params']['time'][0]) > 1704067200


# --- queries ----------------------------------------------------------------------

def test_instant_query_for_a_rule_without_for(server):
    result = run(gate(server.url, cpu()))
    assert server.requests[-1]['path'] == '/api/v1/query'
    assert result['changed'] is False and result['decision'] == 'GO'
    assert result['results'][0]['observed'] == 0.45
    assert result['url'] == server.url


def test_range_query_for_a_rule_with_for(server):
    result = run(gate(server.url, {'name': 'error rate', 'rule': TRIGGER}, step='30s', fail_on_breach=False))
    request = server.requests[-1]
    assert request['path'] == '/api/v1/query_range'
    assert request['params']['start'] == [str(1704067200 - 300 - 30)]
    assert request['params']['end'] == ['1704067200']
    assert request['params']['step'] == ['30']
    item = result['results'][0]
    assert item['status'] == 'fire' and item['kind'] == 'trigger'
    assert result['decision'] == 'NO-GO'
    assert result['msg'] == '1 of 1 checks block: error rate: observed 0.3, fires when > 0.2 for 5m'


def test_breach_message_lists_each_blocking_check(server):
    result = run(gate(server.url, cpu('hot'), cpu('healthy', name='memory usage'),
                      cpu('nothing', name='disk usage')))
    assert result['failed'] is True
    assert result['msg'] == ('2 of 3 checks block: CPU usage: observed 0.93, required < 0.7; '
                             'disk usage: no data (fails closed)')
    assert [r['status'] for r in result['results']] == ['fail', 'pass', 'no_data']
    assert [b['name'] for b in result['blocking']] == ['CPU usage', 'disk usage']


def test_fail_on_breach_false(server):
    result = run(gate(server.url, cpu('hot'), fail_on_breach=False))
    assert not result.get('failed')
    assert result['decision'] == 'NO-GO'


def test_several_series_take_the_worst(server):
    result = run(gate(server.url, cpu('hot'), fail_on_breach=False))
    item = result['results'][0]
    assert [s['status'] for s in item['series']] == ['pass', 'fail']
    assert [s['labels'] for s in item['series']] == [{'instance': 'host-0'}, {'instance': 'host-1'}]
    assert item['observed'] == 0.93
    assert item['detail'].startswith('{instance="host-1"}: ')


@pytest.mark.parametrize('query, reason', [('nan', 'NaN'), ('inf', 'inf')])
def test_nan_and_inf_are_no_data_with_the_reason(server, query, reason):
    result = run(gate(server.url, cpu(query)))
    item = result['results'][0]
    assert item['status'] == 'no_data' and item['observed'] is None
    assert reason in item['detail']
    assert result['failed'] is True and 'CPU usage: no data (fails closed)' in result['msg']


def test_scalar_result(server):
    result = run(gate(server.url, cpu('scalar')))
    assert result['results'][0]['observed'] == 0.5 and result['results'][0]['series'][0]['labels'] == {}


def test_string_result_is_an_error(server):
    result = run(gate(server.url, cpu('string'), fail_on_breach=False))
    assert result['failed'] is True and 'returned a string' in result['msg']


def test_expectation_warns_without_blocking(server):
    result = run(gate(server.url, {'name': 'cache hit rate', 'query': 'cache', 'rule': EXPECTATION}))
    assert not result.get('failed')
    assert result['decision'] == 'GO'
    assert result['results'][0]['status'] == 'warn'
    assert warning_texts(result) == ['metrics_gate: cache hit rate: observed 0.2, expected between 0.1 and 0.15']
    assert [w['name'] for w in result['warning_results']] == ['cache hit rate']


# --- errors are never a pass ------------------------------------------------------

def test_unreachable_fails_even_with_fail_on_breach_false(closed_url):
    result = run(gate(closed_url, cpu(), cpu(name='second'), fail_on_breach=False, timeout=3))
    assert result['failed'] is True
    assert result['msg'].startswith("check 'CPU usage': cannot reach Prometheus at %s/api/v1/query" % closed_url)
    assert 'no further check was run' in result['msg']
    assert result['decision'] == 'NO-GO'
    assert result['results'] == []


def test_rejected_query_fails_with_prometheus_error(server):
    result = run(gate(server.url, cpu(), cpu('parse_error', name='broken'), fail_on_breach=False))
    assert result['failed'] is True
    assert result['msg'] == ('1 of 2 checks could not be evaluated: broken: Prometheus at %s/api/v1/query '
                             'rejected the request (HTTP 400): bad_data: 1:5: parse error: unclosed left '
                             'parenthesis' % server.url)
    assert [r['name'] for r in result['results']] == ['CPU usage']  # the others are still reported


@pytest.mark.parametrize('query, expected', [('html', 'not JSON'), ('crash', 'HTTP 500')])
def test_protocol_errors(server, query, expected):
    result = run(gate(server.url, cpu(query), fail_on_breach=False))
    assert result['failed'] is True and expected in result['msg']


# --- check mode and secrets ---------------------------------------------------------

def test_check_mode_runs_the_same_queries(server):
    normal = run(gate(server.url, cpu('hot'), fail_on_breach=False))
    checked = run(dict(gate(server.url, cpu('hot'), fail_on_breach=False), _ansible_check_mode=True))
    for key in ('results', 'decision', 'blocking', 'msg', 'changed'):
        assert checked[key] == normal[key]


def test_secrets_are_sent_but_never_returned(server, closed_url):
    result, raw = run_raw(gate(server.url, cpu('crash'), headers={'Authorization': TOKEN}))
    assert server.requests[-1]['headers']['Authorization'] == TOKEN
    assert result['failed'] is True
    assert 'unit-test-token' not in raw
    result, raw = run_raw(gate(server.url, cpu(), url_username='ops', url_password='s3cr3t-pw'))
    assert 's3cr3t-pw' not in raw
    url = closed_url.replace('http://', 'http://ops:emb3dded-pw@')
    result, raw = run_raw(gate(url, cpu()))
    assert 'emb3dded-pw' not in raw
    assert result['failed'] is True and '***@127.0.0.1' in result['msg']


# --- sustained evaluation over a range -------------------------------------------------

@pytest.mark.parametrize('query, status, note', [
    ('error_ratio', 'fire', None),
    ('quiet_ratio', 'quiet', None),
    ('sparse', 'quiet', 'held 0s'),  # two points 315 s apart at step 15 s: a gap, not 5 minutes
    ('nan_inside', 'quiet', 'NaN'),
])
def test_sustained_trigger_uses_the_query_step(server, query, status, note):
    result = run(gate(server.url, {'name': 'error rate', 'query': query, 'rule': TRIGGER}, fail_on_breach=False))
    item = result['results'][0]
    assert item['status'] == status, item['detail']
    if note:
        assert note in item['detail']


def test_a_range_of_nan_only_is_no_data(server):
    result = run(gate(server.url, {'name': 'error rate', 'query': 'all_nan', 'rule': TRIGGER}))
    item = result['results'][0]
    assert item['status'] == 'no_data' and 'NaN' in item['detail']
    assert result['decision'] == 'GO'  # a trigger without data does not fire by itself ...
    assert warning_texts(result) == [  # ... it is escalated
        'metrics_gate: error rate: no data (the trigger cannot tell; escalate to the operator)']


def test_no_data_breach_trigger_fires_on_an_empty_answer(server):
    rule = {'id': 'rollback_criteria.6', 'name': 'healthy prover instances', 'kind': 'trigger',
            'action': 'rollback', 'op': '==', 'value': 0, 'no_data': 'breach'}
    result = run(gate(server.url, {'name': 'service down', 'query': 'nothing', 'rule': rule}))
    assert result['results'][0]['status'] == 'fire'
    assert result['failed'] is True
    assert result['msg'] == '1 of 1 checks block: service down: no data, which is itself the signal (no_data: breach)'
