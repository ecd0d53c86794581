# -*- coding: utf-8 -*-
"""Benchmark (not a test): deploy a ~100 KB and a ~200 KB SBF program with
x402.runbook.solana_program against the collection's local LiteSVM endpoint, and
print what each took: transactions sent, fees (SOL), all SOL spent, wall time.

    .venv/bin/python benchmarks/solana_deploy.py [--runs 3]

The programs are real SBF ELFs taken from LiteSVM's preloaded programs (SPL Token,
100,312 bytes; Stake, 202,280 bytes). The module runs as Ansible runs it (its file,
executed with an arguments file), so the wall time includes Python start-up and the
imports (ansible, solders). The endpoint runs on 127.0.0.1 only and is stopped at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / '.venv' / 'bin' / 'python'
SERVER = ROOT / 'roles' / 'solana_localnet' / 'files' / 'litesvm_rpc.py'
MODULE = ROOT / 'plugins' / 'modules' / 'solana_program.py'
SOL = 1_000_000_000
PROGRAMS = (('~100 KB (SPL Token)', 'spl_token'), ('~200 KB (Stake)', 'stake'))


def rpc(url, method, *params):
    body = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': method, 'params': list(params)}).encode()
    request = urllib.request.Request(url, data=body, headers={'Content-Type': 'application/json'})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return json.loads(response.read())['result']


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def keypair(directory, name):
    from solders.keypair import Keypair  # pylint: disable=import-outside-toplevel
    pair = Keypair()
    path = Path(directory) / ('%s.json' % name)
    path.write_text(json.dumps(list(bytes(pair))))
    return path, str(pair.pubkey())


def deploy(url, program, payer, work):
    program_keypair, _program_id = keypair(work, 'program-%d' % time.monotonic_ns())
    args = work / 'args.json'
    args.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': {
        'rpc_url': url, 'program_path': str(program), 'program_keypair': str(program_keypair),
        'payer_keypair': str(payer)}}))
    env = dict(os.environ, PYTHONPATH=str(ROOT / '.collections'), no_proxy='127.0.0.1')
    started = time.perf_counter()
    proc = subprocess.run([str(PYTHON), str(MODULE), str(args)], capture_output=True, text=True, env=env,
                          cwd=str(work), check=False)
    wall = time.perf_counter() - started
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if proc.returncode != 0:
        raise SystemExit('deploy failed: %s' % result.get('msg'))
    return result, wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--runs', type=int, default=3, help='deploys per program (default 3)')
    options = parser.parse_args()
    spec = importlib.util.spec_from_file_location('litesvm_rpc', SERVER)
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)

    with tempfile.TemporaryDirectory(prefix='x402-solana-bench-') as tmp:
        work = Path(tmp)
        port = free_port()
        url = 'http://127.0.0.1:%d' % port
        log = open(work / 'server.log', 'wb')  # pylint: disable=consider-using-with
        process = subprocess.Popen([str(PYTHON), str(SERVER), 'serve', '--port', str(port)], stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if rpc(url, 'getHealth') == 'ok':
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit('the endpoint did not start')
                    time.sleep(0.05)
            payer, payer_pubkey = keypair(work, 'payer')
            rpc(url, 'requestAirdrop', payer_pubkey, 1000 * SOL)
            print('x402.runbook.solana_program against the local LiteSVM endpoint %s, %d run(s) each' % (url, options.runs))
            print('%-22s %9s %6s %6s %12s %12s %10s %10s' % ('program', 'bytes', 'writes', 'txs', 'fees SOL',
                                                             'spent SOL', 'wall s', 'min s'))
            for label, name in PROGRAMS:
                program = work / ('%s.so' % name)
                program.write_bytes(server.preloaded_elf(name))
                walls, result = [], None
                for _run in range(options.runs):
                    result, wall = deploy(url, program, payer, work)
                    walls.append(wall)
                spent = result['payer_balance_lamports']['before'] - result['payer_balance_lamports']['after']
                print('%-22s %9d %6d %6d %12.6f %12.9f %10.2f %10.2f' % (
                    label, result['program_size'], result['buffer']['writes'], result['transactions'],
                    result['fees_lamports'] / SOL, spent / SOL, statistics.median(walls), min(walls)))
            print('(wall s: median; fees: 5000 lamports per signature; spent: fees + rent of the program and '
                  'programdata accounts)')
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
