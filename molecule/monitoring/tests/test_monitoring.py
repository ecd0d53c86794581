"""Testinfra checks of the monitoring scenario (roles node_exporter + monitoring).

Run by ``molecule verify``; by hand against a running instance:
``.venv/bin/pytest molecule/monitoring/tests --hosts=docker://x402rb-molecule-monitoring``.
"""

import json
import os
import time

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ['MOLECULE_INVENTORY_FILE']
).get_hosts('all') if 'MOLECULE_INVENTORY_FILE' in os.environ else None

PROMETHEUS = 'http://127.0.0.1:9090'


def api(host, path):
    """GET a Prometheus API path from inside the host and decode the JSON answer."""
    out = host.check_output("curl -sSf --max-time 10 '%s%s'", PROMETHEUS, path)
    answer = json.loads(out)
    assert answer['status'] == 'success', answer
    return answer['data']


@pytest.mark.parametrize('service', ['prometheus', 'prometheus-alertmanager', 'prometheus-node-exporter'])
def test_service_running_and_enabled(host, service):
    svc = host.service(service)
    assert svc.is_running
    assert svc.is_enabled


@pytest.mark.parametrize('port', [9090, 9093, 9100])
def test_port_listening(host, port):
    # Prometheus and Alertmanager listen on every interface (the sandbox publishes
    # them on 127.0.0.1 of the Docker host only); so does node-exporter (":9100").
    assert host.socket('tcp://0.0.0.0:%d' % port).is_listening or \
        host.socket('tcp://:::%d' % port).is_listening


def test_prometheus_config_is_valid(host):
    cmd = host.run('promtool check config /etc/prometheus/prometheus.yml')
    assert cmd.rc == 0, cmd.stdout + cmd.stderr
    # promtool also checked the rule file, found by its absolute path.
    assert '/etc/prometheus/rules/x402_alerts.yml' in cmd.stdout + cmd.stderr


def test_alertmanager_config_is_valid(host):
    cmd = host.run('amtool check-config /etc/prometheus/alertmanager.yml')
    assert cmd.rc == 0, cmd.stdout + cmd.stderr


def test_node_exporter_keeps_overlay_root(host):
    args = host.file('/etc/default/prometheus-node-exporter').content_string
    assert 'overlay' not in args.split('fs-types-exclude=')[1].split()[0]
    metrics = host.check_output('curl -sSf --max-time 10 http://127.0.0.1:9100/metrics')
    assert any(line.startswith('node_filesystem_avail_bytes{') and 'mountpoint="/"' in line
               for line in metrics.splitlines())


def test_rollback_alerts_loaded(host):
    rules = [rule for group in api(host, '/api/v1/rules?type=alert')['groups'] for rule in group['rules']]
    by_id = {rule['labels'].get('checklist_id'): rule for rule in rules}
    rollback = {cid for cid in by_id if cid and cid.startswith('rollback_criteria.')}
    assert {'rollback_criteria.1', 'rollback_criteria.2', 'rollback_criteria.6'} <= rollback
    error_rate = by_id['rollback_criteria.1']
    assert error_rate['name'] == 'X402RollbackCriteria1'
    assert error_rate['duration'] == 300  # for: 5m
    assert error_rate['labels']['action'] == 'rollback'
    assert '> 0.2' in error_rate['query']
    assert error_rate['health'] in ('ok', 'unknown')  # the prover has no series yet: no error


def test_alertmanager_is_prometheus_target(host):
    data = api(host, '/api/v1/alertmanagers')
    assert [am['url'] for am in data['activeAlertmanagers']] == ['http://127.0.0.1:9093/api/v2/alerts']


def test_node_target_up(host):
    # The first scrape may take up to one scrape interval after a (re)start.
    deadline = time.time() + 60
    while True:
        targets = [t for t in api(host, '/api/v1/targets?state=active')['activeTargets']
                   if t['labels']['job'] == 'node']
        if targets and all(t['health'] == 'up' for t in targets):
            break
        assert time.time() < deadline, targets
        time.sleep(2)
    assert len(targets) == 1
    assert targets[0]['labels']['group'] == 'monitoring'
    assert targets[0]['labels']['host'] == 'x402rb-molecule-monitoring'
