# -*- coding: utf-8 -*-
"""x402.runbook.metrics_gate against a REAL Prometheus (see conftest.py for the data).

The module runs for real through ansible-playbook, with the REAL rules of
roles/thresholds/defaults/main.yml (their own PromQL). Each playbook registers
the module's result and writes it with ``copy`` + ``to_json``, read back here.
"""

from __future__ import annotations

import json
import re
import subprocess

from pathlib import Path

import pytest
import yaml

from testlib import THRESHOLDS_FILE

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]

CPU = 'post_deployment.immediate_monitoring.4'
MEMORY = 'post_deployment.immediate_monitoring.5'
DISK = 'post_deployment.immediate_monitoring.6'
ERRORS_30M = 'post_deployment.immediate_monitoring.1'
P95 = 'post_deployment.immediate_monitoring.2'
ROLLBACK_ERRORS = 'rollback_criteria.1'
ROLLBACK_P95 = 'rollback_criteria.2'

TOKEN = 'x402-Bearer-Token-0123456789abcdef-SECRET'
PASSWORD = 'pr0metheus-Basic-Pa55word-SECRET'


@pytest.fixture(scope='module')
def rules():
    """The real rules, keyed by id, each with its id (what x402_rules holds)."""
    data = yaml.safe_load(THRESHOLDS_FILE.read_text())['x402_thresholds']
    return {rule_id: dict(rule, id=rule_id) for rule_id, rule in data.items()}


def check(name, rule_id, query=None):
    """A check as a playbook writes it: the rule comes from the x402_rules variable."""
    item = {'name': name, 'rule': "{{ x402_rules['%s'] }}" % rule_id}
    if query is not None:
        item['query'] = query
    return item


def run_playbook(ansible_env, tmp_path, tasks, rules, args=(), ignore_errors=True, name='play',
                 thresholds=None):
    """Run a playbook of metrics_gate tasks; return (process, {task key: registered result}).

    With ``thresholds`` (the raw data file), x402_rules is built in the play by the
    collection's own filter, as the thresholds role does, instead of from ``rules``.
    """
    out_dir = tmp_path / name
    out_dir.mkdir()
    play_tasks = []
    play_vars = {'x402_rules': rules}
    if thresholds is not None:
        play_vars = {'x402_thresholds': thresholds}
        play_tasks.append({'name': 'x402_rules as the thresholds role builds it',
                           'ansible.builtin.set_fact': {
                               'x402_rules': '{{ x402_thresholds | x402.runbook.threshold_rules({}) }}'}})
    for key, module_args in tasks.items():
        play_tasks.append({
            'name': key,
            'x402.runbook.metrics_gate': module_args,
            'register': 'gate_%s' % key,
            'ignore_errors': ignore_errors,
        })
        play_tasks.append({
            'name': 'save %s' % key,
            'ansible.builtin.copy': {'content': '{{ gate_%s | to_json }}' % key,
                                     'dest': str(out_dir / ('%s.json' % key)), 'mode': '0600'},
            'check_mode': False,
        })
    playbook = [{'name': name, 'hosts': 'localhost', 'gather_facts': False,
                 'vars': play_vars, 'tasks': play_tasks}]
    path = out_dir / 'playbook.yml'
    path.write_text(yaml.safe_dump(playbook, sort_keys=False))
    process = subprocess.run(
        [ansible_env['playbook'], '-i', 'localhost,', '-c', 'local', str(path)] + list(args),
        cwd=ansible_env['cwd'], env=ansible_env['env'], capture_output=True, text=True, timeout=600,
        check=False)
    results = {}
    for key in tasks:
        saved = out_dir / ('%s.json' % key)
        if saved.exists():
            results[key] = json.loads(saved.read_text())
    return process, results


def gate_args(url, checks, **extra):
    args = {'url': url, 'checks': checks}
    args.update(extra)
    return args


def by_name(result):
    return {item['name']: item for item in result['results']}


# One playbook with most scenarios (each a task whose result is registered).
SCENARIOS = {}


def scenario(key):
    def register(build):
        SCENARIOS[key] = build
        return build
    return register


@scenario('healthy')
def _healthy(url, closed_url, at):
    return gate_args(url, [check('CPU usage', CPU), check('memory usage', MEMORY),
                           check('disk usage', DISK), check('error rate', ERRORS_30M)],
                     time='2024-01-01T00:45:00Z')


@scenario('breach')
def _breach(url, closed_url, at):
    return gate_args(url, [check('CPU usage', CPU), check('memory usage', MEMORY), check('disk usage', DISK)],
                     time=at(100))


@scenario('breach_report_only')
def _breach_report_only(url, closed_url, at):
    return gate_args(url, [check('CPU usage', CPU), check('memory usage', MEMORY), check('disk usage', DISK)],
                     time=at(100), fail_on_breach=False)


@scenario('no_data')
def _no_data(url, closed_url, at):
    return gate_args(url, [check('CPU usage', CPU), check('latency P95', P95)], time=at(45))


@scenario('per_instance')
def _per_instance(url, closed_url, at):
    return gate_args(url, [
        check('CPU per host', CPU, '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))'),
        check('memory per host', MEMORY, '1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes'),
    ], time=at(100), fail_on_breach=False)


@scenario('nan')
def _nan(url, closed_url, at):
    zero_over_zero = ('(sum(increase(proof_generation_errors_total{job="x402-prover"}[5m])) * 0)'
                      ' / (sum(increase(proof_generation_total{job="x402-prover"}[5m])) * 0)')
    return gate_args(url, [check('error rate without traffic', ERRORS_30M, zero_over_zero)],
                     time=at(45), fail_on_breach=False)


@scenario('rollback_6min')
def _rollback_6min(url, closed_url, at):
    return gate_args(url, [check('error rate', ROLLBACK_ERRORS)], time=at(76), fail_on_breach=False)


@scenario('rollback_4min')
def _rollback_4min(url, closed_url, at):
    return gate_args(url, [check('error rate', ROLLBACK_ERRORS)], time=at(94), fail_on_breach=False)


@scenario('rollback_4min_later')
def _rollback_4min_later(url, closed_url, at):
    return gate_args(url, [check('error rate', ROLLBACK_ERRORS)], time=at(94, 30), fail_on_breach=False)


@scenario('rollback_gap')
def _rollback_gap(url, closed_url, at):
    return gate_args(url, [check('error rate', ROLLBACK_ERRORS)], time=at(118), fail_on_breach=False)


@scenario('rollback_healthy')
def _rollback_healthy(url, closed_url, at):
    return gate_args(url, [check('error rate', ROLLBACK_ERRORS), check('latency P95', ROLLBACK_P95)],
                     time=at(45), fail_on_breach=False)


@scenario('unreachable')
def _unreachable(url, closed_url, at):
    return gate_args(closed_url, [check('CPU usage', CPU)], time=at(45), fail_on_breach=False, timeout=5)


@scenario('bad_promql')
def _bad_promql(url, closed_url, at):
    return gate_args(url, [check('CPU usage', CPU),
                           check('broken query', CPU, 'max(rate(node_cpu_seconds_total{mode="idle"}[5m])')],
                     time=at(45), fail_on_breach=False)


@pytest.fixture(scope='module')
def scenarios(prometheus, closed_port_url, ansible_env, rules, tsdb_at, tmp_path_factory):
    tasks = {key: build(prometheus.url, closed_port_url, tsdb_at) for key, build in SCENARIOS.items()}
    process, results = run_playbook(ansible_env, tmp_path_factory.mktemp('scenarios'), tasks, rules)
    missing = sorted(set(tasks) - set(results))
    assert not missing, 'no result for %s\nstdout:\n%s\nstderr:\n%s' % (
        missing, process.stdout[-5000:], process.stderr[-5000:])
    return results


# --- gates ----------------------------------------------------------------------

def test_healthy_values_pass_with_the_observed_numbers(scenarios, prometheus):
    result = scenarios['healthy']
    assert not result.get('failed'), result.get('msg')
    assert result['changed'] is False
    assert result['decision'] == 'GO'
    assert result['blocking'] == []
    assert result['url'] == prometheus.url
    assert result['evaluated_at'] == '2024-01-01T00:45:00Z'
    checks = by_name(result)
    expected = {'CPU usage': (CPU, 0.45), 'memory usage': (MEMORY, 0.60),
                'disk usage': (DISK, 0.55), 'error rate': (ERRORS_30M, 0.01)}
    for name, (rule_id, observed) in expected.items():
        item = checks[name]
        assert item['status'] == 'pass', item
        assert item['id'] == rule_id
        assert item['kind'] == 'gate'
        assert item['observed'] == pytest.approx(observed, rel=1e-6)
        assert item['breached'] is False
        assert item['query'].startswith(('max(', 'sum('))
        assert len(item['series']) == 1


def test_breach_fails_naming_each_blocking_check_its_value_and_limit(scenarios):
    result = scenarios['breach']
    assert result['failed'] is True
    assert result['decision'] == 'NO-GO'
    msg = result['msg']
    assert msg.startswith('2 of 3 checks block: ')
    assert re.search(r'CPU usage: observed 0\.93\d*, required < 0\.7\b', msg), msg
    assert re.search(r'disk usage: observed 0\.91\d*, required < 0\.8\b', msg), msg
    assert 'memory usage' not in msg
    # The results are returned with the failure.
    checks = by_name(result)
    assert checks['CPU usage']['status'] == 'fail'
    assert checks['CPU usage']['observed'] == pytest.approx(0.93, rel=1e-6)
    assert checks['disk usage']['status'] == 'fail'
    assert checks['memory usage']['status'] == 'pass'
    assert checks['memory usage']['observed'] == pytest.approx(0.62, rel=1e-6)
    assert len(result['blocking']) == 2


def test_fail_on_breach_false_reports_no_go_without_failing(scenarios):
    result = scenarios['breach_report_only']
    assert not result.get('failed')
    assert result['decision'] == 'NO-GO'
    assert len(result['blocking']) == 2
    assert result['msg'].startswith('2 of 3 checks block: ')
    assert [r['status'] for r in result['results']] == ['fail', 'pass', 'fail']


def test_a_query_returning_nothing_fails_closed(scenarios):
    result = scenarios['no_data']
    assert result['failed'] is True
    assert result['decision'] == 'NO-GO'
    assert result['msg'] == '1 of 2 checks block: latency P95: no data (fails closed)'
    latency = by_name(result)['latency P95']
    assert latency['status'] == 'no_data'
    assert latency['observed'] is None
    assert latency['series'] == []
    assert 'no series' in latency['detail']
    assert by_name(result)['CPU usage']['status'] == 'pass'


def test_each_series_is_evaluated_and_the_check_takes_the_worst(scenarios):
    checks = by_name(scenarios['per_instance'])
    cpu = checks['CPU per host']
    assert cpu['status'] == 'fail'
    assert cpu['observed'] == pytest.approx(0.93, rel=1e-6)
    series = {s['labels']['instance']: s for s in cpu['series']}
    assert set(series) == {'app-1:9100', 'app-2:9100'}
    assert series['app-1:9100']['status'] == 'pass'
    assert series['app-1:9100']['observed'] == pytest.approx(0.30, rel=1e-6)
    assert series['app-2:9100']['status'] == 'fail'
    assert 'app-2:9100' in cpu['detail']
    memory = checks['memory per host']
    assert memory['status'] == 'pass'
    assert sorted(s['observed'] for s in memory['series']) == [pytest.approx(0.5), pytest.approx(0.62)]
    assert all(s['labels']['job'] == 'node' for s in memory['series'])


def test_nan_is_no_data_with_the_reason(scenarios):
    result = scenarios['nan']
    item = result['results'][0]
    assert item['status'] == 'no_data'
    assert item['observed'] is None
    assert 'NaN' in item['detail']
    assert result['decision'] == 'NO-GO'  # a gate without data fails closed
    assert 'no data (fails closed)' in result['msg']


# --- rollback trigger (error rate > 0.20 for more than 5 min) -------------------

def test_rollback_fires_after_six_minutes_above_the_limit(scenarios):
    result = scenarios['rollback_6min']
    item = result['results'][0]
    assert item['id'] == ROLLBACK_ERRORS
    assert item['kind'] == 'trigger'
    assert item['status'] == 'fire', item
    assert item['breached'] is True
    assert result['decision'] == 'NO-GO'
    assert not result.get('failed')  # fail_on_breach: false


def test_rollback_does_not_fire_after_four_minutes(scenarios):
    for key in ('rollback_4min', 'rollback_4min_later'):
        item = scenarios[key]['results'][0]
        assert item['status'] == 'quiet', (key, item)
        assert item['breached'] is False


def test_rollback_does_not_fire_across_a_gap(scenarios):
    item = scenarios['rollback_gap']['results'][0]
    assert item['status'] == 'quiet', item
    assert item['breached'] is False


def test_rollback_quiet_when_healthy_and_no_data_is_reported(scenarios):
    result = scenarios['rollback_healthy']
    checks = by_name(result)
    assert checks['error rate']['status'] == 'quiet'
    assert checks['error rate']['observed'] is not None
    latency = checks['latency P95']  # no histogram in the data
    assert latency['status'] == 'no_data'
    assert latency['breached'] is False
    assert result['decision'] == 'GO'
    # reported (escalated), not blocking: an Ansible warning and the engine's result
    assert [w['name'] for w in result['warning_results']] == ['latency P95']
    assert any('latency P95: no data' in w for w in result['warnings'])


# --- errors are never a pass ------------------------------------------------------

def test_unreachable_prometheus_fails_even_without_fail_on_breach(scenarios, closed_port_url):
    result = scenarios['unreachable']
    assert result['failed'] is True
    assert 'cannot reach Prometheus at %s' % closed_port_url in result['msg']
    assert 'refused' in result['msg'].lower()
    assert result.get('decision') != 'GO'


def test_bad_promql_fails_with_prometheus_error(scenarios):
    result = scenarios['bad_promql']
    assert result['failed'] is True
    assert 'broken query' in result['msg']
    assert 'bad_data' in result['msg']
    assert 'parse error' in result['msg']
    assert result.get('decision') != 'GO'


def test_a_breach_fails_the_play(prometheus, ansible_env, rules, tsdb_at, tmp_path):
    process = run_playbook(
        ansible_env, tmp_path,
        {'gate': gate_args(prometheus.url, [check('CPU usage', CPU), check('disk usage', DISK)], time=tsdb_at(100))},
        rules, ignore_errors=False)[0]
    assert process.returncode == 2, process.stdout
    assert '2 of 2 checks block' in process.stdout
    assert 'CPU usage: observed 0.93' in process.stdout


# --- check mode and secrets -----------------------------------------------------------

def test_check_mode_returns_the_same_results(prometheus, ansible_env, rules, tsdb_at, tmp_path):
    tasks = {'gate': gate_args(prometheus.url, [check('CPU usage', CPU), check('disk usage', DISK),
                                                check('error rate', ROLLBACK_ERRORS)],
                               time=tsdb_at(76), fail_on_breach=False)}
    normal = run_playbook(ansible_env, tmp_path, tasks, rules, name='normal')[1]
    process, checked = run_playbook(ansible_env, tmp_path, tasks, rules, args=['--check'], name='check')
    assert 'gate' in checked, process.stdout
    for key in ('results', 'decision', 'blocking', 'warning_results', 'evaluated_at', 'url', 'changed', 'msg'):
        assert checked['gate'][key] == normal['gate'][key], key
    assert checked['gate']['changed'] is False


def test_secrets_never_appear_in_the_output(prometheus, ansible_env, rules, tsdb_at, tmp_path):
    tasks = {
        'token': gate_args(prometheus.url, [check('CPU usage', CPU)], time=tsdb_at(45),
                           headers={'Authorization': 'Bearer ' + TOKEN}),
        'basic': gate_args(prometheus.url, [check('CPU usage', CPU)], time=tsdb_at(45),
                           url_username='ops', url_password=PASSWORD),
        'failing': gate_args(prometheus.url, [check('broken', CPU, 'sum(')], time=tsdb_at(45),
                             headers={'Authorization': 'Bearer ' + TOKEN}),
    }
    process, results = run_playbook(ansible_env, tmp_path, tasks, rules, args=['-vvv'])
    output = process.stdout + process.stderr
    assert results['token']['decision'] == 'GO', output[-3000:]
    assert results['basic']['decision'] == 'GO'
    assert results['failing']['failed'] is True
    assert 'metrics_gate' in output  # the module did run, verbosely
    assert TOKEN not in output
    assert PASSWORD not in output
    for result in results.values():
        assert TOKEN not in json.dumps(result)
        assert PASSWORD not in json.dumps(result)


def test_rules_from_the_threshold_rules_filter(prometheus, ansible_env, tsdb_at, tmp_path):
    """The module takes x402_rules as the thresholds role builds them (normalized by the engine)."""
    if not (REPO_ROOT / 'plugins' / 'filter' / 'threshold_rules.py').exists():
        pytest.skip('the x402.runbook.threshold_rules filter is not there yet')
    thresholds = yaml.safe_load(THRESHOLDS_FILE.read_text())['x402_thresholds']
    tasks = {'gate': gate_args(prometheus.url, [check('CPU usage', CPU), check('error rate', ROLLBACK_ERRORS)],
                               time=tsdb_at(76), fail_on_breach=False)}
    process, results = run_playbook(ansible_env, tmp_path, tasks, None, thresholds=thresholds)
    assert 'gate' in results, process.stdout[-3000:]
    checks = by_name(results['gate'])
    assert checks['CPU usage']['id'] == CPU
    assert checks['CPU usage']['status'] == 'fail'  # app-2 is at 0.93 since T0+60m
    assert checks['CPU usage']['observed'] == pytest.approx(0.93, rel=1e-6)
    assert checks['error rate']['id'] == ROLLBACK_ERRORS
    assert checks['error rate']['status'] == 'fire'
    assert results['gate']['decision'] == 'NO-GO'
    assert [b['name'] for b in results['gate']['blocking']] == ['CPU usage', 'error rate']
