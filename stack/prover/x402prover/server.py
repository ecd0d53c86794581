"""HTTP service of the reference prover (standard library http.server).

Routes (spec/TARGET_SYSTEM.md, "Prover HTTP contract"):
  POST /generate-proof   API key, rate limit; 200 proof | 400 | 401 | 413 | 429 | 5xx
  POST /verify-proof     API key, rate limit; {"proof", "publicInputs"} -> {"valid": bool}
  GET  /cache/stats      API key, rate limit; proof cache statistics
  GET  /health           open; 200 healthy | 503 unhealthy
  GET  /metrics          open; Prometheus text format
  OPTIONS *              CORS preflight (ALLOWED_ORIGINS only)
"""
import hmac
import http.server
import ipaddress
import json
import pathlib
import socket
import ssl
import sys
import threading
import time

from . import inputs
from .config import Config, ConfigError
from .metrics import CONTENT_TYPE, Registry, add_process_metrics
from .snark import Pool, ProverError, WitnessError
from .store import Database, ProofCache, RateLimiter, request_key

LEVELS = {'debug': 10, 'info': 20, 'warn': 30, 'warning': 30, 'error': 40}
API_ROUTES = {('POST', '/generate-proof'), ('POST', '/verify-proof'), ('GET', '/cache/stats')}
OPEN_ROUTES = {('GET', '/health'), ('GET', '/metrics')}
BN254_Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583


def _load_r1cs():
    """stack/tools/r1cs.py: beside this package in the repo and in the image."""
    tools = pathlib.Path(__file__).resolve().parents[2] / 'tools'
    if str(tools) not in sys.path:
        sys.path.append(str(tools))
    import r1cs  # pylint: disable=import-outside-toplevel,import-error
    return r1cs


class Logger:
    def __init__(self, level, fmt, stream=None):
        self.level, self.fmt = LEVELS[level], fmt
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def __call__(self, level, msg, **fields):
        if LEVELS[level] < self.level:
            return
        stamp = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime()) + '.%03dZ' % (time.time() % 1 * 1000)
        if self.fmt == 'json':
            line = json.dumps(dict({'time': stamp, 'level': level, 'msg': msg}, **fields), default=str)
        else:
            line = '%s %-5s %s%s' % (stamp, level.upper(), msg,
                                     ''.join(' %s=%s' % (k, v) for k, v in fields.items()))
        with self._lock:
            self.stream.write(line + '\n')
            self.stream.flush()


class Prover:
    """Everything a request needs: configuration, metrics, cache, limiter, database, workers."""

    def __init__(self, cfg, log):
        self.cfg, self.log = cfg, log
        self.started = time.time()
        self.registry = Registry()
        reg = self.registry
        self.m_duration = reg.histogram('proof_generation_duration_seconds',
                                        'Time to generate a proof (witness + Groth16 prove), cache misses only.',
                                        (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0))
        self.m_total = reg.counter('proof_generation_total',
                                   'Valid /generate-proof requests handled (cache hits included).')
        self.m_errors = reg.counter('proof_generation_errors_total',
                                    'Valid /generate-proof requests that ended in a server error (5xx).')
        self.m_verify_duration = reg.histogram('proof_verification_duration_seconds',
                                               'Time to verify a Groth16 proof against the verification key.',
                                               (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))
        self.m_verify_failures = reg.counter('proof_verification_failures_total',
                                             'Proofs this service generated that failed its own verification.')
        self.m_verify_requests = reg.counter('proof_verify_requests_total',
                                             'POST /verify-proof requests by result.', ('result',))
        self.m_rate_limited = reg.counter('rate_limit_exceeded_total', 'Requests refused with 429, per client.',
                                          ('ip',))
        self.m_auth_failures = reg.counter('auth_failures_total', 'API requests refused with 401.')
        self.m_active = reg.gauge('active_requests', 'Requests being handled now.')
        self.m_queue = reg.gauge('proof_queue_depth', 'Requests waiting for a free snark worker.')
        self.m_constraints = reg.gauge('circuit_constraints_total', 'Constraints of the loaded circuit (R1CS header).')
        self.m_witness = reg.histogram('witness_generation_duration_seconds', 'Time to compute the witness.',
                                       (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5))
        self.m_cache_hits = reg.counter('proof_cache_hits_total', 'Proof cache hits.')
        self.m_cache_misses = reg.counter('proof_cache_misses_total', 'Proof cache misses.')
        self.m_http = reg.counter('http_requests_total', 'HTTP requests by method, route and status code.',
                                  ('method', 'path', 'code'))
        self.m_backup_failures = reg.counter('database_backup_failures_total', 'Failed database backups.')
        build = reg.gauge('prover_build_info', 'Version and fault mode of this build (value 1).',
                          ('version', 'fault'))
        build.set(1, version=cfg.version, fault=cfg.fault)
        reg.callback('proof_cache_entries', 'Entries in the proof cache.', lambda: len(self.cache))
        reg.callback('database_size_bytes', 'SQLite database size (main file + WAL + shm).',
                     lambda: self.db.size_bytes())  # pylint: disable=unnecessary-lambda
        reg.callback('database_proofs_recorded', 'Rows in the proofs table.', lambda: self.db.count())  # pylint: disable=unnecessary-lambda
        reg.callback('database_last_backup_timestamp_seconds', 'Unix time of the last successful backup.',
                     lambda: self.db.last_backup)
        reg.callback('snark_workers_up', 'snark worker processes running.',
                     lambda: sum(1 for w in self.pool.workers if w.alive()))
        add_process_metrics(reg, self.started)

        self.constraints = None
        if cfg.circuit_r1cs.is_file():
            self.constraints = _load_r1cs().constraint_count(cfg.circuit_r1cs)
            self.m_constraints.set(self.constraints)
        else:
            log('warn', 'no .r1cs beside the circuit: circuit_constraints_total stays 0', path=str(cfg.circuit_r1cs))
        self.cache = ProofCache(cfg.cache_size, cfg.cache_ttl_seconds)
        self.limiter = RateLimiter(cfg.rate_limit_per_minute, cfg.rate_limit_burst)
        self.db = Database(cfg.database_path, cfg.database_max_connections)
        self.pool = Pool(cfg, log, on_wait=self.m_queue.inc)
        self._stop = threading.Event()

    def start(self):
        self.pool.start()
        threading.Thread(target=self._supervise, daemon=True, name='supervisor').start()
        if self.cfg.backup_interval_hours > 0:
            threading.Thread(target=self._backups, daemon=True, name='backups').start()

    def stop(self):
        self._stop.set()
        self.pool.stop()
        self.db.close()

    def _supervise(self):
        while not self._stop.wait(2.0):
            self.pool.revive()

    def _backups(self):
        interval = self.cfg.backup_interval_hours * 3600
        while not self._stop.wait(interval):
            try:
                path = self.db.backup(self.cfg.backup_path)
                self.log('info', 'database backup written', path=str(path))
            except (OSError, RuntimeError) as exc:
                self.m_backup_failures.inc()
                self.log('error', 'database backup failed', error=str(exc))

    # -- operations -------------------------------------------------------------------------------
    def health(self):
        checks = {'prover': 'ok' if self.pool.healthy() else 'down'}
        try:
            checks['database'] = self.db.check()
        except Exception as exc:  # pylint: disable=broad-except  # any database failure is "unhealthy"
            checks['database'] = 'error: %s' % exc
        if self.cfg.fault == 'unhealthy':
            checks['fault'] = 'unhealthy (X402_FAULT, test-only)'
        healthy = all(v == 'ok' for k, v in checks.items() if k != 'fault') and self.cfg.fault != 'unhealthy'
        body = {
            'status': 'healthy' if healthy else 'unhealthy',
            'service': self.cfg.service,
            'version': self.cfg.version,
            'mode': self.cfg.gin_mode,
            'uptimeSeconds': round(time.time() - self.started, 1),
            'circuitConstraints': self.constraints,
            'checks': checks,
        }
        return (200 if healthy else 503), body

    def _verify(self, proof, public_signals):
        answer = self.pool.verify(proof, public_signals)
        self.m_verify_duration.observe(answer.get('verifyMs', 0.0) / 1000.0)
        return bool(answer.get('valid'))

    def generate(self, body, client_ip):
        try:
            circuit_input = inputs.validate(body, self.cfg.timestamp_window_seconds, self.cfg.clock_skew_seconds)
        except inputs.InvalidInput as exc:
            return 400, exc.as_dict()
        self.m_total.inc()
        if self.cfg.fault == 'http_500':
            self.m_errors.inc()
            return 500, {'error': 'internal_error', 'message': 'injected fault http_500 (X402_FAULT, test-only)'}
        key = request_key(circuit_input)
        cached = self.cache.get(key)
        if cached is not None:
            self.m_cache_hits.inc()
            result = dict(cached, cached=True, generationTimeMs=0)
            self._record(key, result, 0.0, True, 'cached', client_ip)
            return 200, result
        self.m_cache_misses.inc()
        started = time.monotonic()
        try:
            answer = self.pool.prove(circuit_input)
        except WitnessError as exc:
            return 400, {'error': 'constraint_violation', 'message': 'the inputs violate the circuit: %s' % exc}
        except ProverError as exc:
            self.m_errors.inc()
            self.log('error', 'proof generation failed', error=str(exc))
            return 503, {'error': 'prover_unavailable', 'message': str(exc)}
        elapsed = time.monotonic() - started
        self.m_witness.observe(answer['witnessMs'] / 1000.0)
        proof, public = answer['proof'], answer['publicSignals']
        if self.cfg.fault == 'invalid_proof':
            proof = corrupt(proof)
        self_check = 'skipped'
        if self.cfg.verify_generated or self.cfg.fault == 'invalid_proof':
            try:
                valid = self._verify(proof, public)
            except ProverError as exc:
                self.m_errors.inc()
                return 503, {'error': 'prover_unavailable', 'message': str(exc)}
            self_check = 'valid' if valid else 'invalid'
            if not valid:
                self.m_verify_failures.inc()
                self.log('error', 'generated proof failed verification', fault=self.cfg.fault)
                if self.cfg.fault != 'invalid_proof':
                    self.m_errors.inc()
                    return 500, {'error': 'proof_self_check_failed',
                                 'message': 'the generated proof does not verify; it was not returned'}
        self.m_duration.observe(elapsed)
        result = {
            'proof': proof,
            'publicInputs': public,
            'commitment': public[0],
            'generationTimeMs': round(elapsed * 1000.0, 1),
            'cached': False,
        }
        if self_check == 'valid' or (self_check == 'skipped' and self.cfg.fault == 'none'):
            self.cache.put(key, {k: result[k] for k in ('proof', 'publicInputs', 'commitment')})
        self._record(key, result, result['generationTimeMs'], False, self_check, client_ip)
        return 200, result

    def _record(self, key, result, ms, cached, self_check, client_ip):
        try:
            self.db.record(created_at=time.time(), request_hash=key, commitment=result['commitment'],
                           public_inputs=json.dumps(result['publicInputs']), generation_ms=ms,
                           cached=int(cached), self_check=self_check, client_ip=client_ip,
                           version=self.cfg.version)
        except Exception as exc:  # pylint: disable=broad-except  # the proof is still good; say so in the log
            self.log('error', 'could not record the proof in the database', error=str(exc))

    def verify_request(self, body):
        if not isinstance(body, dict) or not isinstance(body.get('proof'), dict):
            return 400, {'error': 'invalid_body', 'message': 'expected {"proof": {...}, "publicInputs": [...]}'}
        public = body.get('publicInputs', body.get('publicSignals'))
        if not isinstance(public, list) or not all(isinstance(x, str) and inputs.DECIMAL.match(x) for x in public):
            return 400, {'error': 'invalid_public_inputs', 'message': 'publicInputs must be a list of decimal strings'}
        started = time.monotonic()
        try:
            valid = self._verify(body['proof'], public)
        except ProverError as exc:
            return 503, {'error': 'prover_unavailable', 'message': str(exc)}
        self.m_verify_requests.inc(result='valid' if valid else 'invalid')
        return 200, {'valid': valid, 'verificationTimeMs': round((time.monotonic() - started) * 1000.0, 1)}


def corrupt(proof):
    """The proof with pi_a negated: still a curve point, so it parses, but it does not verify."""
    bad = json.loads(json.dumps(proof))
    bad['pi_a'][1] = str((BN254_Q - int(bad['pi_a'][1])) % BN254_Q)
    return bad


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'x402-reference-prover'
    sys_version = ''
    disable_nagle_algorithm = True
    prover = None  # set by make_server

    # -- plumbing -----------------------------------------------------------------------------------
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin  # BaseHTTPRequestHandler API
        pass

    def client_ip(self):
        peer = self.client_address[0]
        try:
            trusted = any(ipaddress.ip_address(peer) in net for net in self.prover.cfg.trusted_proxies)
        except ValueError:
            trusted = False
        if trusted:
            real = self.headers.get('X-Real-IP')
            if real:
                return real.strip()
            forwarded = self.headers.get('X-Forwarded-For')
            if forwarded:
                return forwarded.split(',')[-1].strip()
        return peer

    def cors_headers(self):
        origin = self.headers.get('Origin')
        allowed = self.prover.cfg.allowed_origins
        if origin and (origin in allowed or '*' in allowed):
            return {'Access-Control-Allow-Origin': origin, 'Vary': 'Origin'}
        return {'Vary': 'Origin'} if origin else {}

    def send(self, code, body, headers=None, content_type='application/json'):
        payload = body if isinstance(body, bytes) else (json.dumps(body) + '\n').encode()
        self.send_response(code)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(payload)))
        self.send_header('X-Content-Type-Options', 'nosniff')
        if self.prover.cfg.enable_hsts:
            self.send_header('Strict-Transport-Security', 'max-age=31536000; includeSubDomains')
        for name, value in dict(self.cors_headers(), **(headers or {})).items():
            self.send_header(name, value)
        if self.command == 'POST' and not self._body_read and self.headers.get('Content-Length', '0') != '0':
            # answered without reading the body (401, 429, 413): the connection cannot be reused
            self.close_connection = True
            self.send_header('Connection', 'close')
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(payload)
        self._code = code

    def read_json(self):
        """(body, None) or (None, (code, error body))."""
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            return None, (411, {'error': 'length_required', 'message': 'send Content-Length, not chunked bodies'})
        try:
            length = int(self.headers.get('Content-Length', '0'))
        except ValueError:
            return None, (400, {'error': 'invalid_content_length', 'message': 'bad Content-Length'})
        if length > self.prover.cfg.max_request_bytes:
            self.close_connection = True
            return None, (413, {'error': 'request_too_large',
                                'message': 'the body exceeds MAX_REQUEST_SIZE_MB (%s)' % self.prover.cfg.max_request_size_mb})
        raw = self.rfile.read(length) if length > 0 else b''
        self._body_read = True
        try:
            return json.loads(raw.decode('utf-8')), None
        except (UnicodeDecodeError, ValueError):
            return None, (400, {'error': 'invalid_json', 'message': 'the body is not valid JSON'})

    def authorized(self):
        cfg = self.prover.cfg
        if not cfg.enable_api_auth:
            return True
        supplied = self.headers.get('X-API-Key', '')
        auth = self.headers.get('Authorization', '')
        if not supplied and auth[:7].lower() == 'bearer ':
            supplied = auth[7:].strip()
        return bool(supplied) and hmac.compare_digest(supplied.encode(), cfg.api_key.encode())

    # -- dispatch -----------------------------------------------------------------------------------
    def handle_one_request(self):
        self._code = 0
        self._body_read = False
        super().handle_one_request()

    def do_OPTIONS(self):  # pylint: disable=invalid-name  # http.server naming
        self._dispatch(preflight=True)

    def do_GET(self):  # pylint: disable=invalid-name
        self._dispatch()

    def do_HEAD(self):  # pylint: disable=invalid-name
        self._dispatch()

    def do_POST(self):  # pylint: disable=invalid-name
        self._dispatch()

    def _dispatch(self, preflight=False):
        prover = self.prover
        path = self.path.split('?', 1)[0]
        method = 'GET' if self.command == 'HEAD' else self.command
        started = time.monotonic()
        prover.m_active.inc()
        try:
            self._route(method, path, preflight)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # pylint: disable=broad-except  # answer 500 instead of dropping the connection
            prover.log('error', 'unhandled error', path=path, error=repr(exc))
            if path == '/generate-proof':
                prover.m_errors.inc()
            try:
                self.send(500, {'error': 'internal_error', 'message': 'unexpected server error'})
            except OSError:
                self.close_connection = True
        finally:
            prover.m_active.dec()
            known = (method, path) in API_ROUTES | OPEN_ROUTES or preflight
            route = path if known else 'other'
            prover.m_http.inc(method=self.command, path=route, code=str(self._code))
            prover.log('info' if self._code < 500 else 'warn', 'request', method=self.command, path=path,
                       status=self._code, client=self.client_ip(),
                       ms=round((time.monotonic() - started) * 1000.0, 1))

    def _route(self, method, path, preflight):
        prover = self.prover
        if preflight:
            cors = self.cors_headers()
            if 'Access-Control-Allow-Origin' not in cors:
                self.send(403, {'error': 'origin_not_allowed', 'message': 'origin not in ALLOWED_ORIGINS'})
                return
            self.send(204, b'', headers={
                'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
                'Access-Control-Allow-Headers': 'Content-Type, Authorization, X-API-Key',
                'Access-Control-Max-Age': '600'}, content_type='text/plain')
            return
        if (method, path) == ('GET', '/health'):
            self.send(*prover.health())
            return
        if (method, path) == ('GET', '/metrics'):
            self.send(200, prover.registry.render().encode(), content_type=CONTENT_TYPE)
            return
        if (method, path) not in API_ROUTES:
            known_paths = {p for _m, p in API_ROUTES | OPEN_ROUTES}
            if path in known_paths:
                self.send(405, {'error': 'method_not_allowed'})
            else:
                self.send(404, {'error': 'not_found'})
            return
        client = self.client_ip()
        allowed, retry = prover.limiter.allow(client)
        if not allowed:
            prover.m_rate_limited.inc(ip=client)
            self.send(429, {'error': 'rate_limit_exceeded', 'message': 'too many requests; retry later'},
                      headers={'Retry-After': str(max(1, int(retry + 0.999)))})
            return
        if not self.authorized():
            prover.m_auth_failures.inc()
            self.send(401, {'error': 'unauthorized', 'message': 'missing or wrong API key (X-API-Key or Bearer)'},
                      headers={'WWW-Authenticate': 'Bearer'})
            return
        if path == '/cache/stats':
            self.send(200, prover.cache.stats())
            return
        body, error = self.read_json()
        if error:
            self.send(*error)
            return
        if path == '/generate-proof':
            self.send(*prover.generate(body, client))
        else:
            self.send(*prover.verify_request(body))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, handler, ipv6=False):
        if ipv6:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


def make_server(cfg, log):
    prover = Prover(cfg, log)
    handler = type('BoundHandler', (Handler,), {'prover': prover})
    server = Server((cfg.bind_address, cfg.port), handler, ipv6=':' in cfg.bind_address)
    if cfg.enable_tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cfg.tls_cert_path, cfg.tls_key_path)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    return server, prover


def main(env=None):
    try:
        cfg = Config(env)
    except ConfigError as exc:
        print('configuration error: %s' % exc, file=sys.stderr)
        return 2
    log = Logger(cfg.log_level, cfg.log_format)
    try:
        server, prover = make_server(cfg, log)
        prover.start()
    except (OSError, RuntimeError, ProverError) as exc:
        log('error', 'cannot start', error=str(exc))
        return 1
    host, port = server.server_address[:2]
    log('info', 'listening', address=host, port=port, version=cfg.version, fault=cfg.fault,
        constraints=prover.constraints, tls=cfg.enable_tls, auth=cfg.enable_api_auth)
    if cfg.fault != 'none':
        log('warn', 'FAULT INJECTION ACTIVE (test-only build)', fault=cfg.fault)
    import signal  # pylint: disable=import-outside-toplevel

    def _term(signum, frame):  # pylint: disable=unused-argument
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        prover.stop()
        log('info', 'stopped')
    return 0
