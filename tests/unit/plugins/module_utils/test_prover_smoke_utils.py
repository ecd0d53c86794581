# -*- coding: utf-8 -*-
"""Unit tests of module_utils/prover_smoke.py: input rules, each check's verdict and its error paths
(bad JSON, timeouts, 5xx, dropped connections, missing headers), rate-limit boundaries on both sides,
and the API key kept out of every text. The services are faked by testlib.FakeSmokeWorld behind a
real HTTP server on 127.0.0.1 (fixtures smoke_world, smoke_server in tests/unit/conftest.py); the
real prover, Prometheus and Alertmanager are in tests/integration/test_prover_smoke.py.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from ansible_collections.x402.runbook.plugins.module_utils import prover_smoke
from ansible_collections.x402.runbook.plugins.module_utils.prover_smoke import (
    CHECKS,
    SmokeError,
    SmokeTests,
    sample_proof_request,
    scrub,
    select_checks,
    validate,
)
from testlib import API_KEY, ORIGIN, fake_snarkjs, free_port

FOREIGN = 'https://not-allowed.example'


def header(request, name):
    """A request header by name, whatever case the client gave it (urllib sends X-api-key)."""
    return dict((k.lower(), v) for k, v in request['headers'].items()).get(name.lower())


def run_command(argv):
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def vkey(tmp_path):
    path = tmp_path / 'verification_key.json'
    path.write_text(json.dumps({'protocol': 'groth16', 'curve': 'bn128', 'nPublic': 6}))
    return str(path)


def params(url, tmp_path=None, vkey=None, **extra):
    """The module's parameters with its defaults, as AnsibleModule hands them over."""
    base = {'url': url, 'api_key': API_KEY, 'api_key_header': 'X-API-Key', 'allowed_origin': ORIGIN,
            'foreign_origin': FOREIGN, 'rate_limit_burst': 20, 'rate_limit_instances': 1, 'rate_limit_margin': 5,
            'proof_request': None, 'verification_key': vkey,
            'snarkjs': fake_snarkjs(tmp_path) if tmp_path else None, 'expected_version': None,
            'prometheus_url': None, 'prometheus_job': 'x402-prover',
            'prometheus_metrics': list(prover_smoke.DEFAULT_METRICS), 'alertmanager_url': None, 'release': '1.2.0',
            'run_id': 'unit-run', 'checks': None, 'timeout': 5, 'validate_certs': True}
    base.update(extra)
    return base


def smoke(args, check_mode=False):
    checks = select_checks(args)
    validate(args, checks)
    return SmokeTests(args, checks, run_command, check_mode=check_mode).run()


def only(outcome, check):
    found = [r for r in outcome['results'] if r['check'] == check]
    assert found, outcome
    return found[0] if len(found) == 1 else found


# --- inputs ------------------------------------------------------------------------------------------

def test_default_checks_are_those_with_their_inputs():
    assert select_checks({'url': 'http://x'}) == ['health']
    args = {'url': 'http://x', 'api_key': 'k', 'allowed_origin': ORIGIN, 'verification_key': '/v', 'rate_limit_burst': 20,
            'prometheus_url': 'http://p', 'alertmanager_url': 'http://a'}
    assert select_checks(args) == list(CHECKS)
    assert CHECKS.index('rate_limit') > CHECKS.index('proof')  # the burst runs after the proof


def test_requested_checks_run_in_the_fixed_order():
    args = {'url': 'http://x', 'api_key': 'k', 'rate_limit_burst': 20, 'checks': ['rate_limit', 'auth', 'health']}
    assert select_checks(args) == ['health', 'auth', 'rate_limit']


@pytest.mark.parametrize('args, message', [
    ({'checks': ['proof'], 'api_key': 'k'}, "verification_key: not set, but check 'proof' needs it"),
    ({'checks': ['auth']}, "api_key: not set, but check 'auth' needs it"),
    ({'checks': ['rate_limit']}, "rate_limit_burst: not set, but check 'rate_limit' needs it"),
    ({'checks': ['metrics']}, "prometheus_url: not set, but check 'metrics' needs it"),
    ({'checks': ['alert']}, "alertmanager_url: not set, but check 'alert' needs it"),
    ({'checks': ['cors']}, "allowed_origin: not set, but check 'cors' needs it"),
    ({'checks': []}, 'checks: [] selects nothing'),
    ({'checks': ['smoke']}, "checks: 'smoke' is not a check"),
])
def test_a_requested_check_needs_its_inputs(args, message):
    with pytest.raises(SmokeError, match=message.replace('[', r'\[').replace(']', r'\]')):
        select_checks(dict({'url': 'http://x'}, **args))


@pytest.mark.parametrize('extra, message', [
    ({'url': 'prover:8080'}, "url: 'prover:8080' is not a URL"),
    ({'prometheus_url': 'ftp://p'}, "prometheus_url: 'ftp://p' is not a URL"),
    ({'alertmanager_url': 'http://u:s3cret@'}, 'alertmanager_url: '),
    ({'timeout': 0}, 'timeout: 0 must be a positive number'),
    ({'rate_limit_burst': 0}, "rate_limit_burst: 0 must be >= 1"),
    ({'rate_limit_instances': 0}, 'rate_limit_instances: 0 must be >= 1'),
    ({'rate_limit_margin': -1}, 'rate_limit_margin: -1 must be >= 0'),
    ({'foreign_origin': ORIGIN, 'checks': ['cors']}, 'foreign_origin: .* equals allowed_origin'),
    ({'prometheus_metrics': ['up{job="x"}']}, "prometheus_metrics: 'up{job=\"x\"}' is not a Prometheus metric name"),
])
def test_input_rules_name_field_value_and_rule(extra, message):
    args = params('http://127.0.0.1:1')
    args.update(extra)
    with pytest.raises(SmokeError, match=message) as info:
        validate(args, select_checks(args))
    assert 's3cret' not in str(info.value)


def test_verification_key_and_snarkjs_are_checked_before_any_request(tmp_path, vkey):
    args = params('http://127.0.0.1:1', tmp_path, vkey=str(tmp_path / 'missing.json'))
    with pytest.raises(SmokeError, match="verification_key: '.*missing.json' cannot be read as JSON"):
        validate(args, ['proof'])
    (tmp_path / 'pk.json').write_text('{"protocol": "plonk"}')
    with pytest.raises(SmokeError, match="is not a Groth16 verification key \\(protocol 'plonk'"):
        validate(params('http://127.0.0.1:1', tmp_path, vkey=str(tmp_path / 'pk.json')), ['proof'])
    with pytest.raises(SmokeError, match="snarkjs: '/nonexistent/snarkjs' is not an executable file"):
        validate(params('http://127.0.0.1:1', vkey=vkey, snarkjs='/nonexistent/snarkjs'), ['proof'])


def test_a_bare_snarkjs_name_is_looked_up_on_path(tmp_path, vkey, monkeypatch):
    found = fake_snarkjs(tmp_path)
    monkeypatch.setenv('PATH', str(tmp_path))
    for given in ('snarkjs', None):
        args = params('http://127.0.0.1:1', vkey=vkey, snarkjs=given)
        validate(args, ['proof'])
        assert args['snarkjs'] == found
    with pytest.raises(SmokeError, match="snarkjs: 'snarkjs-0.7' is not an executable file on PATH"):
        validate(params('http://127.0.0.1:1', vkey=vkey, snarkjs='snarkjs-0.7'), ['proof'])


def test_sample_request_is_relative_to_now():
    body = sample_proof_request(1_800_000_000)
    assert body['currentTime'] == '1800000000' and body['paymentTime'] == '1799999940'
    assert int(body['actualAmount']) >= int(body['minAmount'])


# --- a good service --------------------------------------------------------------------------------------

def test_every_prover_check_passes_and_the_burst_comes_last(smoke_server, smoke_world, tmp_path, vkey):
    outcome = smoke(params(smoke_server.url, tmp_path, vkey=vkey, expected_version='1.2.0'))
    assert outcome['failed'] is False and outcome['msg'] == 'all 6 smoke checks passed'
    assert [(r['id'], r['check'], r['status']) for r in outcome['results']] == [
        ('deployment_day.smoke_tests.1', 'health', 'pass'), ('deployment_day.smoke_tests.5', 'auth', 'pass'),
        ('deployment_day.smoke_tests.5', 'cors', 'pass'), ('deployment_day.smoke_tests.2', 'proof', 'pass'),
        ('deployment_day.smoke_tests.3', 'proof', 'pass'), ('deployment_day.smoke_tests.4', 'rate_limit', 'pass')]
    calls = [(r['method'], r['path']) for r in smoke_server.requests]
    assert calls[:7] == [('GET', '/health'), ('GET', '/cache/stats'), ('POST', '/generate-proof'),
                         ('POST', '/generate-proof'), ('OPTIONS', '/generate-proof'), ('OPTIONS', '/generate-proof'),
                         ('POST', '/generate-proof')]
    assert all(c == ('POST', '/generate-proof') for c in calls[7:])
    # the valid proof request was the last one with a body before the burst's empty ones
    assert json.loads(smoke_server.requests[6]['body'])['minAmount'] == '1000'
    assert all(r['body'] == b'{}' for r in smoke_server.requests[7:])
    assert outcome['proof']['public_inputs'][1:3] == ['1000', '1234567890']
    assert 'actualAmount' not in json.dumps(outcome['proof'])
    args = (tmp_path / 'args.txt').read_text().split()
    assert args[:3] == ['groth16', 'verify', vkey]


def test_known_inputs_are_sent_as_given(smoke_server, smoke_world, tmp_path, vkey):
    known = dict(sample_proof_request(1_800_000_000), minAmount='777')
    outcome = smoke(params(smoke_server.url, tmp_path, vkey=vkey, proof_request=known, checks=['proof']))
    assert json.loads(smoke_server.requests[0]['body']) == known
    assert only(outcome, 'proof')[0]['observed']['public_inputs'][1] == '777'


# --- health ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize('answer, status, detail', [
    ((503, {'status': 'unhealthy', 'version': '1.2.0'}), 'fail', "HTTP 503, status 'unhealthy'"),
    ((200, {'status': 'healthy', 'version': '1.1.9'}), 'fail', "version '1.1.9', expected '1.2.0'"),
    ((200, '<html>502 Bad Gateway</html>'), 'fail', 'not JSON: <html>502 Bad Gateway</html>'),
    ((200, ''), 'fail', 'not JSON: (empty body)'),
    ((200, {'status': 'healthy', 'version': '1.2.0'}), 'pass', '200 healthy, version 1.2.0'),
])
def test_health(smoke_server, smoke_world, answer, status, detail):
    smoke_world.overrides['/health'] = answer
    result = only(smoke(params(smoke_server.url, checks=['health'], expected_version='1.2.0')), 'health')
    assert result['status'] == status and detail in result['detail'], result


def test_timeout_and_dropped_connection(smoke_server, smoke_world):
    smoke_world.overrides['/health'] = (200, {'status': 'healthy'}, None, 3)
    result = only(smoke(params(smoke_server.url, checks=['health'], timeout=1)), 'health')
    assert result['status'] == 'fail' and 'no answer within 1 s' in result['detail']
    smoke_world.overrides['/health'] = None
    result = only(smoke(params(smoke_server.url, checks=['health'])), 'health')
    assert result['status'] == 'fail' and 'the connection broke without a valid answer' in result['detail']


def test_unreachable_service_fails_every_prover_check_without_retrying(tmp_path, vkey):
    url = 'http://127.0.0.1:%d' % free_port()
    outcome = smoke(params(url, tmp_path, vkey=vkey))
    assert outcome['failed'] is True
    statuses = [(r['check'], r['status']) for r in outcome['results']]
    assert statuses == [('health', 'fail'), ('auth', 'fail'), ('cors', 'fail'), ('proof', 'fail'),
                        ('proof', 'no_data'), ('rate_limit', 'fail')]
    assert 'cannot connect' in outcome['results'][0]['detail']
    assert 'not attempted' in outcome['results'][1]['detail']
    assert outcome['results'][-1]['observed']['requests'] == 0


# --- auth and CORS -----------------------------------------------------------------------------------------

def test_auth_fails_when_a_missing_key_is_accepted(smoke_server, smoke_world):
    smoke_world.accept_missing_key = True
    result = only(smoke(params(smoke_server.url, checks=['auth'])), 'auth')
    assert result['status'] == 'fail'
    assert result['observed'] == {'valid_key': 200, 'missing_key': 200, 'wrong_key': 401}
    assert 'missing key got HTTP 200 on POST /generate-proof, expected 401' in result['detail']
    wrong = header(smoke_server.requests[-1], 'X-API-Key')
    assert wrong and wrong != API_KEY and header(smoke_server.requests[-2], 'X-API-Key') is None


def test_auth_uses_the_configured_header(smoke_server, smoke_world):
    smoke(params(smoke_server.url, checks=['auth'], api_key_header='X-Other-Key'))
    assert header(smoke_server.requests[0], 'X-Other-Key') == API_KEY


@pytest.mark.parametrize('origins, status, detail', [
    ([], 'fail', 'Access-Control-Allow-Origin is missing (HTTP 403)'),
    (['*'], 'fail', "foreign origin https://not-allowed.example is allowed: Access-Control-Allow-Origin '*'"),
    ([ORIGIN, FOREIGN], 'fail', 'foreign origin https://not-allowed.example is allowed'),
    ([ORIGIN], 'pass', 'refused (HTTP 403, no Access-Control-Allow-Origin)'),
])
def test_cors(smoke_server, smoke_world, origins, status, detail):
    smoke_world.origins = origins
    result = only(smoke(params(smoke_server.url, checks=['cors'])), 'cors')
    assert result['status'] == status and detail in result['detail'], result
    assert header(smoke_server.requests[0], 'Access-Control-Request-Method') == 'POST'


# --- proof ------------------------------------------------------------------------------------------------

def test_a_proof_that_does_not_verify_fails_item_3(smoke_server, smoke_world, tmp_path, vkey):
    args = params(smoke_server.url, vkey=vkey, snarkjs=fake_snarkjs(tmp_path, valid=False), checks=['proof'])
    generated, verified = only(smoke(args), 'proof')
    assert generated['status'] == 'pass'
    assert verified['status'] == 'fail' and verified['observed']['valid'] is False
    assert 'does NOT verify' in verified['detail'] and 'Invalid proof' in verified['detail']
    assert 'on-chain verification needs the real verifier program' in verified['detail']


def test_a_proof_for_other_inputs_fails_item_2(smoke_server, smoke_world, tmp_path, vkey):
    smoke_world.public_inputs = ['4242', '1', '2', '3', '4', '5']
    generated, verified = only(smoke(params(smoke_server.url, tmp_path, vkey=vkey, checks=['proof'])), 'proof')
    assert generated['status'] == 'fail' and "do not carry the request's minAmount=1000" in generated['detail']
    assert verified['status'] == 'pass'  # it is a valid proof, of something else


@pytest.mark.parametrize('answer, detail', [
    ((500, {'error': 'internal_error'}), 'HTTP 500: {"error": "internal_error"}'),
    ((200, {'publicInputs': []}), 'HTTP 200 without "proof" and "publicInputs"'),
    ((200, 'not json'), 'not JSON: not json'),
])
def test_generation_errors_fail_item_2_and_leave_item_3_without_data(smoke_server, smoke_world, tmp_path, vkey, answer, detail):
    smoke_world.overrides['/generate-proof'] = answer
    outcome = smoke(params(smoke_server.url, tmp_path, vkey=vkey, checks=['proof']))
    generated, verified = only(outcome, 'proof')
    assert generated['status'] == 'fail' and detail in generated['detail']
    assert verified['status'] == 'no_data' and verified['kind'] == 'gate'  # fails closed
    assert outcome['failed'] is True and outcome['proof'] == {}
    assert not (tmp_path / 'args.txt').exists()  # snarkjs was not run


# --- rate limit: boundaries on both sides ---------------------------------------------------------------

@pytest.mark.parametrize('service_burst, status', [(24, 'pass'), (25, 'fail')])
def test_the_429_must_come_within_burst_plus_margin(smoke_server, smoke_world, service_burst, status):
    smoke_world.burst = service_burst   # the 429 is request service_burst + 1; the module sends at most 20 + 5
    result = only(smoke(params(smoke_server.url, checks=['rate_limit'])), 'rate_limit')
    assert result['status'] == status, result
    assert result['observed']['requests'] == 25
    assert result['observed']['first_429_at'] == (25 if status == 'pass' else None)


@pytest.mark.parametrize('service_burst, status', [(19, 'warn'), (20, 'pass')])
def test_a_429_before_the_declared_burst_warns(smoke_server, smoke_world, service_burst, status):
    smoke_world.burst = service_burst
    result = only(smoke(params(smoke_server.url, checks=['rate_limit'])), 'rate_limit')
    assert result['status'] == status
    assert result['kind'] == ('expectation' if status == 'warn' else 'gate')
    if status == 'warn':
        assert 'fewer than RATE_LIMIT_BURST 20 minus the 0 API call(s) made before' in result['detail']


def test_earlier_api_calls_are_counted_against_the_bucket(smoke_server, smoke_world, tmp_path, vkey):
    """auth (3) and the proof (1) took 4 tokens: a 429 after 16 more is what a burst of 20 gives."""
    outcome = smoke(params(smoke_server.url, tmp_path, vkey=vkey, checks=['auth', 'proof', 'rate_limit']))
    result = only(outcome, 'rate_limit')
    assert result['status'] == 'pass'
    assert result['observed']['api_calls_before'] == 4 and result['observed']['first_429_at'] == 17


def test_instances_multiply_the_burst(smoke_server, smoke_world):
    smoke_world.burst = 44  # two instances of 20 + margin 5 = 45 requests
    result = only(smoke(params(smoke_server.url, checks=['rate_limit'], rate_limit_instances=2)), 'rate_limit')
    assert result['status'] == 'pass' and result['observed']['first_429_at'] == 45


def test_a_429_without_retry_after_warns(smoke_server, smoke_world):
    smoke_world.retry_after = None
    outcome = smoke(params(smoke_server.url, checks=['rate_limit']))
    result = only(outcome, 'rate_limit')
    assert result['status'] == 'warn' and 'without a Retry-After header' in result['detail']
    assert outcome['failed'] is False
    assert outcome['msg'].startswith('no smoke check failed; 0 of 1 passed, 1 to look at: '
                                     'deployment_day.smoke_tests.4 (rate_limit) warn: 429 at request 21')


def test_the_burst_stops_at_a_transport_error(smoke_server, smoke_world):
    smoke_world.overrides['/generate-proof'] = None
    result = only(smoke(params(smoke_server.url, checks=['rate_limit'])), 'rate_limit')
    assert result['status'] == 'fail' and 'the burst stopped after 0 request(s)' in result['detail']
    assert len(smoke_server.requests) == 1


# --- metrics -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize('change, status, detail', [
    ({}, 'pass', "2 target(s) of job 'x402-prover' up, each exporting the 5 metrics"),
    ({'targets': {'prover-1:8080': '1', 'prover-2:8080': '0'}}, 'fail', 'target(s) down: prover-2:8080'),
    ({'missing': {'prover-2:8080': ['active_requests']}}, 'fail', 'metrics missing: prover-2:8080: active_requests'),
    ({'targets': {}}, 'fail', "Prometheus has no target of job 'x402-prover'"),
])
def test_metrics(smoke_server, smoke_world, change, status, detail):
    for name, value in change.items():
        setattr(smoke_world, name, value)
    result = only(smoke(params(smoke_server.url, prometheus_url=smoke_server.url, checks=['metrics'])), 'metrics')
    assert result['status'] == status and detail in result['detail'], result
    query = smoke_server.requests[0]['params']['query'][0]
    assert query == 'up{job="x402-prover"}'


def test_prometheus_errors_fail_metrics(smoke_server, smoke_world):
    smoke_world.overrides['/api/v1/query'] = (500, 'out of memory')
    result = only(smoke(params(smoke_server.url, prometheus_url=smoke_server.url, checks=['metrics'])), 'metrics')
    assert result['status'] == 'fail' and 'HTTP 500' in result['detail'] and 'out of memory' in result['detail']


# --- alert -------------------------------------------------------------------------------------------------

def test_the_alert_is_posted_read_back_and_resolved(smoke_server, smoke_world):
    result = only(smoke(params(smoke_server.url, alertmanager_url=smoke_server.url, checks=['alert'])), 'alert')
    assert result['status'] == 'pass', result
    posts = [json.loads(r['body'])[0] for r in smoke_server.requests if r['method'] == 'POST']
    assert len(posts) == 2
    assert posts[0]['labels'] == {'alertname': 'X402SmokeTest', 'severity': 'none', 'release': '1.2.0',
                                  'run_id': 'unit-run', 'source': 'x402.runbook.prover_smoke'}
    assert posts[1]['startsAt'] == posts[0]['startsAt'] and posts[1]['endsAt'] < posts[0]['endsAt']
    gets = [r for r in smoke_server.requests if r['method'] == 'GET']
    assert gets[0]['params']['filter'] == ['alertname="X402SmokeTest"', 'run_id="unit-run"']


@pytest.mark.parametrize('change, detail', [
    ({'am_lists': False}, 'posted, but GET /api/v2/alerts does not list it within 1 s'),
    ({'am_resolves': False}, 'read back, but still active 1 s after it was resolved'),
    ({'overrides': {'/api/v2/alerts': (400, 'end time must not be before start time')}},
     'POST /api/v2/alerts: HTTP 400: end time must not be before start time'),
])
def test_alert_failures(smoke_server, smoke_world, change, detail):
    for name, value in change.items():
        setattr(smoke_world, name, value)
    result = only(smoke(params(smoke_server.url, alertmanager_url=smoke_server.url, checks=['alert'], timeout=1)), 'alert')
    assert result['status'] == 'fail' and detail in result['detail'], result


def test_check_mode_does_not_post_the_alert(smoke_server, smoke_world):
    outcome = smoke(params(smoke_server.url, alertmanager_url=smoke_server.url, checks=['health', 'alert']), check_mode=True)
    alert = only(outcome, 'alert')
    assert alert['status'] == 'no_data' and alert['kind'] == 'expectation'
    assert outcome['failed'] is False
    assert [r['path'] for r in smoke_server.requests] == ['/health']


# --- the message and the key -----------------------------------------------------------------------------

def test_failure_message_lists_failed_ids_with_observed_values(smoke_server, smoke_world):
    smoke_world.burst = 100
    smoke_world.origins = []
    outcome = smoke(params(smoke_server.url, checks=['cors', 'rate_limit']))
    assert outcome['failed'] is True
    assert outcome['msg'].startswith('2 of 2 smoke checks failed: deployment_day.smoke_tests.5 (cors): observed {')
    assert '; deployment_day.smoke_tests.4 (rate_limit): observed {"answers": {"400": 25}' in outcome['msg']


def test_the_key_is_scrubbed_from_echoed_bodies_and_errors(smoke_server, smoke_world, tmp_path, vkey):
    """A service that echoes the request headers in its error bodies: the key still never comes back.
    No Ansible masking here: this is the module_utils' own scrubbing."""
    echo = (500, 'upstream failed; request headers: X-API-Key: %s' % API_KEY)
    smoke_world.overrides['/generate-proof'] = echo
    smoke_world.overrides['/api/v2/alerts'] = (502, 'bad gateway for key %s' % API_KEY)
    outcome = smoke(params(smoke_server.url, tmp_path, vkey=vkey, alertmanager_url=smoke_server.url))
    text = json.dumps(outcome)
    assert API_KEY not in text
    assert 'X-API-Key: ********' in text
    assert header(smoke_server.requests[1], 'X-API-Key') == API_KEY  # it was sent


def test_scrub():
    assert scrub('a key k3y and k3y', ['k3y']) == 'a key ******** and ********'
    assert scrub('nothing', ['']) == 'nothing'
