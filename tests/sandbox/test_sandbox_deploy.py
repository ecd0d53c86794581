"""End to end on the local sandbox (tests/sandbox/conftest.py creates it): run deploy.yml's
pre-flight for real, break it in the ways an operator would meet, and query live gates
with metrics_gate."""
import json
import shutil

import pytest
import yaml

from testlib import ROOT, run, run_playbook as playbook, tool_env

pytestmark = pytest.mark.sandbox

# The sandbox inventory reports the machine-wide CPU and disk figures as expectations
# (inventories/local/group_vars/all.yml); extra vars replace that mapping, so tests
# that change a rule start from the inventory's own overrides.
SANDBOX_OVERRIDES = yaml.safe_load(
    (ROOT / 'inventories/local/group_vars/all.yml').read_text())['x402_threshold_overrides']


def overrides(**extra):
    return json.dumps({'x402_threshold_overrides': dict(SANDBOX_OVERRIDES, **extra)})


def records(record_dir):
    found = sorted(record_dir.glob('*/preflight.json'))
    return [json.loads(p.read_text()) for p in found]


def test_missing_signoff_stops_the_deploy_before_any_change(sandbox, tmp_path):
    result = playbook('deploy.yml', '-e', f'x402_record_dir={tmp_path}', '-e', 'x402_signoff_oncall=')
    assert result.returncode != 0
    assert 'Sign-off deployment_day.pre_flight_checks.7 is missing' in result.stdout
    assert 'x402_signoff_oncall' in result.stdout
    [record] = records(tmp_path)
    assert record['decision'] == 'NO-GO'
    assert record['signoffs']['deployment_day.pre_flight_checks.7'] == ''


def test_unreachable_monitoring_is_a_no_go(sandbox, tmp_path):
    result = playbook('deploy.yml', '-e', f'x402_record_dir={tmp_path}',
                      '-e', 'x402_prometheus_url=http://127.0.0.1:9')
    assert result.returncode != 0
    assert '127.0.0.1:9' in result.stdout
    assert records(tmp_path)[0]['decision'] == 'NO-GO'


def test_a_breached_headroom_gate_stops_with_observed_value_and_limit(sandbox, tmp_path):
    # A real breach of the real measurement: the memory limit is lowered below what the host uses.
    lowered = overrides(**{'post_deployment.immediate_monitoring.5': {'value': 0.0001}})
    result = playbook('deploy.yml', '-e', f'x402_record_dir={tmp_path}', '-e', lowered)
    assert result.returncode != 0
    assert 'memory usage' in result.stdout and '< 0.0001' in result.stdout
    [record] = records(tmp_path)
    assert record['decision'] == 'NO-GO'
    memory = next(c for c in record['checks'] if c['id'] == 'post_deployment.immediate_monitoring.5')
    assert memory['status'] == 'fail' and memory['observed'] > 0.0001


def test_metrics_gate_reads_real_node_values(sandbox):
    rules = yaml.safe_load((ROOT / 'roles/thresholds/defaults/main.yml').read_text())['x402_thresholds']
    checks = [{'name': item, 'rule': dict(rules[item], id=item)}
              for item in ('post_deployment.immediate_monitoring.4', 'post_deployment.immediate_monitoring.5',
                           'post_deployment.immediate_monitoring.6')]
    args = json.dumps({'url': 'http://127.0.0.1:19090', 'checks': checks, 'fail_on_breach': False})
    result = run(['ansible', 'localhost', '-m', 'x402.runbook.metrics_gate', '-a', args, '-o'])
    assert result.returncode == 0, result.stdout[-4000:]
    task = json.loads(result.stdout.split(' => ', 1)[1])
    observed = {r['id']: r['observed'] for r in task['results']}
    assert sorted(observed) == sorted(c['name'] for c in checks)
    assert all(isinstance(v, float) and 0.0 < v <= 1.0 for v in observed.values()), observed
    # Memory is the sandbox's own and far from full: its gate passes on the real value.
    statuses = {r['id']: r['status'] for r in task['results']}
    assert statuses['post_deployment.immediate_monitoring.5'] == 'pass', task['results']


def test_predeploy_refuses_a_single_prover_instance(sandbox, tmp_path):
    inventory = tmp_path / 'one_app.yml'
    inventory.write_text(yaml.safe_dump({'all': {'children': {
        'control': {'hosts': {'localhost': {'ansible_connection': 'local',
                                            'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}},
        'app': {'hosts': {'x402rb-app1': {}}}}}}))
    ok = playbook('playbooks/predeploy.yml', '--tags', 'pre_deployment.infrastructure.1')
    assert ok.returncode == 0, ok.stdout[-3000:]
    refused = playbook('-i', str(inventory), 'playbooks/predeploy.yml', '--tags', 'pre_deployment.infrastructure.1')
    assert refused.returncode != 0
    assert 'prover instances' in refused.stdout and '1' in refused.stdout


def test_installed_collection_runs_deploy_by_its_fqcn(sandbox, tmp_path):
    built = run(['ansible-galaxy', 'collection', 'build', '--output-path', str(tmp_path)])
    assert built.returncode == 0, built.stderr
    [tarball] = tmp_path.glob('x402-runbook-*.tar.gz')
    installed = run(['ansible-galaxy', 'collection', 'install', '--force', '--no-deps', '-p', str(tmp_path / 'collections'),
                     str(tarball)])
    assert installed.returncode == 0, installed.stderr
    workdir = tmp_path / 'operator'
    workdir.mkdir()
    shutil.copytree(ROOT / 'inventories' / 'local', workdir / 'inventory')
    env = tool_env(ANSIBLE_COLLECTIONS_PATH=str(tmp_path / 'collections'))
    env.pop('ANSIBLE_CONFIG')
    # The pre-flight section is enough to show the installed collection resolves and runs;
    # the whole deploy is tests/sandbox/test_stack_release.py's.
    result = run(['ansible-playbook', '-i', 'inventory', 'x402.runbook.deploy', '-e', f'x402_record_dir={tmp_path}/rec',
                  '--tags', 'deployment_day.pre_flight_checks'], cwd=workdir, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert records(tmp_path / 'rec')[0]['decision'] == 'GO'
