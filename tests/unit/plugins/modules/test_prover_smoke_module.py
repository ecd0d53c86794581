# -*- coding: utf-8 -*-
"""Unit tests of x402.runbook.prover_smoke: documentation against the argument spec, input errors
(field, value and rule; never a traceback), the result contract (results, failed, proof, changed),
check mode, and the API key absent from everything the module prints, HTTP errors included.
The module runs in-process; the services are testlib.FakeSmokeWorld behind a real HTTP server
(fixtures smoke_world and smoke_server in tests/unit/conftest.py).
Each check's verdicts are tested in module_utils/test_prover_smoke_utils.py, the real services in
tests/integration/test_prover_smoke.py.
"""

from __future__ import annotations

import json

import pytest
import yaml

from ansible_collections.x402.runbook.plugins.module_utils.thresholds import decide
from ansible_collections.x402.runbook.plugins.modules import prover_smoke
from testlib import API_KEY, ORIGIN, assert_options_documented, fake_snarkjs, free_port, run_module_in_process


@pytest.fixture
def full(smoke_server, tmp_path):
    """Every option of the deploy playbook's call, against the fake services."""
    vkey = tmp_path / 'verification_key.json'
    vkey.write_text(json.dumps({'protocol': 'groth16', 'curve': 'bn128'}))
    return {'url': smoke_server.url, 'api_key': API_KEY, 'allowed_origin': ORIGIN, 'rate_limit_burst': 20,
            'verification_key': str(vkey), 'snarkjs': fake_snarkjs(tmp_path), 'expected_version': '1.2.0',
            'prometheus_url': smoke_server.url, 'prometheus_job': 'x402-prover', 'alertmanager_url': smoke_server.url,
            'timeout': 5}


def run_raw(args, check_mode=False):
    """Run the module in-process; return (result, raw stdout)."""
    return run_module_in_process(prover_smoke, args, check_mode=check_mode)


# --- documentation -----------------------------------------------------------------------------------

def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(prover_smoke.DOCUMENTATION)
    spec = prover_smoke.argument_spec()
    assert doc['module'] == 'prover_smoke'
    assert_options_documented(doc['options'], spec)
    assert spec['api_key']['no_log'] is True
    assert doc['attributes']['check_mode']['support'] == 'full'
    assert 'NOT run in check mode' in ' '.join(doc['attributes']['check_mode']['description'])
    assert doc['attributes']['diff_mode']['support'] == 'none'


def test_examples_and_return_are_yaml():
    examples = yaml.safe_load(prover_smoke.EXAMPLES)
    assert all('x402.runbook.prover_smoke' in task for task in examples)
    returned = yaml.safe_load(prover_smoke.RETURN)
    assert {'results', 'failed', 'proof', 'msg', 'run_id'} <= set(returned)
    assert {'id', 'name', 'observed', 'rule', 'status', 'detail', 'kind'} <= set(returned['results']['contains'])


# --- input errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize('args, expected', [
    ({}, 'missing required arguments: url'),
    ({'url': 'http://127.0.0.1:1', 'checks': ['smoke']}, 'value of checks must be one or more of'),
    ({'url': 'http://127.0.0.1:1', 'rate_limit_burst': 'many'}, 'rate_limit_burst'),
    ({'url': 'http://127.0.0.1:1', 'checks': ['proof'], 'api_key': API_KEY},
     "verification_key: not set, but check 'proof' needs it"),
    ({'url': 'prover.example.com'}, "url: 'prover.example.com' is not a URL: it must be http:// or https:// with a host"),
    ({'url': 'http://127.0.0.1:1', 'timeout': 0}, 'timeout: 0 must be a positive number of seconds'),
    ({'url': 'http://127.0.0.1:1', 'checks': ['proof'], 'api_key': API_KEY, 'verification_key': '/nonexistent.json'},
     "verification_key: '/nonexistent.json' cannot be read as JSON"),
])
def test_input_errors_fail_before_any_request(args, expected):
    result, raw = run_raw(args)
    assert result['failed'] is True
    assert expected in result['msg']
    assert 'Traceback' not in raw
    assert API_KEY not in raw


# --- the result contract -----------------------------------------------------------------------------------

def test_all_pass(full, smoke_server):
    result, raw = run_raw(full)
    assert not result.get('failed'), result['msg']
    assert result['changed'] is False
    assert [r['id'] for r in result['results']] == ['deployment_day.smoke_tests.%d' % n for n in (1, 5, 5, 2, 3, 4, 6, 7)]
    assert all(r['status'] == 'pass' for r in result['results'])
    assert {'id', 'name', 'observed', 'rule', 'status', 'detail', 'kind'} <= set(result['results'][0])
    assert decide(result['results'])['decision'] == 'GO'  # the shape go_no_go reads
    assert result['proof']['public_inputs'][0] == '4242' and 'pi_a' in result['proof']['proof']
    assert result['run_id'].startswith('smoke-')
    assert API_KEY not in raw


def test_a_failed_check_fails_the_task_and_still_returns_results(full, smoke_world):
    smoke_world.burst = 1000
    smoke_world.origins = []
    result, raw = run_raw(full)
    assert result['failed'] is True and result['changed'] is False
    assert result['msg'].startswith('2 of 8 smoke checks failed: deployment_day.smoke_tests.5 (cors): observed {')
    assert 'deployment_day.smoke_tests.4 (rate_limit): observed {"answers": {"400": 25}' in result['msg']
    assert len(result['results']) == 8 and result['proof']['public_inputs']
    assert decide(result['results'])['decision'] == 'NO-GO'
    assert API_KEY not in raw


def test_check_mode_skips_the_alert(full, smoke_server):
    result, raw = run_raw(full, check_mode=True)
    assert not result.get('failed'), result['msg']
    alert = result['results'][-1]
    assert alert['id'] == 'deployment_day.smoke_tests.7' and alert['status'] == 'no_data'
    assert not [r for r in smoke_server.requests if r['path'] == '/api/v2/alerts']
    assert decide(result['results'])['decision'] == 'GO'  # a warning, not a blocker


def test_release_and_run_id_label_the_alert(full, smoke_server):
    run_raw(dict(full, checks=['alert'], release='1.2.0-rc1', run_id='deploy-42'))
    posted = json.loads(smoke_server.requests[0]['body'])[0]['labels']
    assert (posted['release'], posted['run_id']) == ('1.2.0-rc1', 'deploy-42')
    run_raw(dict(full, checks=['alert']))
    assert json.loads(smoke_server.requests[-2]['body'])[0]['labels']['release'] == '1.2.0'  # expected_version


# --- the key never comes back --------------------------------------------------------------------------------

def test_the_key_is_not_in_any_output_even_on_http_errors(full, smoke_world):
    echo = (500, 'error; request had X-API-Key: %s' % API_KEY)
    for path in ('/health', '/cache/stats', '/generate-proof', '/api/v2/alerts'):
        smoke_world.overrides[path] = echo
    smoke_world.overrides['/api/v1/query'] = (400, {'status': 'error', 'errorType': 'bad_data', 'error': 'key %s' % API_KEY})
    result, raw = run_raw(full)
    assert result['failed'] is True
    assert API_KEY not in raw
    assert '********' in raw


def test_the_key_is_not_in_any_output_when_the_service_is_unreachable(full):
    result, raw = run_raw(dict(full, url='http://127.0.0.1:%d' % free_port()))
    assert result['failed'] is True and 'cannot connect' in result['msg']
    assert API_KEY not in raw


def test_a_password_in_a_url_is_a_secret(full):
    url = 'http://ops:url-pa55word-SECRET@127.0.0.1:%d' % free_port()
    result, raw = run_raw(dict(full, prometheus_url=url, checks=['metrics']))
    assert result['failed'] is True
    assert 'url-pa55word-SECRET' not in raw
