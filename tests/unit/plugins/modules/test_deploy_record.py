# -*- coding: utf-8 -*-
"""Unit tests of x402.runbook.deploy_record, run in-process: documentation against the
argument spec, the files and their modes, idempotence, check mode, secrets never
written nor returned, errors naming field, value and rule without a traceback, and
the record written without its plot when Prometheus cannot be reached. The plot from a
real Prometheus is tested in tests/integration/test_deploy_record_prometheus.py."""

from __future__ import annotations

import json
import os
import socket
import stat

import pytest
import yaml

from testlib import assert_options_documented, module_warning_texts, run_module_in_process

from ansible_collections.x402.runbook.plugins.module_utils import deploy_record_plot
from ansible_collections.x402.runbook.plugins.modules import deploy_record

SECRETS = ('sk-live-9f8e7d6c5b4a', 'hunter2-db-pass', 'tok-0a1b2c3d4e', 'prom-Pa55word-x')


def run(args, check_mode=False):
    return run_module_in_process(deploy_record, args, check_mode=check_mode)


@pytest.fixture
def args(tmp_path):
    return {'dir': str(tmp_path / 'records' / '1.2.0-20261128T000000Z'), 'release': '1.2.0',
            'previous_release': '1.1.0', 'operator': 'alice', 'started_at': '2026-11-28T00:00:00Z',
            'finished_at': '2026-11-28T00:45:00Z', 'outcome': 'GO',
            'checks': [{'id': 'post_deployment.immediate_monitoring.4', 'name': 'CPU usage', 'kind': 'gate',
                        'observed': 0.45, 'status': 'pass', 'detail': 'observed 0.45, required < 0.7: PASS',
                        'rule': {'kind': 'gate', 'op': '<', 'value': 0.7, 'unit': 'ratio'}}],
            'signoffs': {'deployment_day.pre_flight_checks.1': 'alice'},
            'timeline': [{'at': '2026-11-28T00:00:00Z', 'event': 'deployment started'}]}


@pytest.fixture
def closed_url():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return 'http://127.0.0.1:%d' % sock.getsockname()[1]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def listing(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else None


# --- documentation -------------------------------------------------------------------

def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(deploy_record.DOCUMENTATION)
    spec = deploy_record.argument_spec()
    assert doc['module'] == 'deploy_record'
    assert_options_documented(doc['options'], spec)
    plot = spec['plot']['options']
    assert plot['headers']['no_log'] is True and plot['url_password']['no_log'] is True
    assert doc['attributes']['check_mode']['support'] == 'full'
    assert doc['attributes']['diff_mode']['support'] == 'none'
    assert [task for task in yaml.safe_load(deploy_record.EXAMPLES) if 'x402.runbook.deploy_record' not in task] == []
    assert {'path', 'files', 'changed_files', 'outcome', 'summary', 'plot', 'plot_error'} <= set(
        yaml.safe_load(deploy_record.RETURN))


# --- files -----------------------------------------------------------------------------

def test_writes_json_and_markdown_with_their_modes(args):
    old = os.umask(0o077)  # the modes are the module's, not the umask's
    try:
        result = run(args)[0]
    finally:
        os.umask(old)
    directory = args['dir']
    assert result['changed'] is True and result['path'] == directory
    assert result['files'] == result['changed_files'] == [os.path.join(directory, 'deployment.json'),
                                                          os.path.join(directory, 'deployment.md')]
    assert listing(directory) == ['deployment.json', 'deployment.md']  # no temporary file left
    assert mode(directory) == 0o750
    assert [mode(f) for f in result['files']] == [0o640, 0o640]
    record = json.load(open(result['files'][0]))
    identity = (record['kind'], record['release'], record['operator'], record['outcome'])
    assert identity == ('deployment', '1.2.0', 'alice', 'GO')
    assert record['plot'] is None and record['plot_error'] is None
    assert result['plot'] is None and result['outcome'] == 'GO'
    assert result['summary']['by_status']['pass'] == 1
    text = open(result['files'][1]).read()
    assert text.startswith('# Deployment record: release 1.2.0') and '| Outcome | **GO** |' in text


def test_second_run_changes_nothing_and_a_wrong_mode_is_fixed(args):
    assert run(args)[0]['changed'] is True
    again = run(args)[0]
    assert again['changed'] is False and again['changed_files'] == []
    json_file = again['files'][0]
    os.chmod(json_file, 0o644)
    fixed = run(args)[0]
    assert fixed['changed'] is True and fixed['changed_files'] == [json_file] and mode(json_file) == 0o640
    changed = run(dict(args, outcome='NO-GO'))[0]
    assert changed['changed_files'] == again['files']


def test_an_existing_directory_keeps_its_mode(args):
    os.makedirs(args['dir'], mode=0o700)
    os.chmod(args['dir'], 0o700)
    assert run(args)[0]['changed'] is True
    assert mode(args['dir']) == 0o700


def test_check_mode_writes_nothing_and_says_what_it_would_write(args):
    result = run(args, check_mode=True)[0]
    assert result['changed'] is True
    assert [os.path.basename(f) for f in result['changed_files']] == ['deployment.json', 'deployment.md']
    assert not os.path.exists(os.path.dirname(args['dir']))
    assert result['msg'].startswith('would write deployment record of 1.2.0 (GO)')
    run(args)
    unchanged = run(args, check_mode=True)[0]
    assert unchanged['changed'] is False
    assert run(dict(args, outcome='ROLLED-BACK'), check_mode=True)[0]['changed'] is True
    assert json.load(open(unchanged['files'][0]))['outcome'] == 'GO'


def test_incident_record(args):
    trigger = {'id': 'rollback_criteria.1', 'name': 'error rate', 'kind': 'trigger', 'observed': 0.3,
               'status': 'fire', 'detail': 'held 360s of required 300s: FIRE',
               'rule': {'kind': 'trigger', 'op': '>', 'value': 0.2, 'for': '5m', 'unit': 'ratio'}}
    result = run(dict(args, kind='incident', outcome='ROLLED-BACK', trigger=trigger))[0]
    assert [os.path.basename(f) for f in result['files']] == ['incident.json', 'incident.md']
    record = json.load(open(result['files'][0]))
    assert record['trigger']['status'] == 'fire' and record['post_mortem']['review_due_by'] == '2026-11-29T00:45:00Z'
    text = open(result['files'][1]).read()
    assert '## Trigger' in text and '### Root cause' in text and '### Review scheduled within 24 h' in text


# --- secrets -----------------------------------------------------------------------------

def test_secrets_are_never_written_nor_returned(args, closed_url):
    args['checks'][0]['api_key'] = SECRETS[0]
    args['timeline'][0]['db_password'] = SECRETS[1]
    args['extra'] = {'images': {'prover': 'x402/prover:1.2.0'}, 'ci': [{'Access-Token': SECRETS[2]}]}
    args['plot'] = {'prometheus_url': closed_url.replace('http://', 'http://ops:%s@' % SECRETS[3]),
                    'series': ['post_deployment.immediate_monitoring.1'],
                    'rules': {'post_deployment.immediate_monitoring.1': {
                        'kind': 'gate', 'op': '<', 'value': 0.05, 'query': 'up'}}}
    result, raw = run(args)
    assert result['changed'] is True
    contents = ''.join(open(f).read() for f in result['files'])
    for secret in SECRETS:
        assert secret not in contents and secret not in raw
    record = json.load(open(result['files'][0]))
    assert record['checks'][0]['api_key'] == record['timeline'][0]['db_password'] == '<redacted>'
    assert record['ci'][0]['Access-Token'] == '<redacted>' and record['images'] == {'prover': 'x402/prover:1.2.0'}
    assert 'x402/prover:1.2.0' in contents


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize('change, expected', [
    ({'outcome': 'DONE'}, 'value of outcome must be one of: GO, NO-GO, ROLLED-BACK, ROLLBACK-FAILED, got: DONE'),
    ({'kind': 'audit'}, 'value of kind must be one of: deployment, incident, got: audit'),
    ({'started_at': 'yesterday'}, "started_at = 'yesterday': must be unix seconds or an RFC 3339 timestamp"),
    ({'finished_at': '2026-11-27T23:59:59Z'}, "finished_at = '2026-11-27T23:59:59Z': is before started_at"),
    ({'checks': [{'id': 'a.1', 'status': 'ok'}]},
     "checks[0] (id 'a.1').status = 'ok': must be one of pass, fail, warn, no_data, quiet, fire"),
    ({'kind': 'incident'}, 'trigger = null: an incident record needs what fired'),
    ({'extra': {'outcome': 'GO'}}, "extra.outcome = 'GO': is one of the record's own fields"),
    ({'plot': {'prometheus_url': 'http://127.0.0.1:9', 'series': ['x.1'], 'rules': {'y.1': {}}}},
     "plot.series[0] = 'x.1': is not a rule of plot.rules (known: y.1)"),
    ({'plot': {'series': ['x.1'], 'rules': {}}}, 'missing required arguments: prometheus_url found in plot'),
])
def test_bad_input_fails_naming_field_value_and_rule_and_writes_nothing(args, change, expected):
    result, raw = run(dict(args, **change))
    assert result['failed'] is True and expected in result['msg'], result['msg']
    assert 'Traceback' not in raw and 'exception' not in result
    assert listing(args['dir']) is None


def test_dir_that_is_a_file(args):
    os.makedirs(os.path.dirname(args['dir']))
    open(args['dir'], 'w').close()
    result = run(args)[0]
    assert result['failed'] is True and 'exists and is not a directory' in result['msg']


def test_without_matplotlib_a_plot_is_refused_before_anything_is_written(args, monkeypatch):
    monkeypatch.setattr(deploy_record_plot, 'HAS_MATPLOTLIB', False)
    result = run(dict(args, plot={'prometheus_url': 'http://127.0.0.1:9', 'series': ['a'], 'rules': {'a': {}}}))[0]
    assert result['failed'] is True and 'Failed to import the required Python library (matplotlib)' in result['msg']
    assert listing(args['dir']) is None
    assert run(args)[0]['changed'] is True  # without a plot, matplotlib is not needed


# --- Prometheus unreachable ----------------------------------------------------------------

def test_unreachable_prometheus_still_writes_the_record_with_a_warning(args, closed_url, rules):
    args['plot'] = {'prometheus_url': closed_url, 'series': ['post_deployment.immediate_monitoring.1',
                                                             'rollback_criteria.1'], 'rules': rules}
    result = run(args)[0]
    assert result['changed'] is True and 'failed' not in result
    assert [os.path.basename(f) for f in result['files']] == ['deployment.json', 'deployment.md']
    assert listing(args['dir']) == ['deployment.json', 'deployment.md']
    assert result['plot'] is None and result['plot_error'].startswith('Prometheus at %s: cannot reach' % closed_url)
    record = json.load(open(result['files'][0]))
    assert record['plot'] is None and record['plot_error'] == result['plot_error']
    assert 'No plot: Prometheus at %s: cannot reach' % closed_url in open(result['files'][1]).read()
    warnings = module_warning_texts(result)
    assert len(warnings) == 1 and warnings[0].startswith('deploy_record: the record is written without its plot')
