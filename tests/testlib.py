"""Helpers shared by every test directory (on sys.path through pytest.ini)."""
import contextlib
import http.client
import http.server
import importlib.util
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import parse_qs, urlsplit

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / '.venv' / 'bin'
TOOLS_BIN = ROOT / '.cache' / 'tools' / 'bin'
TOOLS_SHARE = ROOT / '.cache' / 'tools' / 'share'


def tool_env(**extra):
    """The environment the README's commands give: toolchain first on PATH, the repo's ansible.cfg."""
    env = dict(os.environ)
    env['PATH'] = os.pathsep.join([str(VENV_BIN), str(TOOLS_BIN), env.get('PATH', '')])
    env['ANSIBLE_CONFIG'] = str(ROOT / 'ansible.cfg')
    env['ANSIBLE_NOCOLOR'] = '1'
    env.update(extra)
    return env


def run(cmd, cwd=ROOT, timeout=1800, env=None, **kwargs):
    """Run a command, capture its output, never raise on a non-zero exit (tests assert on it)."""
    return subprocess.run(cmd, cwd=str(cwd), env=env or tool_env(), timeout=timeout,
                          capture_output=True, text=True, check=False, **kwargs)


def tracked_files():
    """Files a clean clone would have: tracked plus new, not ignored."""
    out = run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'])
    assert out.returncode == 0, out.stderr
    return [f for f in out.stdout.splitlines()
            if f and not f.startswith('.collections/') and (ROOT / f).exists()]


THRESHOLDS_FILE = ROOT / 'roles' / 'thresholds' / 'defaults' / 'main.yml'


def threshold_data():
    """The one data file of the checklist's numbers, as YAML."""
    import yaml  # pylint: disable=import-outside-toplevel
    return yaml.safe_load(THRESHOLDS_FILE.read_text())


def run_local_play(tmp_path, tasks, roles=(), play_vars=None, callback='ansible.builtin.json', tags=None,
                   extra_args=()):
    """Run one play on localhost with the venv's interpreter; return the finished process.
    extra_args go to ansible-playbook as they are (e.g. -vvv, --diff, --vault-password-file F)."""
    import yaml  # pylint: disable=import-outside-toplevel
    play = {'name': 'test play', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}
    if roles:
        play['roles'] = list(roles)
    if play_vars:
        play['vars'] = play_vars
    path = tmp_path / 'play.yml'
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    env = tool_env(ANSIBLE_STDOUT_CALLBACK=callback, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'))
    cmd = [str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', str(path)]
    if tags:
        cmd += ['--tags', tags]
    return run(cmd + list(extra_args), env=env, timeout=300)


def task_results(process):
    """Task name -> result on localhost, from the json stdout callback."""
    doc = json.loads(process.stdout[process.stdout.index('{'):])
    return {t['task']['name']: t['hosts']['localhost'] for t in doc['plays'][0]['tasks']}


# --- the reference prover (stack/) as a local process: tests/stack and tests/integration -------------
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


def circuit_build():
    return load('x402rb_stack_circuit_build', STACK / 'circuits' / 'build_circuit.py')


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


def wait_until_ready(proc, ready, timeout, what, logs):
    """Poll ready() (an OSError counts as not yet) until it is true; if PROC exits or TIMEOUT passes,
    stop it and raise RuntimeError with logs()."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError('%s exited with %s:\n%s' % (what, proc.returncode, logs()))
        try:
            if ready():
                return
        except OSError:  # urllib's URLError too
            pass
        time.sleep(0.2)
    stop_process(proc)
    raise RuntimeError('%s did not answer within %d s:\n%s' % (what, timeout, logs()))


def stop_process(proc, timeout=15):
    """Terminate a process we started, then kill it if it does not stop."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
        wait_until_ready(self.proc, lambda: self.get('/health'), timeout, 'prover', self.logs)
        return self

    def logs(self):
        return self.log_path.read_text(errors='replace') if self.log_path.exists() else ''

    def stop(self):
        stop_process(self.proc)

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


# --- a tiny real HTTP server for protocol tests: canned answers, every request recorded -------------
class _AnswerHandler(http.server.BaseHTTPRequestHandler):
    """Records the request in server.requests, then answers what server.answer(request) returns."""

    def _handle(self):
        parts = urlsplit(self.path)
        length = int(self.headers.get('Content-Length') or 0)
        request = {'method': self.command, 'path': parts.path, 'params': parse_qs(parts.query),
                   'headers': dict(self.headers.items()), 'body': self.rfile.read(length) if length else b''}
        self.server.requests.append(request)
        answer = self.server.answer(request)
        if answer is None:  # drop the connection without a word (a crashed server)
            self.close_connection = True
            return
        status, body, headers, delay = tuple(answer) + (None, 0)[len(answer) - 2:]
        content_type = 'text/plain; charset=utf-8'
        if isinstance(body, (dict, list)):
            body, content_type = json.dumps(body), 'application/json'
        data = body if isinstance(body, bytes) else str(body).encode()
        headers = dict({'Content-Type': content_type}, **(headers or {}))
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            if self.command != 'HEAD':
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = _handle  # noqa: N815  # http.server API

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin  # keep pytest output clean
        pass


@contextlib.contextmanager
def http_test_server(answer):
    """A real HTTP server on 127.0.0.1 (free port) for protocol tests, stopped on exit.

    answer(request) -> (status, body[, headers[, delay seconds]]), or None to drop the connection.
    request: {method, path, params (parse_qs), headers, body (bytes)}. A dict or list body is sent
    as JSON, anything else as text unless headers set Content-Type. The server has .url and
    .requests (every request, in order).
    """
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _AnswerHandler)
    httpd.daemon_threads = True
    httpd.requests = []
    httpd.answer = answer
    httpd.url = 'http://127.0.0.1:%d' % httpd.server_address[1]
    # A short poll interval: shutdown() waits for it, and function-scoped servers stop often.
    threading.Thread(target=httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def run_module_in_process(module, args, check_mode=False):
    """Run an Ansible module's main() in this process as on a target; return (result, raw stdout).

    Warnings are collected as a module process would (not printed as on the controller,
    which Ansible assumes once any test imported ansible.errors)."""
    import io  # pylint: disable=import-outside-toplevel
    import json  # pylint: disable=import-outside-toplevel
    from contextlib import redirect_stdout  # pylint: disable=import-outside-toplevel
    import pytest  # pylint: disable=import-outside-toplevel
    import ansible.module_utils._internal as ansible_internal  # pylint: disable=import-outside-toplevel
    from ansible.module_utils.common import warnings as module_warnings  # pylint: disable=import-outside-toplevel
    from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    module_warnings._global_warnings.clear()  # pylint: disable=protected-access
    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ansible_internal, 'is_controller', False)
        with patch_module_args(args), redirect_stdout(buffer):
            with pytest.raises(SystemExit):
                module.main()
    raw = buffer.getvalue()
    return json.loads(raw), raw


def assert_options_documented(documented, spec, where='options'):
    """A module's DOCUMENTATION options (parsed) say what its argument spec does: the same names, type,
    required, default, elements and choices, suboptions included."""
    assert set(documented) == set(spec), where
    for name, option in spec.items():
        doc = documented[name]
        for field, default in (('type', 'str'), ('required', False), ('default', None), ('elements', None)):
            assert doc.get(field, default) == option.get(field, default), '%s.%s: %s' % (where, name, field)
        assert sorted(doc.get('choices') or []) == sorted(option.get('choices') or []), '%s.%s: choices' % (where, name)
        if option.get('options'):
            assert_options_documented(doc.get('suboptions') or {}, option['options'], '%s.%s' % (where, name))


def module_warning_texts(result):
    """A module result's warnings as text (in-process they are still WarningSummary events)."""
    return [w['event']['msg'] if isinstance(w, dict) else w for w in result.get('warnings', [])]


# --- real tool processes (Prometheus, Alertmanager, ...) on 127.0.0.1 -------------------------------
class ToolProcess:
    """A tool started with argv, its output in log_path; start() waits until ready_url answers 200."""

    def __init__(self, argv, ready_url, log_path, cwd=None):
        self.argv, self.ready_url, self.log_path, self.cwd = [str(a) for a in argv], ready_url, log_path, cwd
        self.proc = None

    def start(self, timeout=60):
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                         cwd=self.cwd and str(self.cwd))

        def ready():
            with urllib.request.urlopen(self.ready_url, timeout=2) as response:  # noqa: S310 (127.0.0.1 only)
                return response.status == 200
        wait_until_ready(self.proc, ready, timeout, '%s (%s)' % (self.argv[0], self.ready_url), self.logs)
        return self

    def logs(self):
        return pathlib.Path(self.log_path).read_text(errors='replace')[-4000:] if os.path.exists(self.log_path) else ''

    def stop(self):
        stop_process(self.proc)


def alertmanager_argv(*args):
    """argv of Debian's Alertmanager from .cache/tools. It reads its templates from
    /usr/share/prometheus/alertmanager (compiled in), so TOOLS_SHARE is bind-mounted on /usr/share in a
    private mount namespace of that one process (needs root); the machine's /usr/share is untouched."""
    return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /usr/share && exec "$@"',
            str(TOOLS_SHARE), str(TOOLS_BIN / 'prometheus-alertmanager')] + [str(a) for a in args]


def get_json(url, timeout=5):
    """GET url and parse the JSON answer (urllib; 127.0.0.1 only)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (127.0.0.1 only)
        return json.loads(response.read().decode())


# --- a fake of the services prover_smoke talks to (unit tests; the real ones are in tests/integration) -
SMOKE_METRICS = ('proof_generation_total', 'proof_generation_errors_total', 'proof_generation_duration_seconds_bucket',
                 'active_requests', 'circuit_constraints_total')


class FakeSmokeWorld:
    """The prover's HTTP contract, Prometheus' query API and Alertmanager's v2 alerts API in one answer
    function for testlib.http_test_server. Each attribute changes one behaviour; `overrides` maps a path
    to a canned answer (or None: the connection is dropped)."""

    def __init__(self, api_key=API_KEY, burst=20, version='1.2.0', origins=(ORIGIN,)):
        self.api_key, self.burst, self.version, self.origins = api_key, burst, version, list(origins)
        self.calls = 0                  # API calls so far: the token bucket never refills here
        self.retry_after = '6'          # None: 429 without Retry-After
        self.accept_missing_key = False
        self.public_inputs = None       # replaces the public inputs of every proof
        self.targets = {'prover-1:8080': '1', 'prover-2:8080': '1'}
        self.missing = {}               # instance -> metric names it does not export
        self.alerts = {}                # run_id -> alert as last posted
        self.am_lists = True            # False: posted alerts never show up in GET /api/v2/alerts
        self.am_resolves = True         # False: a resolving post is ignored
        self.overrides = {}

    def __call__(self, request):
        path, method = request['path'], request['method']
        if path in self.overrides:
            return self.overrides[path]
        if path == '/api/v1/query':
            return self._prometheus(request['params']['query'][0])
        if path == '/api/v2/alerts':
            return self._alertmanager(request)
        headers = dict((k.lower(), v) for k, v in request['headers'].items())
        if method == 'OPTIONS':
            origin = headers.get('origin')
            if origin in self.origins or '*' in self.origins:
                return 204, '', {'Access-Control-Allow-Origin': '*' if '*' in self.origins else origin}
            return 403, {'error': 'origin_not_allowed'}
        if path == '/health':
            return 200, {'status': 'healthy', 'service': 'x402-prover', 'version': self.version}
        self.calls += 1
        if self.calls > self.burst:
            return 429, {'error': 'rate_limit_exceeded'}, {'Retry-After': self.retry_after} if self.retry_after else {}
        key = headers.get('x-api-key')
        if key != self.api_key and not (key is None and self.accept_missing_key):
            return 401, {'error': 'unauthorized'}
        if path == '/cache/stats':
            return 200, {'hits': 0, 'misses': 0}
        body = json.loads(request['body'] or b'{}')
        if 'currentTime' not in body:
            return 400, {'error': 'missing_field', 'field': 'minAmount'}
        public = ['4242'] + [body[f] for f in ('minAmount', 'recipientKeyX', 'recipientKeyY', 'maxBlockAge',
                                               'currentTime')]
        return 200, {'proof': {'pi_a': ['1', '2', '1'], 'pi_b': [['1', '2'], ['3', '4'], ['1', '0']],
                               'pi_c': ['5', '6', '1'], 'protocol': 'groth16', 'curve': 'bn128'},
                     'publicInputs': self.public_inputs or public, 'commitment': '4242', 'generationTimeMs': 12.5,
                     'cached': False}

    def _prometheus(self, query):
        if query.startswith('up{'):
            result = [{'metric': {'__name__': 'up', 'instance': i}, 'value': [1, v]} for i, v in self.targets.items()]
        else:
            result = [{'metric': {'__name__': name, 'instance': i}, 'value': [1, '1']}
                      for i in self.targets for name in SMOKE_METRICS if name not in self.missing.get(i, ())]
        return 200, {'status': 'success', 'data': {'resultType': 'vector', 'result': result}}

    def _alertmanager(self, request):
        if request['method'] == 'POST':
            for alert in json.loads(request['body']):
                run_id = alert['labels']['run_id']
                if run_id in self.alerts and not self.am_resolves:
                    continue
                self.alerts[run_id] = alert
            return 200, ''
        now = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())
        active = [a for a in self.alerts.values() if a['endsAt'][:19] > now] if self.am_lists else []
        return 200, active


def fake_snarkjs(directory, valid=True):
    """An executable that answers like `snarkjs groth16 verify` and records its arguments in args.txt."""
    path = pathlib.Path(directory) / 'snarkjs'
    path.write_text('#!/bin/sh\necho "$@" > "%s"\n%s\n' % (
        pathlib.Path(directory) / 'args.txt',
        'echo "[INFO]  snarkJS: OK!"; exit 0' if valid else 'echo "[ERROR] snarkJS: Invalid proof"; exit 1'))
    path.chmod(0o755)
    return str(path)


def run_playbook(*args, env=None, timeout=1800):
    """`ansible-playbook ARGS` from the repository root with the project's toolchain."""
    return run(['ansible-playbook', *args], env=env, timeout=timeout)
