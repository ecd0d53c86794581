# -*- coding: utf-8 -*-
"""x402.runbook.prover_smoke against REAL components: reference prover processes (stack/prover,
real Groth16 proofs), a real Prometheus scraping them (job x402-prover) and a real Alertmanager.

One playbook runs every case through ansible-playbook, as the deploy playbook calls the module:
all checks pass against a well-configured prover; then each negative case makes its check fail
(a wrong key, an origin that is not allowed, a release built with X402_FAULT=invalid_proof, a
service whose burst is far above the declared one, a scrape target that is down). Tests read the
registered results.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from testlib import (
    API_KEY, ORIGIN, TOOLS_BIN, TOOLS_SHARE, ToolProcess, alertmanager_argv, free_port, get_json, run_local_play,
    task_results, verify_with_snarkjs)

pytestmark = pytest.mark.integration

VERSION = '1.2.0'
BURST = 20
WRONG_KEY = 'not-the-key-of-this-service-0123456789abcdef'
CASES = ('all pass', 'wrong key', 'origin not allowed', 'invalid proof', 'rate limit too high', 'target down',
         'check mode')


@pytest.fixture(scope='module')
def smoke_prover(provers):
    """The release under test: known key, origins and burst; a slow refill so the burst shows."""
    return provers('smoke', RATE_LIMIT_BURST=BURST, RATE_LIMIT_PER_MINUTE=10, X402_VERSION=VERSION)


@pytest.fixture(scope='module')
def invalid_proof_prover(provers):
    return provers('smoke-invalid-proof', X402_FAULT='invalid_proof', X402_VERSION=VERSION)


@pytest.fixture(scope='module')
def loose_prover(provers):
    """RATE_LIMIT_BURST 1000: far above what the smoke test is told (20)."""
    return provers('smoke-loose', RATE_LIMIT_BURST=1000, RATE_LIMIT_PER_MINUTE=6000)


def _tool(path):
    if not path.is_file():
        pytest.skip('%s is missing (run scripts/bootstrap.sh)' % path)
    return path


@pytest.fixture(scope='module')
def monitoring(tmp_path_factory, smoke_prover):
    """Prometheus scraping the smoke prover (job x402-prover) and a closed port (job x402-prover-down),
    and Alertmanager; both started for this module and stopped after it."""
    base = tmp_path_factory.mktemp('smoke-monitoring')
    prom_port, am_port, closed = free_port(), free_port(), free_port()
    (base / 'prometheus.yml').write_text(
        'global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n'
        'scrape_configs:\n'
        '  - job_name: x402-prover\n'
        "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
        '  - job_name: x402-prover-down\n'
        "    static_configs: [{targets: ['127.0.0.1:%d']}]\n" % (smoke_prover.port, closed))
    (base / 'alertmanager.yml').write_text(
        'route: {receiver: blackhole, group_wait: 1s}\nreceivers: [{name: blackhole}]\n')
    prometheus = ToolProcess(
        [_tool(TOOLS_BIN / 'prometheus'), '--config.file=%s' % (base / 'prometheus.yml'), '--storage.tsdb.path=%s' % (base / 'tsdb'),
         '--web.listen-address=127.0.0.1:%d' % prom_port],
        'http://127.0.0.1:%d/-/ready' % prom_port, base / 'prometheus.log', cwd=base)
    _tool(TOOLS_BIN / 'prometheus-alertmanager')
    _tool(TOOLS_SHARE / 'prometheus' / 'alertmanager' / 'default.tmpl')
    alertmanager = ToolProcess(
        alertmanager_argv('--config.file=%s' % (base / 'alertmanager.yml'), '--storage.path=%s' % (base / 'am'),
                          '--web.listen-address=127.0.0.1:%d' % am_port, '--cluster.listen-address='),
        'http://127.0.0.1:%d/-/ready' % am_port, base / 'alertmanager.log', cwd=base)
    try:
        prometheus.start()
        alertmanager.start()
        urls = {'prometheus': 'http://127.0.0.1:%d' % prom_port, 'alertmanager': 'http://127.0.0.1:%d' % am_port}
        _wait_for_scrapes(urls['prometheus'], prometheus)
        yield urls
    finally:
        alertmanager.stop()
        prometheus.stop()


def _wait_for_scrapes(url, prometheus, timeout=30):
    """Both jobs scraped at least once: the healthy target up, the closed port down."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = get_json(url + '/api/v1/query?query=up')['data']['result']
        seen = dict((s['metric']['job'], s['value'][1]) for s in data)
        if seen.get('x402-prover') == '1' and seen.get('x402-prover-down') == '0':
            return
        time.sleep(0.5)
    pytest.fail('Prometheus did not scrape both jobs within %d s:\n%s' % (timeout, prometheus.logs()))


def _am_received(url):
    """Alertmanager's own counters of alerts received, by status."""
    counts = {}
    with urllib.request.urlopen(url + '/metrics', timeout=5) as response:  # noqa: S310 (127.0.0.1 only)
        for line in response.read().decode().splitlines():
            if line.startswith('alertmanager_alerts_received_total{'):
                status = line.split('status="', 1)[1].split('"', 1)[0]
                counts[status] = counts.get(status, 0) + float(line.rsplit(' ', 1)[1])
    return counts


@pytest.fixture(scope='module')
def runs(tmp_path_factory, circuit, smoke_prover, invalid_proof_prover, loose_prover, monitoring):
    """Every case in one playbook; {case: registered result}, plus the process and Alertmanager's counters."""
    paths = circuit['paths']
    common = {'api_key': API_KEY, 'verification_key': paths['vkey'],
              'snarkjs': '%s/.bin/snarkjs' % paths['node_modules'], 'timeout': 20}

    def url(prover):
        return 'http://127.0.0.1:%d' % prover.port

    args = {
        'all pass': dict(common, url=url(smoke_prover), allowed_origin=ORIGIN, rate_limit_burst=BURST,
                         expected_version=VERSION, prometheus_url=monitoring['prometheus'],
                         prometheus_job='x402-prover', alertmanager_url=monitoring['alertmanager'],
                         release=VERSION, run_id='itest-smoke-all-pass'),
        'wrong key': dict(common, url=url(loose_prover), api_key=WRONG_KEY, checks=['auth', 'proof']),
        'origin not allowed': dict(common, url=url(smoke_prover), allowed_origin='https://evil.example',
                                   checks=['cors']),
        'invalid proof': dict(common, url=url(invalid_proof_prover), expected_version=VERSION,
                              checks=['health', 'proof']),
        'rate limit too high': dict(common, url=url(loose_prover), rate_limit_burst=BURST, checks=['rate_limit']),
        'target down': dict(common, url=url(smoke_prover), prometheus_url=monitoring['prometheus'],
                            prometheus_job='x402-prover-down', checks=['metrics']),
        'check mode': dict(common, url=url(loose_prover), alertmanager_url=monitoring['alertmanager'],
                           checks=['health', 'alert']),
    }
    tasks = [{'name': case, 'x402.runbook.prover_smoke': args[case], 'ignore_errors': True,
              'check_mode': case == 'check mode'} for case in CASES]
    received_before = _am_received(monitoring['alertmanager'])
    process = run_local_play(tmp_path_factory.mktemp('smoke-play'), tasks)
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    found = task_results(process)
    return {'process': process, 'results': found, 'received_before': received_before,
            'received_after': _am_received(monitoring['alertmanager'])}


def by_id(result):
    """{(id, check): result entry}."""
    return dict(((r['id'], r['check']), r) for r in result['results'])


def test_all_checks_pass_against_a_good_release(runs, circuit, tmp_path):
    result = runs['results']['all pass']
    assert not result.get('failed'), result['msg']
    assert result['changed'] is False
    assert [(r['id'], r['status']) for r in result['results']] == [
        ('deployment_day.smoke_tests.1', 'pass'), ('deployment_day.smoke_tests.5', 'pass'),
        ('deployment_day.smoke_tests.5', 'pass'), ('deployment_day.smoke_tests.2', 'pass'),
        ('deployment_day.smoke_tests.3', 'pass'), ('deployment_day.smoke_tests.4', 'pass'),
        ('deployment_day.smoke_tests.6', 'pass'), ('deployment_day.smoke_tests.7', 'pass')]
    found = by_id(result)
    assert found[('deployment_day.smoke_tests.1', 'health')]['observed']['version'] == VERSION
    rate = found[('deployment_day.smoke_tests.4', 'rate_limit')]['observed']
    # 3 auth calls and the proof took tokens before the burst; the 429 comes once the bucket of 20 is empty.
    assert rate['api_calls_before'] == 4 and rate['first_429_at'] == BURST - 4 + 1 and rate['retry_after']
    assert 'on-chain verification needs the real verifier program' in found[
        ('deployment_day.smoke_tests.3', 'proof')]['detail']
    metrics = found[('deployment_day.smoke_tests.6', 'metrics')]['observed']
    assert list(metrics['targets'].values()) == [1.0] and metrics['missing'] == {}
    # The returned proof is a real one: it verifies here too, independently of the module.
    proof = result['proof']
    ok, output = verify_with_snarkjs(circuit, tmp_path, proof['proof'], proof['public_inputs'])
    assert ok, output
    assert 'actualAmount' not in json.dumps(proof) and '1500' not in proof['public_inputs']  # private inputs stay out


def test_the_test_alert_went_through_alertmanager_and_was_resolved(runs):
    alert = by_id(runs['results']['all pass'])[('deployment_day.smoke_tests.7', 'alert')]
    assert alert['observed'] == {'alertname': 'X402SmokeTest', 'release': VERSION, 'run_id': 'itest-smoke-all-pass',
                                 'posted': True, 'read_back': True, 'resolved': True}
    before, after = runs['received_before'], runs['received_after']
    assert after.get('firing', 0) >= before.get('firing', 0) + 1
    assert after.get('resolved', 0) >= before.get('resolved', 0) + 1


def test_the_api_key_never_appears_in_the_output(runs):
    process = runs['process']
    assert API_KEY not in process.stdout and API_KEY not in process.stderr
    assert WRONG_KEY not in process.stdout  # the wrong key given as api_key is a secret too (no_log)


def test_wrong_key_fails_auth_and_proof(runs):
    result = runs['results']['wrong key']
    assert result['failed'] is True
    found = by_id(result)
    auth = found[('deployment_day.smoke_tests.5', 'auth')]
    assert auth['status'] == 'fail' and auth['observed']['valid_key'] == 401
    assert found[('deployment_day.smoke_tests.2', 'proof')]['status'] == 'fail'
    assert found[('deployment_day.smoke_tests.3', 'proof')]['status'] == 'no_data'
    assert 'deployment_day.smoke_tests.5 (auth): observed' in result['msg']
    assert 'deployment_day.smoke_tests.2 (proof): observed {"http_status": 401}' in result['msg']


def test_origin_not_allowed_fails_cors(runs):
    result = runs['results']['origin not allowed']
    assert result['failed'] is True
    [cors] = result['results']
    assert cors['check'] == 'cors' and cors['status'] == 'fail'
    assert cors['observed']['allowed'] == {'origin': 'https://evil.example', 'http_status': 403, 'allow_origin': None}
    assert 'Access-Control-Allow-Origin is missing' in cors['detail']


def test_invalid_proof_release_fails_the_proof_check(runs):
    result = runs['results']['invalid proof']
    assert result['failed'] is True
    found = by_id(result)
    assert found[('deployment_day.smoke_tests.1', 'health')]['status'] == 'pass'
    assert found[('deployment_day.smoke_tests.2', 'proof')]['status'] == 'pass'  # a proof came back ...
    verified = found[('deployment_day.smoke_tests.3', 'proof')]
    assert verified['status'] == 'fail' and verified['observed']['valid'] is False  # ... that does not verify
    assert result['msg'].startswith('1 of 3 smoke checks failed: deployment_day.smoke_tests.3 (proof): observed')


def test_burst_far_above_the_declared_one_fails_rate_limit(runs):
    result = runs['results']['rate limit too high']
    assert result['failed'] is True
    [rate] = result['results']
    assert rate['status'] == 'fail'
    assert rate['observed']['requests'] == BURST + 5 and rate['observed']['first_429_at'] is None
    assert 'no 429 in 25 requests' in rate['detail']


def test_a_target_down_fails_metrics(runs):
    result = runs['results']['target down']
    assert result['failed'] is True
    [metrics] = result['results']
    assert metrics['status'] == 'fail' and 'target(s) down' in metrics['detail']


def test_check_mode_skips_the_alert_without_failing(runs):
    result = runs['results']['check mode']
    assert not result.get('failed'), result['msg']
    found = by_id(result)
    assert found[('deployment_day.smoke_tests.1', 'health')]['status'] == 'pass'
    alert = found[('deployment_day.smoke_tests.7', 'alert')]
    assert alert['status'] == 'no_data' and alert['kind'] == 'expectation'
    assert 'not run in check mode' in alert['detail']
