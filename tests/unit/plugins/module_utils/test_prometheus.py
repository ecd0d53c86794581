# -*- coding: utf-8 -*-
"""Unit tests of the Prometheus HTTP API client (module_utils/prometheus.py).

Protocol errors are produced by a tiny real HTTP server on 127.0.0.1 that
answers canned bodies (testlib.http_test_server); no mocking library.
"""

from __future__ import annotations

import base64
import json
import math

import pytest

from ansible_collections.x402.runbook.plugins.module_utils.prometheus import (
    PrometheusClient,
    PrometheusError,
    format_time,
    parse_time,
    redact_url,
    series_of,
)
from testlib import free_port, http_test_server

VECTOR = {'status': 'success', 'data': {'resultType': 'vector', 'result': [
    {'metric': {'instance': 'a'}, 'value': [1704067200, '0.93']},
    {'metric': {'instance': 'b'}, 'value': [1704067200, 'NaN']}]}}
MATRIX = {'status': 'success', 'data': {'resultType': 'matrix', 'result': [
    {'metric': {'job': 'x'}, 'values': [[1704067200, '0.1'], [1704067215, '+Inf']]}]}}
PARSE_ERROR = {'status': 'error', 'errorType': 'bad_data',
               'error': 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis'}

# path -> (status, content type, body, delay seconds)
ROUTES = {
    '/ok/api/v1/query': (200, 'application/json', json.dumps(VECTOR), 0),
    '/ok/api/v1/query_range': (200, 'application/json', json.dumps(MATRIX), 0),
    '/ok/api/v1/targets': (200, 'application/json', json.dumps(
        {'status': 'success', 'data': {'activeTargets': [{'health': 'up'}], 'droppedTargets': []}}), 0),
    '/ok/api/v1/alerts': (200, 'application/json', json.dumps(
        {'status': 'success', 'data': {'alerts': [{'labels': {'alertname': 'X'}, 'state': 'firing'}]}}), 0),
    '/html/api/v1/query': (200, 'text/html', '<html><body>Grafana login</body></html>', 0),
    '/empty/api/v1/query': (200, 'application/json', '', 0),
    '/list/api/v1/query': (200, 'application/json', '[1, 2]', 0),
    '/nodata/api/v1/query': (200, 'application/json', '{"status": "success"}', 0),
    '/crash/api/v1/query': (500, 'text/plain', 'internal server error: out of memory', 0),
    '/badquery/api/v1/query': (400, 'application/json', json.dumps(PARSE_ERROR), 0),
    '/exec/api/v1/query': (422, 'application/json', json.dumps(
        {'status': 'error', 'errorType': 'execution', 'error': 'query processing would load too many samples'}), 0),
    '/error200/api/v1/query': (200, 'application/json', json.dumps(
        {'status': 'error', 'errorType': 'timeout', 'error': 'query timed out in expression evaluation'}), 0),
    '/slow/api/v1/query': (200, 'application/json', json.dumps(VECTOR), 3),
}


def _answer(request):
    status, ctype, body, delay = ROUTES.get(request['path'], (404, 'text/plain', '404 page not found', 0))
    return status, body, {'Content-Type': ctype}, delay


@pytest.fixture(scope='module')
def server():
    with http_test_server(_answer) as httpd:
        yield httpd


@pytest.fixture
def closed_port():
    return free_port()


def client(server, prefix, **kwargs):
    return PrometheusClient(server.url + prefix, **kwargs)


# --- success paths ----------------------------------------------------------

def test_instant_query_sends_query_and_time(server):
    data = client(server, '/ok').query('up == 1', time=1704067200.5)
    assert data['resultType'] == 'vector'
    request = server.requests[-1]
    assert request['path'] == '/ok/api/v1/query'
    assert request['params']['query'] == ['up == 1']
    assert request['params']['time'] == ['1704067200.5']


def test_instant_query_without_time_lets_prometheus_use_now(server):
    client(server, '/ok').query('up')
    assert 'time' not in server.requests[-1]['params']


def test_range_query_sends_start_end_step(server):
    data = client(server, '/ok').query_range('rate(x[1m])', 1704067200, 1704067500, 15)
    assert data['resultType'] == 'matrix'
    params = server.requests[-1]['params']
    assert (params['start'], params['end'], params['step']) == (['1704067200'], ['1704067500'], ['15'])


def test_base_url_trailing_slash_and_path_prefix_are_kept(server):
    client(server, '/ok/').query('up')
    assert server.requests[-1]['path'] == '/ok/api/v1/query'


def test_targets_and_alerts(server):
    prom = client(server, '/ok')
    assert prom.targets()['activeTargets'] == [{'health': 'up'}]
    assert prom.alerts() == [{'labels': {'alertname': 'X'}, 'state': 'firing'}]


def test_headers_and_basic_auth_are_sent(server):
    client(server, '/ok', headers={'Authorization': 'Bearer s3cr3t-token'}).query('up')
    assert server.requests[-1]['headers']['Authorization'] == 'Bearer s3cr3t-token'
    client(server, '/ok', url_username='ops', url_password='pa55').query('up')
    expected = 'Basic ' + base64.b64encode(b'ops:pa55').decode()
    assert server.requests[-1]['headers']['Authorization'] == expected


def test_series_of_vector_matrix_scalar():
    assert series_of(VECTOR['data'])[0] == {'labels': {'instance': 'a'}, 'value': (1704067200.0, 0.93)}
    # NaN is passed through as a float; callers decide what it means
    assert math.isnan(series_of(VECTOR['data'])[1]['value'][1])
    matrix = series_of(MATRIX['data'])
    assert matrix[0]['values'] == [(1704067200.0, 0.1), (1704067215.0, float('inf'))]
    assert series_of({'resultType': 'scalar', 'result': [1, '2']}) == [{'labels': {}, 'value': (1.0, 2.0)}]
    assert series_of({'resultType': 'vector', 'result': []}) == []


def test_series_of_rejects_strings_and_garbage():
    with pytest.raises(PrometheusError, match='returned a string'):
        series_of({'resultType': 'string', 'result': [1, 'x']})
    with pytest.raises(PrometheusError, match='not a number'):
        series_of({'resultType': 'vector', 'result': [{'metric': {}, 'value': [1, 'abc']}]})
    with pytest.raises(PrometheusError, match='malformed'):
        series_of({'resultType': 'vector', 'result': [{'metric': {}}]})


# --- failures -----------------------------------------------------------------

def test_connection_refused(closed_port):
    url = 'http://127.0.0.1:%d' % closed_port
    with pytest.raises(PrometheusError) as info:
        PrometheusClient(url, timeout=3).query('up')
    message = str(info.value)
    assert 'cannot reach Prometheus at %s/api/v1/query' % url in message
    assert 'refused' in message.lower()
    assert info.value.error_type == 'connection'


def test_dns_failure_names_the_host():
    with pytest.raises(PrometheusError) as info:
        PrometheusClient('http://prometheus.invalid:9090', timeout=3).query('up')
    assert "cannot resolve host 'prometheus.invalid'" in str(info.value)
    assert info.value.error_type == 'connection'


def test_timeout(server):
    with pytest.raises(PrometheusError) as info:
        client(server, '/slow', timeout=1).query('up')
    assert 'did not answer within 1 s' in str(info.value)
    assert info.value.error_type == 'timeout'


def test_non_json_body_is_quoted(server):
    with pytest.raises(PrometheusError) as info:
        client(server, '/html').query('up')
    message = str(info.value)
    assert 'not JSON' in message and 'Grafana login' in message and '/html/api/v1/query' in message
    assert info.value.error_type == 'invalid_json'


def test_empty_body(server):
    with pytest.raises(PrometheusError, match=r'not JSON .*\(empty body\)'):
        client(server, '/empty').query('up')


def test_json_that_is_not_an_object(server):
    with pytest.raises(PrometheusError, match='not an object'):
        client(server, '/list').query('up')


def test_success_without_data(server):
    with pytest.raises(PrometheusError, match='without "data"'):
        client(server, '/nodata').query('up')


def test_http_500_with_text_body(server):
    with pytest.raises(PrometheusError) as info:
        client(server, '/crash').query('up')
    message = str(info.value)
    assert 'HTTP 500' in message and 'out of memory' in message
    assert info.value.status == 500 and info.value.error_type == 'http'


def test_http_404_means_wrong_base_url(server):
    with pytest.raises(PrometheusError, match=r'/nope/api/v1/query answered HTTP 404.*404 page not found'):
        client(server, '/nope').query('up')


def test_promql_parse_error_carries_error_type_and_text(server):
    with pytest.raises(PrometheusError) as info:
        client(server, '/badquery').query('sum(')
    message = str(info.value)
    assert 'rejected the request (HTTP 400): bad_data:' in message
    assert 'parse error: unclosed left parenthesis' in message
    assert info.value.error_type == 'bad_data' and info.value.status == 400


def test_execution_error_422(server):
    with pytest.raises(PrometheusError, match='execution: query processing would load too many samples'):
        client(server, '/exec').query('up')


def test_status_error_with_http_200(server):
    with pytest.raises(PrometheusError) as info:
        client(server, '/error200').query('up')
    assert 'timeout: query timed out' in str(info.value)
    assert '(HTTP' not in str(info.value)


def test_invalid_urls():
    for url in ('', 'prometheus:9090', 'ftp://host/x', 'http://'):
        with pytest.raises(PrometheusError, match='URL'):
            PrometheusClient(url)


def test_credentials_in_the_url_never_reach_messages(closed_port):
    url = 'http://ops:hunter2@127.0.0.1:%d' % closed_port
    with pytest.raises(PrometheusError) as info:
        PrometheusClient(url, timeout=3).query('up')
    assert 'hunter2' not in str(info.value) and 'ops' not in str(info.value)
    assert '***@127.0.0.1:%d' % closed_port in str(info.value)
    assert info.value.url == 'http://***@127.0.0.1:%d' % closed_port


def test_header_values_never_reach_messages(server):
    with pytest.raises(PrometheusError) as info:
        client(server, '/crash', headers={'Authorization': 'Bearer s3cr3t-token'}).query('up')
    assert 's3cr3t-token' not in str(info.value)


def test_step_must_be_positive(server):
    with pytest.raises(PrometheusError, match='step must be positive'):
        client(server, '/ok').query_range('up', 1, 2, 0)


# --- time helpers ---------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    (1704067200, 1704067200.0),
    (1704067200.25, 1704067200.25),
    ('1704067200', 1704067200.0),
    ('2024-01-01T00:00:00Z', 1704067200.0),
    ('2024-01-01T00:00:00.500Z', 1704067200.5),
    ('2024-01-01T01:00:00+01:00', 1704067200.0),
    ('2023-12-31T19:00:00-0500', 1704067200.0),
])
def test_parse_time(value, expected):
    assert parse_time(value) == pytest.approx(expected)


@pytest.mark.parametrize('value', ['yesterday', '2024-13-01T00:00:00Z', '2024-01-01', True, None, 'nan', 'inf'])
def test_parse_time_rejects(value):
    with pytest.raises(ValueError, match='time'):
        parse_time(value)


def test_format_time():
    assert format_time(1704067200) == '2024-01-01T00:00:00Z'
    assert format_time(1704067200.5) == '2024-01-01T00:00:00.500Z'


def test_redact_url():
    assert redact_url('https://u:p@prom.example:9090/x') == 'https://***@prom.example:9090/x'
    assert redact_url('http://127.0.0.1:9090') == 'http://127.0.0.1:9090'
