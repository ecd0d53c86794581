"""The reference prover service as a local process on 127.0.0.1 (TARGET_SYSTEM.md HTTP contract)."""
import http.client
import json
import sqlite3
import subprocess
import sys
import time

import pytest

import stack_helpers
from stack_helpers import API_KEY, ORIGIN, auth, metric_values, sample_request

pytestmark = pytest.mark.integration

CONTRACT_METRICS = (
    'proof_generation_duration_seconds_bucket', 'proof_generation_total', 'proof_generation_errors_total',
    'proof_verification_duration_seconds_bucket', 'proof_verification_failures_total', 'active_requests',
    'circuit_constraints_total', 'witness_generation_duration_seconds_bucket', 'process_resident_memory_bytes',
)
_unique = [0]


def unique_request(**overrides):
    """A valid body no other test sent (so it is a cache miss)."""
    _unique[0] += 1
    return sample_request(signatureS=str(10 ** 6 + _unique[0] + int(time.time() * 1000) % 10 ** 6 * 1000),
                          **overrides)


# --- health, auth, routing ---------------------------------------------------------------------------
def test_health(prover, circuit):
    status, _hdrs, body = prover.get('/health')
    assert status == 200
    assert body['status'] == 'healthy' and body['service'] == 'x402-prover' and body['version'] == '9.9.9-test'
    assert body['checks'] == {'prover': 'ok', 'database': 'ok'}
    assert body['circuitConstraints'] == circuit['constraints']


@pytest.mark.parametrize('headers,expected', [
    ({}, 401),
    ({'X-API-Key': 'wrong-key'}, 401),
    ({'Authorization': 'Bearer wrong-key'}, 401),
    ({'Authorization': 'Basic ' + API_KEY}, 401),
    ({'X-API-Key': API_KEY}, 200),
    ({'Authorization': 'Bearer ' + API_KEY}, 200),
])
def test_api_key(prover, headers, expected):
    before = metric_values(prover.metrics(), 'auth_failures_total')['']
    status, resp_headers, body = prover.get('/cache/stats', headers=headers)
    assert status == expected, body
    after = metric_values(prover.metrics(), 'auth_failures_total')['']
    if expected == 401:
        assert body['error'] == 'unauthorized' and resp_headers.get('www-authenticate') == 'Bearer'
        assert after == before + 1
    else:
        assert after == before


def test_generate_proof_needs_the_key(prover):
    status, _hdrs, body = prover.post('/generate-proof', sample_request())
    assert status == 401, body


def test_keep_alive_survives_refused_posts(prover):
    conn = http.client.HTTPConnection('127.0.0.1', prover.port, timeout=30)
    try:
        for headers, expected in (({}, 401), (auth(), 400), ({}, 401), (auth(), 400)):
            conn.request('POST', '/generate-proof', body=json.dumps({'minAmount': '1'}),
                         headers=dict(headers, **{'Content-Type': 'application/json'}))
            resp = conn.getresponse()
            resp.read()
            assert resp.status == expected
        conn.request('GET', '/health')
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_health_and_metrics_are_open(prover):
    assert prover.get('/health')[0] == 200
    assert prover.get('/metrics')[0] == 200


@pytest.mark.parametrize('method,path,expected', [('GET', '/generate-proof', 405), ('GET', '/nope', 404),
                                                  ('POST', '/health', 405)])
def test_unknown_routes(prover, method, path, expected):
    status, _hdrs, _body = stack_helpers.request(prover.port, method, path, body={} if method == 'POST' else None,
                                                 headers=auth())
    assert status == expected


# --- input validation -----------------------------------------------------------------------------------
class FromNow(int):
    """A timestamp given as seconds from the moment the request is built (not from import time:
    the suite may run long after collection)."""


def at_request_time(change, now):
    return {k: str(int(now) + v) if isinstance(v, FromNow) else v for k, v in change.items()}


BAD_INPUTS = [
    ('missing field', {'minAmount': None}, 'missing_field', 'minAmount'),
    ('missing private field', {'signatureS': None}, 'missing_field', 'signatureS'),
    ('non-numeric', {'actualAmount': '12abc'}, 'invalid_number', 'actualAmount'),
    ('hex is not decimal', {'senderKeyX': '0x1f'}, 'invalid_number', 'senderKeyX'),
    ('float', {'minAmount': 10.5}, 'invalid_number', 'minAmount'),
    ('boolean', {'minAmount': True}, 'invalid_number', 'minAmount'),
    ('negative amount', {'actualAmount': '-5'}, 'invalid_number', 'actualAmount'),
    ('zero amount', {'minAmount': '0', 'actualAmount': '0'}, 'invalid_amount', 'minAmount'),
    ('zero actual amount', {'actualAmount': '0'}, 'invalid_amount', 'actualAmount'),
    ('amount below minimum', {'actualAmount': '999'}, 'insufficient_amount', 'actualAmount'),
    ('amount beyond 64 bits', {'actualAmount': str(2 ** 64)}, 'out_of_range', 'actualAmount'),
    ('key beyond the field', {'senderKeyX': str(2 ** 254)}, 'out_of_range', 'senderKeyX'),
    ('current time too old', {'currentTime': FromNow(-400), 'paymentTime': FromNow(-450)},
     'timestamp_out_of_window', 'currentTime'),
    ('current time in the future', {'currentTime': FromNow(3600)}, 'timestamp_out_of_window', 'currentTime'),
    ('payment time too old', {'paymentTime': FromNow(-301 - 60)}, 'timestamp_out_of_window', 'paymentTime'),
    ('payment after current time', {'currentTime': FromNow(-60), 'paymentTime': FromNow(-10)},
     'payment_in_future', 'paymentTime'),
    ('payment older than maxBlockAge', {'maxBlockAge': '10'}, 'payment_too_old', 'paymentTime'),
]


@pytest.mark.parametrize('name,change,code,field', BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_invalid_input_is_400(prover, name, change, code, field):
    now = time.time()
    body = sample_request(now=now, **at_request_time(change, now))
    status, _hdrs, answer = prover.post('/generate-proof', body, headers=auth())
    assert status == 400, (name, answer)
    assert answer['error'] == code and answer.get('field') == field, answer


@pytest.mark.parametrize('raw', [b'{not json', b'[1, 2]', b'"text"', b'\xff\xfe'])
def test_malformed_body_is_400(prover, raw):
    status, _hdrs, answer = prover.post('/generate-proof', raw, headers=auth())
    assert status == 400 and answer['error'] in ('invalid_json',), answer


def test_oversized_body_is_413(prover):
    status, _hdrs, answer = prover.post('/generate-proof', b'{"pad": "' + b'x' * (1024 * 1024 + 10) + b'"}',
                                        headers=auth())
    assert status == 413 and answer['error'] == 'request_too_large'


# --- proofs ---------------------------------------------------------------------------------------------
def test_generated_proof_verifies(prover, circuit, tmp_path):
    body = unique_request()
    status, _hdrs, answer = prover.post('/generate-proof', body, headers=auth())
    assert status == 200, answer
    assert set(answer) >= {'proof', 'publicInputs', 'generationTimeMs'}
    assert answer['cached'] is False and answer['generationTimeMs'] > 0
    public = answer['publicInputs']
    assert public[1:] == [body[k] for k in ('minAmount', 'recipientKeyX', 'recipientKeyY', 'maxBlockAge',
                                            'currentTime')]
    assert answer['commitment'] == public[0]
    assert answer['proof']['protocol'] == 'groth16' and answer['proof']['curve'] == 'bn128'
    # independently of the service: snarkjs against the exported verification key
    ok, out = stack_helpers.verify_with_snarkjs(circuit, tmp_path, answer['proof'], public)
    assert ok, out
    # and through the service
    status, _hdrs, verdict = prover.post('/verify-proof', {'proof': answer['proof'], 'publicInputs': public},
                                         headers=auth())
    assert status == 200 and verdict['valid'] is True
    tampered = [public[0], str(int(public[1]) - 1)] + public[2:]
    status, _hdrs, verdict = prover.post('/verify-proof', {'proof': answer['proof'], 'publicInputs': tampered},
                                         headers=auth())
    assert status == 200 and verdict['valid'] is False
    # a client's invalid proof is not the prover's failure: the rollback counter stays at 0
    assert metric_values(prover.metrics(), 'proof_verification_failures_total')[''] == 0


@pytest.mark.parametrize('body', [{}, {'proof': 'x', 'publicInputs': []}, {'proof': {}, 'publicInputs': ['1a']}])
def test_verify_proof_rejects_malformed_requests(prover, body):
    status, _hdrs, answer = prover.post('/verify-proof', body, headers=auth())
    assert status == 400, answer


def test_garbage_proof_is_invalid_not_an_error(prover):
    proof = {'pi_a': ['1', '2', '1'], 'pi_b': [['1', '2'], ['3', '4'], ['1', '0']], 'pi_c': ['1', '2', '1'],
             'protocol': 'groth16', 'curve': 'bn128'}
    status, _hdrs, answer = prover.post('/verify-proof', {'proof': proof, 'publicInputs': ['1'] * 6}, headers=auth())
    assert status == 200 and answer['valid'] is False


def test_cache_hit_on_repeat(prover):
    body = unique_request()
    _code, _hdrs, before = prover.get('/cache/stats', headers=auth())
    status, _hdrs, first = prover.post('/generate-proof', body, headers=auth())
    assert status == 200 and first['cached'] is False
    status, _hdrs, second = prover.post('/generate-proof', body, headers=auth())
    assert status == 200 and second['cached'] is True
    assert second['proof'] == first['proof'] and second['publicInputs'] == first['publicInputs']
    _code, _hdrs, after = prover.get('/cache/stats', headers=auth())
    assert after['hits'] == before['hits'] + 1 and after['misses'] == before['misses'] + 1
    assert after['size'] == before['size'] + 1 and after['maxSize'] == 1000
    text = prover.metrics()
    assert metric_values(text, 'proof_cache_hits_total')[''] >= 1


def test_metrics_names(prover):
    prover.post('/generate-proof', unique_request(), headers=auth())
    status, headers, text = prover.get('/metrics')
    assert status == 200 and headers['content-type'].startswith('text/plain; version=0.0.4')
    for name in CONTRACT_METRICS:
        assert metric_values(text, name), name
    assert '# TYPE rate_limit_exceeded_total counter' in text
    assert '# TYPE proof_generation_duration_seconds histogram' in text
    buckets = metric_values(text, 'proof_generation_duration_seconds_bucket')
    bounds = [float(k.split('"')[1]) for k in buckets if '+Inf' not in k]
    assert min(bounds) == 0.05 and max(bounds) == 2.0
    assert metric_values(text, 'proof_generation_total')[''] >= 1
    assert metric_values(text, 'circuit_constraints_total')[''] > 0
    assert metric_values(text, 'prover_build_info') == {'{version="9.9.9-test",fault="none"}': 1.0}


def test_sqlite_wal_and_records(prover):
    prover.post('/generate-proof', unique_request(), headers=auth())
    header = prover.db.read_bytes()[:100]
    assert header[:16] == b'SQLite format 3\x00'
    assert header[18] == 2 and header[19] == 2, 'file format versions 2/2 mean WAL mode'
    conn = sqlite3.connect(str(prover.db))
    try:
        assert conn.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'
        rows = conn.execute('SELECT commitment, public_inputs, self_check, version FROM proofs').fetchall()
    finally:
        conn.close()
    assert rows and all(r[3] == '9.9.9-test' for r in rows)
    assert any(r[2] == 'valid' and json.loads(r[1])[0] == r[0] for r in rows)


# --- CORS -----------------------------------------------------------------------------------------------
def test_cors_allowed_origin(prover):
    status, headers, _body = prover.get('/health', headers={'Origin': ORIGIN})
    assert status == 200 and headers.get('access-control-allow-origin') == ORIGIN
    status, headers, _body = prover.post('/generate-proof', {}, headers=auth({'Origin': ORIGIN}))
    assert status == 400 and headers.get('access-control-allow-origin') == ORIGIN


def test_cors_foreign_origin_gets_no_header(prover):
    status, headers, _body = prover.get('/health', headers={'Origin': 'https://evil.example'})
    assert status == 200 and 'access-control-allow-origin' not in headers
    status, headers, _body = prover.get('/health')
    assert 'access-control-allow-origin' not in headers


def test_cors_preflight(prover):
    status, headers, _body = stack_helpers.request(prover.port, 'OPTIONS', '/generate-proof', headers={
        'Origin': ORIGIN, 'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,x-api-key'})
    assert status == 204
    assert headers['access-control-allow-origin'] == ORIGIN
    assert 'POST' in headers['access-control-allow-methods']
    assert 'X-API-Key' in headers['access-control-allow-headers']
    status, headers, _body = stack_helpers.request(prover.port, 'OPTIONS', '/generate-proof', headers={
        'Origin': 'https://evil.example', 'Access-Control-Request-Method': 'POST'})
    assert status == 403 and 'access-control-allow-origin' not in headers


# --- rate limit and backups (their own process: burst 3, auth off, a backup every ~1 s) --------------------------
@pytest.fixture(name='limited')
def fixture_limited(provers):
    return provers('ratelimit', RATE_LIMIT_BURST='3', RATE_LIMIT_PER_MINUTE='1', ENABLE_API_AUTH='false',
                   BACKUP_INTERVAL_HOURS='0.0003')


def test_rate_limit_burst_then_429(limited):
    client = {'X-Real-IP': '10.9.9.1'}    # the peer is 127.0.0.1, a trusted proxy by default
    codes = [limited.post('/generate-proof', {}, headers=client)[0] for _i in range(3)]
    assert codes == [400, 400, 400], 'auth is off: the burst gets through to validation'
    status, headers, body = limited.post('/generate-proof', {}, headers=client)
    assert status == 429 and body['error'] == 'rate_limit_exceeded'
    assert int(headers['retry-after']) >= 1
    assert limited.get('/cache/stats', headers=client)[0] == 429
    # another client still has its burst; /health and /metrics are not limited
    assert limited.post('/generate-proof', {}, headers={'X-Real-IP': '10.9.9.2'})[0] == 400
    assert limited.get('/health', headers=client)[0] == 200
    counts = metric_values(limited.metrics(), 'rate_limit_exceeded_total')
    assert counts == {'{ip="10.9.9.1"}': 2.0}


def test_backups_are_written(limited):
    backups = limited.tmp / 'backups'
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not list(backups.glob('prover-*.db')):
        time.sleep(0.3)
    files = list(backups.glob('prover-*.db'))
    assert files, limited.logs()
    conn = sqlite3.connect(str(files[0]))
    try:
        assert conn.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == '1'
    finally:
        conn.close()
    assert metric_values(limited.metrics(), 'database_last_backup_timestamp_seconds')[''] > time.time() - 60


# --- fault modes (test-only) ---------------------------------------------------------------------------------------
def test_fault_http_500(provers):
    bad = provers('http_500', X402_FAULT='http_500')
    status, _hdrs, body = bad.post('/generate-proof', unique_request(), headers=auth())
    assert status == 500 and body['error'] == 'internal_error'
    assert bad.post('/generate-proof', {}, headers=auth())[0] == 400, 'validation still answers 400'
    assert bad.get('/health')[0] == 200
    text = bad.metrics()
    assert metric_values(text, 'proof_generation_errors_total')[''] == 1
    assert metric_values(text, 'proof_generation_total')[''] == 1
    assert metric_values(text, 'prover_build_info') == {'{version="9.9.9-test",fault="http_500"}': 1.0}


def test_fault_invalid_proof(provers, circuit, tmp_path):
    bad = provers('invalid_proof', X402_FAULT='invalid_proof')
    body = unique_request()
    status, _hdrs, answer = bad.post('/generate-proof', body, headers=auth())
    assert status == 200, answer
    ok, out = stack_helpers.verify_with_snarkjs(circuit, tmp_path, answer['proof'], answer['publicInputs'])
    assert not ok, out
    status, _hdrs, verdict = bad.post('/verify-proof', {'proof': answer['proof'], 'publicInputs': answer['publicInputs']},
                                      headers=auth())
    assert status == 200 and verdict['valid'] is False
    assert metric_values(bad.metrics(), 'proof_verification_failures_total')[''] == 1
    # invalid proofs are never cached: the repeat is generated (and counted) again
    status, _hdrs, again = bad.post('/generate-proof', body, headers=auth())
    assert status == 200 and again['cached'] is False
    assert metric_values(bad.metrics(), 'proof_verification_failures_total')[''] == 2
    assert bad.get('/health')[0] == 200


def test_fault_unhealthy(provers):
    bad = provers('unhealthy', X402_FAULT='unhealthy')
    status, _hdrs, body = bad.get('/health')
    assert status == 503 and body['status'] == 'unhealthy'
    assert body['service'] == 'x402-prover' and body['version'] == '9.9.9-test'
    assert bad.get('/metrics')[0] == 200


@pytest.mark.parametrize('env,message', [
    ({'X402_FAULT': 'explode'}, 'X402_FAULT must be one of'),
    ({'API_KEY': ''}, 'API_KEY is empty'),
    ({'RATE_LIMIT_BURST': 'many'}, 'RATE_LIMIT_BURST must be an integer'),
    ({'PROVING_KEY_PATH': '/nonexistent.zkey'}, 'PROVING_KEY_PATH: /nonexistent.zkey does not exist'),
])
def test_bad_configuration_refuses_to_start(circuit, tmp_path, env, message):
    proc = stack_helpers.ProverProcess(circuit, tmp_path, **env)
    result = subprocess.run([sys.executable, '-m', 'x402prover'], cwd=str(stack_helpers.STACK / 'prover'),
                            env=proc.env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_worker_crash_is_recovered(prover):
    children = subprocess.run(['pgrep', '-P', str(prover.proc.pid)], capture_output=True, text=True, check=False)
    pids = [int(p) for p in children.stdout.split()]
    assert len(pids) == 1, children
    subprocess.run(['kill', '-9', str(pids[0])], check=True)
    # a request right after the crash is retried on a fresh worker
    status, _hdrs, answer = prover.post('/generate-proof', unique_request(), headers=auth())
    assert status == 200, answer
    children = subprocess.run(['pgrep', '-P', str(prover.proc.pid)], capture_output=True, text=True, check=False)
    new_pids = [int(p) for p in children.stdout.split()]
    assert len(new_pids) == 1 and new_pids != pids
    # an idle worker that dies is restarted by the supervisor; /health says so meanwhile
    subprocess.run(['kill', '-9', str(new_pids[0])], check=True)
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        status, _hdrs, body = prover.get('/health')
        if status == 200 and body['checks']['prover'] == 'ok':
            break
        time.sleep(0.5)
    assert status == 200, prover.logs()[-2000:]
    status, _hdrs, answer = prover.post('/generate-proof', unique_request(), headers=auth())
    assert status == 200, answer
