"""Benchmark of proof generation for the reference circuit; prints JSON, asserts nothing.

    python3 stack/tools/bench_prover.py [-n 10] [--cli 5]

Measures, on this machine, with the circuit of stack/circuits (built if needed):
  worker  - the long-lived snarkjs worker the prover service uses (stack/prover/snark_worker.js):
            witness + prove per request, keys already in memory;
  service - POST /generate-proof to a local prover process (HTTP, validation, self-check
            verification, SQLite record), unique inputs so every request is a cache miss;
  cli     - one `snarkjs groth16 fullprove` process per proof (node start-up, key loading).
Medians and the full samples in milliseconds.
"""
import argparse
import http.client
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

STACK = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(STACK / 'tools'))
sys.path.insert(0, str(STACK / 'circuits'))

import build_circuit as circuit_build  # noqa: E402 pylint: disable=wrong-import-position

KEY = 'bench-key-0123456789abcdef0123456789abcdef'


def sample(i, now=None):
    now = int(time.time() if now is None else now)
    return {'minAmount': '1000', 'recipientKeyX': '1234567890', 'recipientKeyY': '9876543210',
            'maxBlockAge': '300', 'currentTime': str(now), 'actualAmount': str(1500 + i), 'senderKeyX': '111',
            'senderKeyY': '222', 'paymentTime': str(now - 60), 'signatureR8x': '333', 'signatureR8y': '444',
            'signatureS': str(555 + i)}


def summary(samples):
    return {'median_ms': round(statistics.median(samples), 1), 'min_ms': round(min(samples), 1),
            'max_ms': round(max(samples), 1), 'samples_ms': [round(s, 1) for s in samples]}


def bench_worker(paths, n):
    env = dict(os.environ, NODE_PATH=paths['node_modules'])
    started = time.monotonic()
    proc = subprocess.Popen(['node', str(STACK / 'prover' / 'snark_worker.js'), paths['wasm'], paths['zkey'],
                             paths['vkey']], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    ready = json.loads(proc.stdout.readline())
    startup = (time.monotonic() - started) * 1000.0
    walls, proves, witnesses = [], [], []
    for i in range(n):
        t0 = time.monotonic()
        proc.stdin.write(json.dumps({'id': i + 1, 'op': 'prove', 'input': sample(i)}) + '\n')
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        walls.append((time.monotonic() - t0) * 1000.0)
        assert answer['ok'], answer
        proves.append(answer['proveMs'])
        witnesses.append(answer['witnessMs'])
    proc.stdin.close()
    proc.wait()
    return dict(summary(walls), startup_incl_warm_up_ms=round(startup, 1), warm_up_ms=ready.get('warmUpMs'),
                prove_median_ms=round(statistics.median(proves), 1),
                witness_median_ms=round(statistics.median(witnesses), 1), node=ready.get('node'))


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def bench_service(paths, n, tmp):
    port = _free_port()
    env = dict(os.environ, PORT=str(port), API_KEY=KEY, CIRCUIT_PATH=paths['dir'], PROVING_KEY_PATH=paths['zkey'],
               VERIFICATION_KEY_PATH=paths['vkey'], DATABASE_PATH=os.path.join(tmp, 'bench.db'),
               X402_NODE_PATH=paths['node_modules'], RATE_LIMIT_BURST='100000', LOG_LEVEL='error')
    with open(os.path.join(tmp, 'service.log'), 'wb') as log:
        proc = subprocess.Popen([sys.executable, '-m', 'x402prover'], cwd=str(STACK / 'prover'), env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
                conn.request('GET', '/health')
                conn.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError('the prover did not start; see %s/service.log' % tmp) from None
                time.sleep(0.2)
        walls, reported = [], []
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
        for i in range(n):
            t0 = time.monotonic()
            conn.request('POST', '/generate-proof', body=json.dumps(sample(10000 + i)),
                         headers={'X-API-Key': KEY, 'Content-Type': 'application/json'})
            resp = conn.getresponse()
            body = json.loads(resp.read())
            walls.append((time.monotonic() - t0) * 1000.0)
            assert resp.status == 200 and not body['cached'], body
            reported.append(body['generationTimeMs'])
        return dict(summary(walls), generation_time_median_ms=round(statistics.median(reported), 1))
    finally:
        proc.terminate()
        proc.wait()


def bench_cli(paths, n, tmp):
    cli = os.path.join(paths['node_modules'], 'snarkjs', 'build', 'cli.cjs')
    walls = []
    for i in range(n):
        inp = os.path.join(tmp, 'input.json')
        with open(inp, 'w', encoding='utf-8') as handle:
            json.dump(sample(20000 + i), handle)
        t0 = time.monotonic()
        subprocess.run(['node', cli, 'groth16', 'fullprove', inp, paths['wasm'], paths['zkey'],
                        os.path.join(tmp, 'proof.json'), os.path.join(tmp, 'public.json')],
                       check=True, capture_output=True)
        walls.append((time.monotonic() - t0) * 1000.0)
    return summary(walls)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('-n', type=int, default=10, help='proofs per method (default 10)')
    parser.add_argument('--cli', type=int, default=5, help='proofs with one snarkjs process each (default 5)')
    args = parser.parse_args(argv)
    circuit = circuit_build.build()
    paths = circuit['paths']
    result = {'constraints': circuit['constraints'], 'cpus': os.cpu_count(), 'n': args.n}
    with tempfile.TemporaryDirectory(prefix='x402rb-bench-') as tmp:
        result['worker'] = bench_worker(paths, args.n)
        result['service'] = bench_service(paths, args.n, tmp)
        if args.cli:
            result['cli_process_per_proof'] = bench_cli(paths, args.cli, tmp)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
