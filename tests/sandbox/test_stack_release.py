"""Deployment day end to end on the sandbox: releases of the reference stack are built from
the sandbox's git repository, rolled out one prover at a time under steady load, smoke-tested,
watched, and - when they are bad on purpose (build_images.py fault modes) - rolled back by
deploy.yml itself. The tests run in order and build on each other's state (one sandbox)."""
import json
import pathlib
import ssl
import subprocess
import sys
import urllib.request

import pytest

from testlib import ROOT, request, run, run_playbook, sample_request

pytestmark = pytest.mark.sandbox

HOME = pathlib.Path.home() / '.cache' / 'x402-runbook'
SOURCE = HOME / 'source'
DEPLOY = HOME / 'deploy'
KEY_FILE = HOME / 'secrets' / 'api_keys' / 'x402-prover.key'
LB_PORT = 18000
GOOD, SECOND = '0.1.0', '0.2.0'
PROVERS = ('prover-1', 'prover-2')
# Deploys after the first one watch for 30 s instead of the sandbox's 60 s: the first release
# checks the full watch, its record and its plot; the others test what comes before and after.
SHORT_WATCH = ('-e', 'x402_watch_duration=30s')


def tag(version):
    """Tag the newest commit of the sandbox's production branch v<version> (a release)."""
    done = run(['git', '--git-dir', str(SOURCE), 'tag', '--force', 'v' + version])
    assert done.returncode == 0, done.stderr


def deploy(tmp_path, version, *extra):
    tag(version)
    return run_playbook('deploy.yml', '-e', f'x402_release_version={version}', '-e', f'x402_record_dir={tmp_path}',
                        *extra)


def record(tmp_path, kind='deployment'):
    [found] = sorted(tmp_path.glob(f'*/{kind}.json'))
    return json.loads(found.read_text())


def by_id(rec):
    out = {}
    for check in rec['checks']:
        out.setdefault(check['id'], check)
    return out


def container(name):
    """(id, image) of a compose container of the stack."""
    out = run(['docker', 'inspect', '-f', '{{.Id}} {{.Config.Image}}', f'x402rb-stack-{name}-1'])
    assert out.returncode == 0, out.stderr
    return tuple(out.stdout.split())


def state():
    return json.loads((DEPLOY / 'state.json').read_text())


def health():
    status, _headers, body = request(LB_PORT, 'GET', '/health')
    assert status == 200, body
    return body


def proofs_stored():
    """Rows each prover keeps in its SQLite database (the data a rollback must not lose)."""
    counts = {}
    for name in PROVERS:
        out = run(['docker', 'exec', f'x402rb-stack-{name}-1', 'python3', '-c',
                   "import sqlite3; db = sqlite3.connect('file:/data/prover.db?mode=ro', uri=True); "
                   "print(sum(db.execute('SELECT COUNT(*) FROM ' + t).fetchone()[0] for (t,) in "
                   "db.execute(\"SELECT name FROM sqlite_master WHERE type='table'\")))"])
        assert out.returncode == 0, out.stderr
        counts[name] = int(out.stdout.strip())
    return counts


def prove_through_the_lb(count=4):
    key = KEY_FILE.read_text().strip()
    for number in range(count):
        # A new recipient each time: the proof cache must not answer, the provers must store.
        status, _headers, answer = request(LB_PORT, 'POST', '/generate-proof',
                                           body=sample_request(recipientKeyX=str(7000 + number)),
                                           headers={'X-API-Key': key})
        assert status == 200, answer


@pytest.fixture(scope='module')
def first_release(sandbox, tmp_path_factory):  # pylint: disable=unused-argument
    """0.1.0 running and GO (a first install, or a re-deploy when an earlier test installed it)."""
    out = tmp_path_factory.mktemp('first')
    result = deploy(out, GOOD)
    assert result.returncode == 0, result.stdout[-8000:]
    return out


def test_first_release_goes_live_with_record_and_plot(first_release):
    rec = record(first_release)
    assert rec['outcome'] == 'GO'
    assert rec['release'] == GOOD
    checks = by_id(rec)
    for item in ('deployment_day.pre_flight_checks.1', 'deployment_day.pre_flight_checks.2',
                 'deployment_day.pre_flight_checks.5', 'deployment_day.pre_flight_checks.7'):
        assert rec['signoffs'][item].startswith('sandbox'), rec['signoffs']
    # CPU, memory and disk are real measurements of the sandbox hosts, not placeholders.
    for item in ('post_deployment.immediate_monitoring.4', 'post_deployment.immediate_monitoring.5',
                 'post_deployment.immediate_monitoring.6'):
        assert isinstance(checks[item]['observed'], float) and 0.0 < checks[item]['observed'] <= 1.0, checks[item]
    assert checks['post_deployment.immediate_monitoring.5']['kind'] == 'gate'
    # The sandbox has no domain: its reserved .example origin is reported, not blocking.
    origins = checks['pre_deployment.configuration.3']
    assert origins['status'] == 'warn' and origins['observed'] == 1, origins
    assert 'https://app.x402.example: a reserved name' in origins['detail'], origins
    # Alerts firing at the end of the watch: counted by the sandbox's real Prometheus.
    alerts = checks['post_deployment.immediate_monitoring.7']
    assert alerts['kind'] == 'expectation' and alerts['observed'] >= 0, alerts
    assert alerts['status'] == ('pass' if alerts['observed'] == 0 else 'warn'), alerts
    # The Solana section ran: program on chain, verified, its id saved for the services.
    solana = json.loads(next(first_release.glob('*/solana_program.json')).read_text())
    assert solana['decision'] == 'GO', solana
    env_file = HOME / 'solana-localnet' / 'app' / 'deploy' / '.env.production'
    assert f"VERIFIER_PROGRAM_ID={solana['program_id']}" in env_file.read_text().splitlines()
    for item in ('deployment_day.build_phase.2', 'deployment_day.build_phase.4', 'deployment_day.build_phase.9',
                 'deployment_day.pre_flight_checks.3', 'deployment_day.pre_flight_checks.4',
                 'deployment_day.deploy_services.1', 'deployment_day.deploy_services.2',
                 'deployment_day.deploy_services.3', 'deployment_day.deploy_services.4',
                 'deployment_day.deploy_services.5', 'deployment_day.smoke_tests.1', 'deployment_day.smoke_tests.2',
                 'deployment_day.smoke_tests.3', 'deployment_day.smoke_tests.4', 'deployment_day.smoke_tests.5',
                 'deployment_day.smoke_tests.6', 'deployment_day.smoke_tests.7',
                 'post_deployment.immediate_monitoring.1', 'rollback_criteria.3'):
        assert item in checks, item
        assert checks[item]['status'] in ('pass', 'quiet'), checks[item]
    assert checks['deployment_day.build_phase.4']['observed'] == 893
    png = next(first_release.glob('*/deployment.png'))
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10000
    assert '## ' in next(first_release.glob('*/deployment.md')).read_text()
    assert health()['version'] == GOOD
    env_file = DEPLOY / 'releases' / GOOD / '.env'
    assert env_file.stat().st_mode & 0o777 == 0o600


def test_harden_yml_hardens_the_live_sandbox_and_the_release_keeps_serving(first_release):  # pylint: disable=unused-argument
    """Security hardening right after the deployment, as the checklist orders it: harden.yml on
    every sandbox host. Monitoring still scrapes every host through the new firewalls, and the
    TLS edge serves the running release with its headers, verified against the exported CA.
    Every deploy and rollback after this test runs on hardened hosts."""
    result = run_playbook('playbooks/harden.yml')
    assert result.returncode == 0, result.stdout[-8000:]
    for host in ('x402rb-app1', 'x402rb-app2', 'x402rb-lb', 'x402rb-db', 'x402rb-mon'):
        chain = run(['docker', 'exec', host, 'nft', 'list', 'chain', 'inet', 'x402_filter', 'input'])
        assert chain.returncode == 0 and 'policy drop;' in chain.stdout, (host, chain.stdout, chain.stderr)
    procedures = run(['docker', 'exec', 'x402rb-app1', 'cat', '/etc/x402/api_keys/PROCEDURES.md'])
    assert procedures.returncode == 0 and '`sandbox-client`: present' in procedures.stdout, procedures.stdout
    status, _headers, targets = request(19090, 'GET', '/api/v1/targets?state=active')
    assert status == 200
    health = {t['labels']['instance']: t['health'] for t in targets['data']['activeTargets']}
    node_targets = {instance: up for instance, up in health.items() if instance.endswith(':9100')}
    assert len(node_targets) == 5 and set(node_targets.values()) == {'up'}, health
    ca = HOME / 'edge-ca' / 'x402rb-lb.crt'
    context = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen('https://127.0.0.1:18443/health', context=context, timeout=30) as answer:
        assert answer.status == 200 and json.load(answer)['version'] == GOOD
        assert answer.headers['Strict-Transport-Security'].startswith('max-age=')
        assert answer.headers['X-Frame-Options'] == 'DENY'


def test_upgrade_rolls_one_prover_at_a_time_and_loses_no_request(first_release, tmp_path):  # pylint: disable=unused-argument
    stop = tmp_path / 'stop'
    load = subprocess.Popen([sys.executable, str(ROOT / 'benchmarks' / 'steady_load.py'), '--url',
                             f'http://127.0.0.1:{LB_PORT}', '--api-key-file', str(KEY_FILE), '--rps', '1',
                             '--stop-file', str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        result = deploy(tmp_path, SECOND, *SHORT_WATCH)
    finally:
        stop.write_text('')
        summary = json.loads(load.communicate(timeout=120)[0])
    assert result.returncode == 0, result.stdout[-8000:]
    rec = record(tmp_path)
    assert rec['outcome'] == 'GO'
    rollout = rec['rollout']
    assert [(step['prover'], step['action'], step['to']) for step in rollout] == \
        [('prover-1', 'replaced', SECOND), ('prover-2', 'replaced', SECOND)]
    assert summary['sent'] > 20, summary
    assert summary['failed'] == 0, summary
    assert health()['version'] == SECOND
    assert state()['current'] == SECOND and state()['previous'] == GOOD


def test_second_run_of_the_same_release_changes_no_prover(first_release, tmp_path):  # pylint: disable=unused-argument
    before = {name: container(name) for name in PROVERS + ('nginx',)}
    result = deploy(tmp_path, SECOND, *SHORT_WATCH)
    assert result.returncode == 0, result.stdout[-8000:]
    assert {name: container(name) for name in PROVERS + ('nginx',)} == before
    assert [step['action'] for step in record(tmp_path)['rollout']] == ['unchanged', 'unchanged']
    solana = json.loads(next(tmp_path.glob('*/solana_program.json')).read_text())
    assert solana['deploy']['changed'] is False and solana['deploy']['action'] == 'none', solana['deploy']


def test_missing_signoff_stops_before_anything_changes(first_release, tmp_path):  # pylint: disable=unused-argument
    before = ({name: container(name) for name in PROVERS + ('nginx',)}, state())
    result = deploy(tmp_path, '0.2.9', '-e', 'x402_signoff_oncall=')
    assert result.returncode != 0
    assert 'x402_signoff_oncall' in result.stdout
    assert ({name: container(name) for name in PROVERS + ('nginx',)}, state()) == before
    assert not (DEPLOY / 'releases' / '0.2.9').exists()
    assert run(['docker', 'image', 'inspect', 'x402rb-prover:0.2.9']).returncode != 0


def test_5xx_release_is_rolled_back_and_the_data_survives(first_release, tmp_path):  # pylint: disable=unused-argument
    prove_through_the_lb()
    stored = proofs_stored()
    result = deploy(tmp_path, '0.2.1', '-e', 'x402_release_fault=http_500')
    assert result.returncode != 0
    assert 'rolled back to ' + SECOND in result.stdout
    rec = record(tmp_path)
    assert rec['outcome'] == 'ROLLED-BACK'
    assert rec['trigger']['id'].startswith('deployment_day.smoke_tests'), rec['trigger']
    incident = record(tmp_path, 'incident')
    assert incident['outcome'] == 'ROLLED-BACK' and incident['previous_release'] == SECOND
    assert 'post-mortem' in next(tmp_path.glob('*/incident.md')).read_text().lower()
    assert health()['version'] == SECOND
    assert all(container(name)[1].endswith(':' + SECOND) for name in PROVERS)
    after = proofs_stored()
    assert all(after[name] >= stored[name] > 0 for name in PROVERS), (stored, after)
    assert state()['current'] == SECOND


def test_invalid_proof_release_is_caught_by_the_watch_and_rolled_back(first_release, tmp_path):  # pylint: disable=unused-argument
    # Without the smoke tests, the post-deploy watch is the last line: its verified sample
    # (and the provers' own self-check metric) must fire rollback_criteria.3 at once.
    stored = proofs_stored()
    result = deploy(tmp_path, '0.2.2', '-e', 'x402_release_fault=invalid_proof', *SHORT_WATCH,
                    '--skip-tags', 'deployment_day.smoke_tests')
    assert result.returncode != 0
    rec = record(tmp_path)
    assert rec['outcome'] == 'ROLLED-BACK'
    assert rec['trigger']['id'] == 'rollback_criteria.3', rec['trigger']
    assert health()['version'] == SECOND
    after = proofs_stored()
    assert all(after[name] >= stored[name] > 0 for name in PROVERS), (stored, after)


def test_failed_health_check_stops_the_rollout_at_the_first_host(first_release, tmp_path):  # pylint: disable=unused-argument
    untouched = container('prover-2')
    result = deploy(tmp_path, '0.2.3', '-e', 'x402_release_fault=unhealthy')
    assert result.returncode != 0
    assert 'Rollout stopped at prover-1' in result.stdout
    rec = record(tmp_path)
    services = by_id(rec)['deployment_day.deploy_services.2']
    assert services['status'] == 'fail' and 'prover-1' in services['detail']
    assert [step['action'] for step in rec['rollout'] if step['prover'] == 'prover-2'] == []
    assert container('prover-2') == untouched
    assert rec['outcome'] == 'ROLLED-BACK'
    assert container('prover-1')[1].endswith(':' + SECOND)
    assert health()['version'] == SECOND


def test_rollback_playbook_by_hand_restores_the_previous_release(first_release, tmp_path):  # pylint: disable=unused-argument
    assert state()['current'] == SECOND and state()['previous'] == GOOD
    result = run_playbook('playbooks/rollback.yml', '-e', f'x402_release_version={SECOND}',
                          '-e', f'x402_record_dir={tmp_path}', '-e', 'x402_rollback_reason=drill')
    assert result.returncode == 0, result.stdout[-8000:]
    incident = record(tmp_path, 'incident')
    assert incident['outcome'] == 'ROLLED-BACK' and incident['previous_release'] == GOOD
    # The operator's sentence is the trigger of the incident record.
    assert incident['trigger']['id'] == 'rollback.manual' and incident['trigger']['detail'] == 'drill', incident
    assert health()['version'] == GOOD
    assert all(container(name)[1].endswith(':' + GOOD) for name in PROVERS)
    assert state()['current'] == GOOD
