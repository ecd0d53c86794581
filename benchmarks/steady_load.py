"""Steady proof traffic against the x402 service, from its own process (standard library only).

    python3 benchmarks/steady_load.py --url http://127.0.0.1:18000 --api-key-file KEY --rps 2 --stop-file STOP

Sends POST /generate-proof at a fixed rate (each request with new inputs, so the
proof cache does not answer, and on a new connection, as independent clients do)
until --duration has passed or --stop-file exists, then prints one JSON summary:
requests sent, answered 2xx, failed (any other status or a broken connection),
the failures by kind with their times, and latency percentiles. A request counts
as failed when it gets no 2xx answer; 429 is reported apart (it is the rate limit
working, not the release failing) and counted as failed only with --strict.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def sample_request(number, now):
    """A valid /generate-proof body; the recipient key changes with every request."""
    return {
        'minAmount': '1000', 'recipientKeyX': str(1000000 + number), 'recipientKeyY': '9876543210',
        'maxBlockAge': '300', 'currentTime': str(now),
        'actualAmount': '1500', 'senderKeyX': '111', 'senderKeyY': '222', 'paymentTime': str(now - 60),
        'signatureR8x': '333', 'signatureR8y': '444', 'signatureS': '555',
    }


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


class SteadyLoad:
    def __init__(self, url, api_key, rps, timeout=65.0):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.api_key = api_key
        self.interval = 1.0 / rps
        self.timeout = timeout
        self.lock = threading.Lock()
        self.results = []   # (started, seconds, status or error kind)

    def one(self, number):
        started = time.time()
        body = json.dumps(sample_request(number, int(started))).encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request('POST', '/generate-proof', body=body, headers={
                'Content-Type': 'application/json', 'X-API-Key': self.api_key, 'Connection': 'close'})
            response = conn.getresponse()
            response.read()
            outcome = response.status
        except (OSError, http.client.HTTPException) as exc:
            outcome = type(exc).__name__
        finally:
            conn.close()
        with self.lock:
            self.results.append((started, time.time() - started, outcome))

    def run(self, until):
        threads, number = [], 0
        next_at = time.monotonic()
        while not until():
            thread = threading.Thread(target=self.one, args=(number,), daemon=True)
            thread.start()
            threads.append(thread)
            number += 1
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        for thread in threads:
            thread.join(self.timeout + 5)

    def summary(self, strict=False):
        ok = [r for r in self.results if isinstance(r[2], int) and 200 <= r[2] < 300]
        limited = [r for r in self.results if r[2] == 429]
        failed = [r for r in self.results if r not in ok and (strict or r[2] != 429)]
        kinds = {}
        for _started, _seconds, outcome in failed:
            kinds[str(outcome)] = kinds.get(str(outcome), 0) + 1
        latencies = [r[1] * 1000.0 for r in ok]
        return {
            'sent': len(self.results), 'ok': len(ok), 'failed': len(failed), 'rate_limited': len(limited),
            'failures_by_kind': kinds,
            'failure_times': [time.strftime('%H:%M:%S', time.gmtime(r[0])) for r in failed[:20]],
            'latency_ms': {'p50': percentile(latencies, 0.50), 'p95': percentile(latencies, 0.95),
                           'max': max(latencies) if latencies else None},
            'first': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.results[0][0])) if self.results else None,
            'first_failure_epoch': min(r[0] for r in failed) if failed else None,
            'last_failure_epoch': max(r[0] + r[1] for r in failed) if failed else None,
        }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--url', required=True)
    parser.add_argument('--api-key-file', required=True, help='file holding the API key (never printed)')
    parser.add_argument('--rps', type=float, default=2.0, help='requests per second (default 2)')
    parser.add_argument('--duration', type=float, default=0.0, help='seconds; 0 = until --stop-file exists')
    parser.add_argument('--stop-file', help='stop when this file exists')
    parser.add_argument('--strict', action='store_true', help='count 429 answers as failures')
    args = parser.parse_args(argv)
    if args.rps <= 0:
        parser.error('--rps must be > 0, not %s' % args.rps)
    if not args.duration and not args.stop_file:
        parser.error('give --duration or --stop-file')
    with open(args.api_key_file) as handle:
        api_key = handle.read().strip()
    end = time.monotonic() + args.duration if args.duration else None

    def until():
        return (end is not None and time.monotonic() >= end) or bool(args.stop_file and os.path.exists(args.stop_file))

    load = SteadyLoad(args.url, api_key, args.rps)
    load.run(until)
    print(json.dumps(load.summary(strict=args.strict), sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
