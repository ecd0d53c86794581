# -*- coding: utf-8 -*-
"""Fixtures and helpers of the Solana integration tests: a REAL SVM behind JSON-RPC.

``localnet`` / ``devnet`` start ``roles/solana_localnet/files/litesvm_rpc.py serve``
(LiteSVM from solders) on a free port of 127.0.0.1, once per test module, and stop
it at the end. ``programs`` writes real SBF ELFs taken at run time from LiteSVM's
preloaded programs (nothing binary is committed), plus padded and broken variants.
The modules run as Ansible runs them: their file executed by the controller's
Python with the arguments file (``run_module``), through ``ansible localhost -m``
(``adhoc``), or through ``ansible-playbook`` with the repository's ansible.cfg
(``playbook``).

Imported explicitly by the test modules (``from solana_fixtures import ...``):
tests/integration/conftest.py belongs to the Prometheus tests.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = REPO_ROOT / '.venv' / 'bin' / 'python'
SERVER = REPO_ROOT / 'roles' / 'solana_localnet' / 'files' / 'litesvm_rpc.py'
MODULES = REPO_ROOT / 'plugins' / 'modules'
LOADER_V3 = 'BPFLoaderUpgradeab1e11111111111111111111111'
SOL = 1_000_000_000

solders = pytest.importorskip('solders', reason='solders (LiteSVM) is not installed in this Python')
from solders.keypair import Keypair  # noqa: E402  pylint: disable=wrong-import-position
from solders.litesvm import LiteSVM  # noqa: E402  pylint: disable=wrong-import-position
from solders.pubkey import Pubkey  # noqa: E402  pylint: disable=wrong-import-position


def _python():
    return str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))


def load_server_module():
    """The endpoint's script as a module (for its preloaded-program helpers)."""
    spec = importlib.util.spec_from_file_location('litesvm_rpc_for_tests', SERVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def rpc_call(url, method, params=None, timeout=10):
    body = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': method, 'params': params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={'Content-Type': 'application/json'})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=timeout) as response:
        answer = json.loads(response.read().decode())
    if 'error' in answer:
        raise RuntimeError('%s: %s' % (method, answer['error']))
    return answer['result']


class Endpoint:
    """A running litesvm_rpc.py server and what the tests ask it."""

    def __init__(self, url, process, log_path):
        self.url = url
        self.process = process
        self.log_path = log_path

    def call(self, method, *params):
        return rpc_call(self.url, method, list(params))

    def tx_count(self):
        return self.call('getTransactionCount')

    def balance(self, pubkey):
        return self.call('getBalance', str(pubkey))['value']

    def account(self, pubkey):
        return self.call('getAccountInfo', str(pubkey), {'encoding': 'base64'})['value']

    def fund(self, pubkey, lamports):
        self.call('requestAirdrop', str(pubkey), int(lamports))

    def buffers(self, authority=None):
        """Buffer accounts of the upgradeable loader (optionally of one authority)."""
        filters = [{'memcmp': {'offset': 0, 'bytes': base64.b64encode(struct.pack('<I', 1)).decode(),
                               'encoding': 'base64'}}]
        if authority is not None:
            filters.append({'memcmp': {'offset': 4, 'bytes': base64.b64encode(
                b'\x01' + bytes(Pubkey.from_string(str(authority)))).decode(), 'encoding': 'base64'}})
        config = {'encoding': 'base64', 'filters': filters, 'dataSlice': {'offset': 0, 'length': 0}}
        return self.call('getProgramAccounts', LOADER_V3, config)

    def log(self):
        try:
            return Path(self.log_path).read_text(errors='replace')[-3000:]
        except OSError:
            return ''


def start_endpoint(tmp_dir, name='localnet'):
    port = free_port()
    log_path = Path(tmp_dir) / ('%s.log' % name)
    with open(log_path, 'wb') as log:
        process = subprocess.Popen([_python(), str(SERVER), 'serve', '--host', '127.0.0.1', '--port', str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, cwd=str(tmp_dir))
    endpoint = Endpoint('http://127.0.0.1:%d' % port, process, log_path)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail('litesvm_rpc.py exited with rc %s:\n%s' % (process.returncode, endpoint.log()))
        try:
            if endpoint.call('getHealth') == 'ok':
                return endpoint
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_process(process)
            pytest.fail('litesvm_rpc.py did not answer getHealth within 30 s:\n%s' % endpoint.log())
        time.sleep(0.05)


def stop_process(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope='module')
def localnet(tmp_path_factory):
    endpoint = start_endpoint(tmp_path_factory.mktemp('localnet'))
    try:
        yield endpoint
    finally:
        stop_process(endpoint.process)


@pytest.fixture(scope='module')
def devnet(tmp_path_factory):
    """A second, independent endpoint standing in for devnet."""
    endpoint = start_endpoint(tmp_path_factory.mktemp('devnet'), 'devnet')
    try:
        yield endpoint
    finally:
        stop_process(endpoint.process)


def text_section(elf):
    """(offset, size) of the .text section of an ELF."""
    e_shoff = struct.unpack_from('<Q', elf, 0x28)[0]
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from('<HHH', elf, 0x3A)
    names_offset = struct.unpack_from('<Q', elf, e_shoff + e_shstrndx * e_shentsize + 0x18)[0]
    for index in range(e_shnum):
        header = e_shoff + index * e_shentsize
        name_index = struct.unpack_from('<I', elf, header)[0]
        name = elf[names_offset + name_index:elf.index(b'\0', names_offset + name_index)]
        if name == b'.text':
            return struct.unpack_from('<QQ', elf, header + 0x18)
    raise AssertionError('no .text section')


@pytest.fixture(scope='module')
def programs(tmp_path_factory):
    """name -> path of real SBF programs and variants. Sizes: spl_token 100,312 B,
    address_lookup_table 170,144 B, stake 202,280 B, memo 2,304 B."""
    server = load_server_module()
    svm = LiteSVM()
    base = tmp_path_factory.mktemp('programs')
    paths = {}

    def write(name, data):
        path = base / ('%s.so' % name)
        path.write_bytes(data)
        paths[name] = path
        return data

    for name in ('spl_token', 'address_lookup_table', 'stake', 'memo'):
        write(name, server.preloaded_elf(name, svm))
    stake = paths['stake'].read_bytes()
    write('stake_204799', stake + bytes(204799 - len(stake)))
    write('stake_204800', stake + bytes(204800 - len(stake)))
    memo = bytearray(paths['memo'].read_bytes())
    offset, size = text_section(bytes(memo))
    middle = offset + (size // 16) * 8
    memo[middle:middle + 8] = b'\xff' * 8  # one instruction with an opcode that does not exist
    write('memo_bad_opcode', bytes(memo))
    write('memo_truncated', paths['memo'].read_bytes()[:1500])
    write('not_an_elf', b'#!/bin/sh\necho this is a shell script, not a program\n' * 10)
    return paths


def keypair_file(directory, name, keypair=None):
    """Write a Solana CLI keypair file; return (path, pubkey string)."""
    keypair = keypair or Keypair()
    path = Path(directory) / ('%s.json' % name)
    path.write_text(json.dumps(list(bytes(keypair))))
    path.chmod(0o600)
    return path, str(keypair.pubkey())


def funded_keypair(endpoint, directory, name, lamports):
    path, pubkey = keypair_file(directory, name)
    if lamports:
        endpoint.fund(pubkey, lamports)
    return path, pubkey


def module_env(**extra):
    env = dict(os.environ)
    env['PYTHONPATH'] = str(REPO_ROOT / '.collections')
    env['ANSIBLE_CONFIG'] = str(REPO_ROOT / 'ansible.cfg')
    env['ANSIBLE_NOCOLOR'] = '1'
    env['PATH'] = os.pathsep.join([str(VENV_PYTHON.parent), env.get('PATH', '')])
    for proxy in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        env.pop(proxy, None)
    env['no_proxy'] = env['NO_PROXY'] = '127.0.0.1,localhost'
    env.update(extra)
    return env


def module_command(name, args, tmp_path, check_mode=False):
    """The command line that runs plugins/modules/<name>.py as Ansible does (an arguments file)."""
    arguments = dict(args)
    if check_mode:
        arguments['_ansible_check_mode'] = True
    args_file = Path(tmp_path) / ('%s-args-%d.json' % (name, time.monotonic_ns()))
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': {k: (str(v) if isinstance(v, Path) else v)
                                                             for k, v in arguments.items()}}))
    return [_python(), str(MODULES / ('%s.py' % name)), str(args_file)]


def run_module(name, args, tmp_path, check_mode=False, timeout=300):
    """Run plugins/modules/<name>.py as Ansible does (the arguments file); -> (rc, result)."""
    proc = subprocess.run(module_command(name, args, tmp_path, check_mode), cwd=str(tmp_path),
                          env=module_env(), capture_output=True, text=True, timeout=timeout, check=False)
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise AssertionError('module %s printed no JSON (rc %d):\nstdout: %s\nstderr: %s'
                             % (name, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    assert 'Traceback' not in proc.stderr and 'Traceback' not in proc.stdout, proc.stderr
    return proc.returncode, result


def adhoc(module, args, tmp_path, *extra, timeout=300):
    """`ansible localhost -m x402.runbook.<module> -a <json>`; -> (CompletedProcess, result dict)."""
    proc = subprocess.run([str(VENV_PYTHON.parent / 'ansible'), 'localhost', '-m', 'x402.runbook.%s' % module,
                           '-a', json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in args.items()}),
                           '-e', 'ansible_python_interpreter=%s' % _python(), '-o', *extra],
                          cwd=str(REPO_ROOT), env=module_env(ANSIBLE_LOCAL_TEMP=str(Path(tmp_path) / 'ansible-tmp')),
                          capture_output=True, text=True, timeout=timeout, check=False)
    # -o prints "localhost | STATUS => {json}"
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith('localhost |')), '')
    result = json.loads(line.split('=>', 1)[1]) if '=>' in line else {}
    return proc, result


def playbook(path, tmp_path, *extra, timeout=600):
    """ansible-playbook with the repository's ansible.cfg (inventories/local: `control` is localhost)."""
    return subprocess.run([str(VENV_PYTHON.parent / 'ansible-playbook'), str(path), *extra],
                          cwd=str(REPO_ROOT), env=module_env(ANSIBLE_LOCAL_TEMP=str(Path(tmp_path) / 'ansible-tmp')),
                          capture_output=True, text=True, timeout=timeout, check=False)


def recap(output):
    """PLAY RECAP counters of localhost: {'ok': n, 'changed': n, 'failed': n, ...}."""
    for line in output.splitlines():
        if line.startswith('localhost') and 'ok=' in line:
            return {k: int(v) for k, v in (item.split('=') for item in line.split(':', 1)[1].split())}
    raise AssertionError('no PLAY RECAP in:\n' + output[-3000:])


class FlakyProxy:
    """An HTTP proxy in front of an endpoint that lets `sends` sendTransaction requests
    through, then answers HTTP 503 to every further one (an RPC outage in the middle of
    a deploy). Other methods always pass. `on_send(number)` is called before each
    sendTransaction is forwarded (e.g. to interrupt the client)."""

    def __init__(self, target, sends=10 ** 9, on_send=None):
        self.target = target
        self.sends = sends
        self.refused = 0
        self.forwarded = 0
        self.on_send = on_send
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                method = json.loads(body.decode()).get('method')
                if method == 'sendTransaction':
                    if proxy.sends <= 0:
                        proxy.refused += 1
                        self.send_response(503)
                        self.send_header('Content-Length', '0')
                        self.end_headers()
                        return
                    proxy.sends -= 1
                    proxy.forwarded += 1
                    if proxy.on_send is not None:
                        proxy.on_send(proxy.forwarded)
                request = urllib.request.Request(proxy.target, data=body, headers={'Content-Type': 'application/json'})
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                with opener.open(request, timeout=30) as response:
                    data = response.read()
                try:
                    self.send_response(200)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client went away (interrupted)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
