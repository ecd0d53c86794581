"""post_deploy_watch: trigger and gate evaluation against a Prometheus HTTP API served on
127.0.0.1, the verified sample (a fake prover and a fake snarkjs), and input errors.
The real watch runs end to end in tests/sandbox/test_stack_release.py."""
import json
import time

import pytest
import yaml

from ansible_collections.x402.runbook.plugins.modules import post_deploy_watch
from testlib import (API_KEY, FakeSmokeWorld, assert_options_documented, fake_snarkjs, http_test_server,
                     run_module_in_process, threshold_data)

RULES = threshold_data()['x402_thresholds']
TRIGGERS = ['rollback_criteria.%d' % n for n in range(1, 7)]


class FakePrometheus:
    """Answers every query with the value `values[query-substring]` (default: 0), as an instant
    vector or as a range matrix of samples every 5 s over the requested window."""

    def __init__(self, values=None):
        self.values = values or {}
        self.queries = []

    def value_for(self, query):
        for fragment, value in self.values.items():
            if fragment in query:
                return value
        return 0

    def __call__(self, request):
        params = dict((k, v[0]) for k, v in request['params'].items())
        if request['method'] == 'POST' and request['body']:
            params.update(dict(p.split('=', 1) for p in request['body'].decode().split('&')))
        query = __import__('urllib.parse').parse.unquote_plus(params.get('query', ''))
        self.queries.append(query)
        value = self.value_for(query)
        if value is None:
            return 200, {'status': 'success', 'data': {'resultType': 'vector', 'result': []}}
        if request['path'].endswith('query_range'):
            start, end = float(params['start']), float(params['end'])
            points = [[start + i * 5, str(value)] for i in range(int((end - start) / 5) + 1)]
            return 200, {'status': 'success', 'data': {'resultType': 'matrix',
                                                       'result': [{'metric': {}, 'values': points}]}}
        return 200, {'status': 'success', 'data': {'resultType': 'vector',
                                                   'result': [{'metric': {}, 'value': [time.time(), str(value)]}]}}


def watch(url, **extra):
    args = {'prometheus_url': url, 'rules': RULES, 'duration': '1s', 'interval': '1s', 'step': '5s'}
    args.update(extra)
    return run_module_in_process(post_deploy_watch, args)[0]


# Every trigger quiet, the service up (rollback_criteria.6 is "== 0 healthy provers"), gates in bounds.
HEALTHY = {'up{job="x402-prover"}': 2, 'x402_security_breach_detected': None, 'x402_integrity_check_failures': None,
           'node_cpu_seconds_total': 0.2, 'node_memory': 0.3, 'node_filesystem': 0.4,
           'proof_generation_duration_seconds_bucket': 300}


def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(post_deploy_watch.DOCUMENTATION)
    assert_options_documented(doc['options'], post_deploy_watch.argument_spec())


def test_a_quiet_release_is_go_after_the_gates():
    prometheus = FakePrometheus(HEALTHY)
    with http_test_server(prometheus) as server:
        result = watch(server.url)
    assert result['decision'] == 'GO', result['msg']
    assert result['fired'] is None
    ids = [r['id'] for r in result['results']]
    assert ids[:6] == TRIGGERS and 'post_deployment.immediate_monitoring.1' in ids
    assert not result.get('failed')


def test_a_sustained_error_rate_fires_the_rollback_with_the_scaled_window():
    prometheus = FakePrometheus(dict(HEALTHY, proof_generation_errors_total=0.5))
    with http_test_server(prometheus) as server:
        result = watch(server.url, time_scale=0.1)
    assert result['failed'] and result['decision'] == 'ROLLBACK'
    assert result['fired']['id'] == 'rollback_criteria.1'
    assert result['fired']['rule']['for'] == '30s'   # 5 minutes scaled by 0.1
    assert 'rollback_criteria.1' in result['msg'] and '0.5' in result['msg']
    # It stopped at the first evaluation: no gate was evaluated.
    assert not any(r['id'].startswith('post_deployment') for r in result['results'])


def test_an_error_rate_at_the_limit_does_not_fire():
    prometheus = FakePrometheus(dict(HEALTHY, proof_generation_errors_total=0.20))
    with http_test_server(prometheus) as server:
        result = watch(server.url, time_scale=0.1, fail_on_breach=False)
    assert result['fired'] is None
    # ... but 0.20 is far above the 0.05 gate of the first 30 minutes: NO-GO at the end.
    assert result['decision'] == 'NO-GO'
    gate = next(r for r in result['results'] if r['id'] == 'post_deployment.immediate_monitoring.1')
    assert gate['status'] == 'fail'


def test_a_gate_relaxed_to_an_expectation_warns_without_blocking():
    rules = dict(RULES, **{'post_deployment.immediate_monitoring.2': dict(
        RULES['post_deployment.immediate_monitoring.2'], kind='expectation')})
    prometheus = FakePrometheus(dict(HEALTHY, proof_generation_duration_seconds_bucket=900))
    with http_test_server(prometheus) as server:
        result = watch(server.url, rules=rules)
    assert result['decision'] == 'GO', result['msg']
    p95 = next(r for r in result['results'] if r['id'] == 'post_deployment.immediate_monitoring.2')
    assert p95['status'] == 'warn'


def test_an_invalid_sampled_proof_fires_at_once(tmp_path):
    world = FakeSmokeWorld()
    with http_test_server(FakePrometheus(HEALTHY)) as prometheus, http_test_server(world) as prover:
        result = watch(prometheus.url, duration='10m', sample={
            'url': prover.url, 'api_key': API_KEY, 'verification_key': str(tmp_path / 'vk.json'),
            'snarkjs': fake_snarkjs(tmp_path, valid=False)})
    assert result['decision'] == 'ROLLBACK' and result['fired']['id'] == 'rollback_criteria.3'
    assert result['samples'] == {'sent': 1, 'verified': 0, 'invalid': 1, 'failed': 0}
    assert len(result['timeline']) == 1        # a 10-minute watch stopped at the first sample
    assert API_KEY not in json.dumps(result)


def test_a_valid_sample_is_counted_and_the_key_never_shows(tmp_path):
    world = FakeSmokeWorld()
    with http_test_server(FakePrometheus(HEALTHY)) as prometheus, http_test_server(world) as prover:
        result = watch(prometheus.url, sample={
            'url': prover.url, 'api_key': API_KEY, 'verification_key': str(tmp_path / 'vk.json'),
            'snarkjs': fake_snarkjs(tmp_path, valid=True)})
    assert result['decision'] == 'GO', result['msg']
    assert result['samples']['verified'] == 1
    assert API_KEY not in json.dumps(result)


@pytest.mark.parametrize('extra, message', [
    ({'time_scale': 0.0}, 'time_scale: invalid value 0.0'),
    ({'time_scale': 1.5}, 'time_scale: invalid value 1.5'),
    ({'duration': 'soon'}, "duration: invalid value 'soon'"),
    ({'interval': '0s'}, "interval: invalid value '0s'"),
    ({'triggers': ['rollback_criteria.99']}, "unknown rule id 'rollback_criteria.99'"),
    ({'triggers': ['post_deployment.immediate_monitoring.1']}, "has kind 'gate', must be trigger"),
    ({'gates': ['rollback_criteria.1']}, "has kind 'trigger', must be gate or expectation"),
])
def test_bad_input_is_refused_with_field_and_value(extra, message):
    result = watch('http://127.0.0.1:9', **extra)
    assert result['failed'] and message in result['msg'], result['msg']
    assert 'Traceback' not in result['msg']


def test_unreachable_prometheus_is_never_a_go():
    result = watch('http://127.0.0.1:9')
    assert result['failed'] and result['decision'] == 'NO-GO'
    assert '127.0.0.1:9' in result['msg']


def test_gates_measure_only_the_watched_window_and_triggers_keep_theirs():
    """A 1-second watch (5 s step): the gates' [30m] and [5m] become two scrapes, [10s];
    the triggers' own windows are untouched (their `for` is what time_scale shrinks)."""
    prometheus = FakePrometheus(HEALTHY)
    with http_test_server(prometheus) as server:
        result = watch(server.url)
    assert result['decision'] == 'GO', result['msg']
    error_rate = RULES['post_deployment.immediate_monitoring.1']['query']
    assert '[30m]' in error_rate
    assert error_rate.replace('[30m]', '[10s]').strip() in [q.strip() for q in prometheus.queries]
    assert not any('[30m]' in q for q in prometheus.queries)
    trigger = RULES['rollback_criteria.1']['query']
    assert any(q.strip() == trigger.strip() for q in prometheus.queries), prometheus.queries
