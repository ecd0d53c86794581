# -*- coding: utf-8 -*-
"""Fixtures of the integration tests: a REAL Prometheus on 127.0.0.1.

The session fixture ``prometheus`` backfills a temporary TSDB with
deterministic data (``promtool tsdb create-blocks-from openmetrics``), starts
``prometheus`` from ``.cache/tools/bin`` on a free port, waits for
``/-/ready``, checks that the blocks were really loaded, and stops it at the
end (terminate, then kill). Tests are skipped, with the reason, when the
tools are missing (``scripts/bootstrap.sh`` puts them there).

The data (all timestamps fixed, one sample every 15 s, from T0 to T0 + 130 min;
T0 = 2024-01-01T00:00:00Z):

node-exporter-like, instances app-1:9100 and app-2:9100 (job="node", group="app"):
  [T0, T0+60m)       healthy: CPU 0.30 / 0.45, memory 0.50 / 0.60, disk "/" 0.40 / 0.55
  [T0+60m, T0+130m]  app-2 breaches CPU (0.93) and disk (0.91); memory stays 0.62
prover (job="x402-prover", prover-1:8080 and prover-2:8080, 5 proofs/s each):
  error ratio 0.01 until T0+60m, then 0.10, except
  [T0+70m, T0+76m)   0.30  (6 minutes above 0.20: the rollback trigger fires)
  [T0+90m, T0+94m)   0.30  (4 minutes: it does not)
  [T0+110m, T0+118m) 0.30  with NO samples in (T0+113m, T0+115m): a gap, so it
                     does not fire although the breach spans 8 minutes
Nothing else (no latency histogram): queries on it return no data.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO_ROOT / '.cache' / 'tools' / 'bin'
PROMETHEUS_BIN = TOOLS_BIN / 'prometheus'
PROMTOOL_BIN = TOOLS_BIN / 'promtool'

T0 = 1704067200  # 2024-01-01T00:00:00Z
STEP = 15
END = 130 * 60
MINUTE = 60

INSTANCES = {
    # instance: (healthy cpu, breach cpu), (healthy mem, breach mem), (healthy disk, breach disk)
    'app-1:9100': {'cpu': (0.30, 0.30), 'mem': (0.50, 0.50), 'disk': (0.40, 0.40)},
    'app-2:9100': {'cpu': (0.45, 0.93), 'mem': (0.60, 0.62), 'disk': (0.55, 0.91)},
}
BREACH_FROM = 60 * MINUTE
PROVERS = ('prover-1:8080', 'prover-2:8080')
PROOFS_PER_SECOND = 5.0
ERROR_BREACHES = ((70, 76), (90, 94), (110, 118))
GAP = (113 * MINUTE, 115 * MINUTE)  # exclusive: samples at both ends exist
MEM_TOTAL = 8 * 1024 ** 3
DISK_SIZE = 100 * 1024 ** 3


def at(minutes, seconds=0):
    """Unix time of T0 + minutes (+ seconds)."""
    return T0 + minutes * MINUTE + seconds


def error_ratio(offset):
    """Error ratio of the interval that starts at T0 + offset seconds."""
    minute = offset / MINUTE
    for start, end in ERROR_BREACHES:
        if start <= minute < end:
            return 0.30
    return 0.01 if offset < BREACH_FROM else 0.10


def _labels(**labels):
    return '{' + ','.join('%s="%s"' % item for item in sorted(labels.items())) + '}'


def _fmt(value):
    return repr(float(value))


def openmetrics():
    """The whole data set as OpenMetrics text (series by series, in time order)."""
    offsets = list(range(0, END + 1, STEP))
    lines = []

    def level(instance, what, offset):
        healthy, breach = INSTANCES[instance][what]
        return healthy if offset < BREACH_FROM else breach

    # CPU counters: 2 CPUs per instance, modes idle/user/system.
    lines.append('# TYPE node_cpu_seconds counter')
    for instance in INSTANCES:
        for cpu in ('0', '1'):
            for mode, share in (('idle', None), ('user', 0.7), ('system', 0.3)):
                value = 100000.0
                labels = _labels(job='node', group='app', instance=instance, cpu=cpu, mode=mode)
                for offset in offsets:
                    lines.append('node_cpu_seconds_total%s %s %d' % (labels, _fmt(value), T0 + offset))
                    usage = level(instance, 'cpu', offset)
                    value += STEP * ((1 - usage) if share is None else usage * share)
    # Memory and disk gauges.
    for name, total, what, extra in (
            ('node_memory_MemTotal_bytes', MEM_TOTAL, 'mem', {}),
            ('node_memory_MemAvailable_bytes', MEM_TOTAL, 'mem', {}),
            ('node_filesystem_size_bytes', DISK_SIZE, 'disk',
             {'mountpoint': '/', 'device': '/dev/vda1', 'fstype': 'ext4'}),
            ('node_filesystem_avail_bytes', DISK_SIZE, 'disk',
             {'mountpoint': '/', 'device': '/dev/vda1', 'fstype': 'ext4'})):
        lines.append('# TYPE %s gauge' % name)
        for instance in INSTANCES:
            labels = _labels(job='node', group='app', instance=instance, **extra)
            for offset in offsets:
                if name.endswith(('MemTotal_bytes', 'size_bytes')):
                    value = total
                else:
                    value = round(total * (1 - level(instance, what, offset)))
                lines.append('%s%s %s %d' % (name, labels, _fmt(value), T0 + offset))
    # Prover counters.
    for family, errors in (('proof_generation', False), ('proof_generation_errors', True)):
        lines.append('# TYPE %s counter' % family)
        for instance in PROVERS:
            labels = _labels(job='x402-prover', instance=instance)
            value = 50000.0
            for offset in offsets:
                if not GAP[0] < offset < GAP[1]:
                    lines.append('%s_total%s %s %d' % (family, labels, _fmt(value), T0 + offset))
                rate = PROOFS_PER_SECOND * (error_ratio(offset) if errors else 1.0)
                value += STEP * rate
    lines.append('# EOF')
    return '\n'.join(lines) + '\n'


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (127.0.0.1 only)
        return json.loads(response.read().decode())


class PrometheusServer:
    def __init__(self, url, process, data_dir, log_path):
        self.url = url
        self.process = process
        self.data_dir = data_dir
        self.log_path = log_path

    def log(self):
        try:
            return Path(self.log_path).read_text(errors='replace')[-4000:]
        except OSError:
            return ''

    def blocks_loaded(self):
        with urllib.request.urlopen(self.url + '/metrics', timeout=5) as response:  # noqa: S310
            for line in response.read().decode().splitlines():
                if line.startswith('prometheus_tsdb_blocks_loaded '):
                    return int(float(line.split()[1]))
        return None

    def instant(self, query, time_):
        params = urllib.parse.urlencode({'query': query, 'time': time_})
        return _get_json('%s/api/v1/query?%s' % (self.url, params))['data']['result']


def _stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope='session')
def prometheus(tmp_path_factory):
    if not (PROMETHEUS_BIN.is_file() and os.access(PROMETHEUS_BIN, os.X_OK)):
        pytest.skip('real Prometheus not available: %s is missing (run scripts/bootstrap.sh)'
                    % PROMETHEUS_BIN.relative_to(REPO_ROOT))
    if not (PROMTOOL_BIN.is_file() and os.access(PROMTOOL_BIN, os.X_OK)):
        pytest.skip('promtool not available: %s is missing (run scripts/bootstrap.sh)'
                    % PROMTOOL_BIN.relative_to(REPO_ROOT))

    base = tmp_path_factory.mktemp('prometheus')
    data_dir = base / 'tsdb'
    data_dir.mkdir()
    source = base / 'data.om'
    source.write_text(openmetrics())
    backfill = subprocess.run(
        [str(PROMTOOL_BIN), 'tsdb', 'create-blocks-from', 'openmetrics', str(source), str(data_dir)],
        capture_output=True, text=True, timeout=300, check=False)
    if backfill.returncode != 0:
        pytest.fail('promtool backfill failed (rc %d):\n%s\n%s'
                    % (backfill.returncode, backfill.stdout[-3000:], backfill.stderr[-3000:]))
    blocks = [p for p in data_dir.iterdir() if (p / 'meta.json').is_file()]
    assert blocks, 'promtool created no blocks in %s:\n%s' % (data_dir, backfill.stdout)

    config = base / 'prometheus.yml'
    config.write_text('global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs: []\n')
    port = free_port()
    url = 'http://127.0.0.1:%d' % port
    log_path = base / 'prometheus.log'
    with open(log_path, 'wb') as log:
        process = subprocess.Popen(
            [str(PROMETHEUS_BIN),
             '--config.file=%s' % config,
             '--storage.tsdb.path=%s' % data_dir,
             # The data is in the past: keep every backfilled block.
             '--storage.tsdb.retention.time=100y',
             '--web.listen-address=127.0.0.1:%d' % port,
             '--log.level=info'],
            stdout=log, stderr=subprocess.STDOUT, cwd=str(base))
    server = PrometheusServer(url, process, data_dir, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail('prometheus exited with rc %s:\n%s' % (process.returncode, server.log()))
            try:
                with urllib.request.urlopen(url + '/-/ready', timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail('prometheus not ready after 60 s:\n%s' % server.log())
            time.sleep(0.2)

        # The blocks are really loaded (Prometheus' own gauge) and hold the data.
        loaded = server.blocks_loaded()
        if loaded != len(blocks):
            pytest.fail('prometheus loaded %s blocks of the %d backfilled:\n%s'
                        % (loaded, len(blocks), server.log()))
        series = server.instant('count(node_cpu_seconds_total)', at(45))
        if not series or int(float(series[0]['value'][1])) != 12:
            pytest.fail('prometheus does not serve the backfilled data: '
                        'count(node_cpu_seconds_total) at T0+45m = %r\n%s' % (series, server.log()))
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope='session')
def tsdb_at():
    """at(minutes, seconds=0): the unix time of T0 + minutes in the backfilled data."""
    return at


@pytest.fixture(scope='session')
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    return 'http://127.0.0.1:%d' % free_port()


@pytest.fixture(scope='session')
def ansible_env(tmp_path_factory):
    """Environment to run the repository's ansible-playbook as x402.runbook."""
    venv_bin = REPO_ROOT / '.venv' / 'bin'
    playbook = venv_bin / 'ansible-playbook'
    if not playbook.exists():
        found = shutil.which('ansible-playbook')
        if not found:
            pytest.skip('ansible-playbook not found (.venv/bin/ansible-playbook)')
        playbook = Path(found)
    home = tmp_path_factory.mktemp('ansible-home')
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CONFIG': str(REPO_ROOT / 'ansible.cfg'),
        'ANSIBLE_LOCAL_TEMP': str(home / 'tmp'),
        'ANSIBLE_REMOTE_TEMP': str(home / 'remote_tmp'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_PYTHON_INTERPRETER': str(venv_bin / 'python') if (venv_bin / 'python').exists() else 'auto_silent',
        'PYTHONDONTWRITEBYTECODE': '1',
    })
    for proxy in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        env.pop(proxy, None)
    env['no_proxy'] = env['NO_PROXY'] = '127.0.0.1,localhost'
    return {'playbook': str(playbook), 'env': env, 'cwd': str(REPO_ROOT)}
