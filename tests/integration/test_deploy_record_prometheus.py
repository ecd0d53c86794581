# -*- coding: utf-8 -*-
"""x402.runbook.deploy_record against a REAL Prometheus (see conftest.py for the data),
run through ansible-playbook with the REAL rules of roles/thresholds/defaults/main.yml.

One play: metrics_gate watches the rollback trigger at T0+76m (it fires), the incident
record takes its result as the trigger and draws error rate and P95 over [T0+50m, T0+130m];
the same deployment record twice (the second run changes nothing, the PNG included);
check mode; and Prometheus unreachable (the record is written without its plot).
"""

from __future__ import annotations

import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image

from testlib import run_local_play, task_results

pytestmark = pytest.mark.integration

ERRORS_30M = 'post_deployment.immediate_monitoring.1'
P95 = 'post_deployment.immediate_monitoring.2'
ROLLBACK_ERRORS = 'rollback_criteria.1'
ROLLBACK_P95 = 'rollback_criteria.2'
SERIES = [ERRORS_30M, P95, ROLLBACK_ERRORS, ROLLBACK_P95]


def unix(text):
    return datetime.strptime(text, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=timezone.utc).timestamp()


def record_args(directory, url, at, **extra):
    args = {'dir': str(directory), 'release': '1.2.0', 'previous_release': '1.1.0', 'operator': 'integration',
            'started_at': at(50), 'finished_at': at(130), 'outcome': 'GO',
            'signoffs': {'deployment_day.pre_flight_checks.1': 'alice'},
            'timeline': [{'at': at(50), 'event': 'deployment started'}],
            'plot': {'prometheus_url': url, 'step': '15s', 'series': SERIES, 'rules': '{{ x402_rules }}'}}
    args.update(extra)
    return args


@pytest.fixture(scope='module')
def play(prometheus, closed_port_url, rules, tsdb_at, tmp_path_factory):
    base = tmp_path_factory.mktemp('deploy-record')
    dirs = {name: base / 'records' / name for name in ('incident', 'deployment', 'check', 'unreachable')}
    incident = record_args(dirs['incident'], prometheus.url, tsdb_at, kind='incident', outcome='ROLLED-BACK',
                           trigger='{{ watch.blocking[0] }}', checks='{{ watch.results }}',
                           timeline=[{'at': tsdb_at(76), 'event': 'rollback triggered'}])
    tasks = [
        {'name': 'watch', 'register': 'watch',
         'x402.runbook.metrics_gate': {'url': prometheus.url, 'time': tsdb_at(76), 'fail_on_breach': False,
                                       'checks': [{'name': 'error rate', 'rule': '{{ x402_rules[%r] }}'
                                                   % ROLLBACK_ERRORS}]}},
        {'name': 'incident', 'x402.runbook.deploy_record': incident},
        {'name': 'deployment', 'x402.runbook.deploy_record': record_args(dirs['deployment'], prometheus.url, tsdb_at)},
        {'name': 'deployment again',
         'x402.runbook.deploy_record': record_args(dirs['deployment'], prometheus.url, tsdb_at)},
        {'name': 'check mode', 'check_mode': True,
         'x402.runbook.deploy_record': record_args(dirs['check'], prometheus.url, tsdb_at)},
        {'name': 'unreachable',
         'x402.runbook.deploy_record': record_args(dirs['unreachable'], closed_port_url, tsdb_at)},
    ]
    process = run_local_play(base, tasks, play_vars={'x402_rules': rules})
    assert process.returncode == 0, process.stdout[-6000:] + process.stderr[-3000:]
    return task_results(process), dirs


def panels_by_rule(record):
    return {rule['id']: rule for panel in record['plot']['panels'] for rule in panel['rules']}


def test_incident_record_with_the_trigger_that_fired(play, tsdb_at):
    results, dirs = play
    assert results['watch']['decision'] == 'NO-GO'
    result = results['incident']
    assert result['changed'] is True
    assert sorted(os.listdir(dirs['incident'])) == ['incident.json', 'incident.md', 'incident.png']
    record = json.loads((dirs['incident'] / 'incident.json').read_text())
    assert record['kind'] == 'incident' and record['outcome'] == 'ROLLED-BACK'
    assert record['trigger']['id'] == ROLLBACK_ERRORS and record['trigger']['status'] == 'fire'
    assert record['trigger']['observed'] == pytest.approx(0.30)
    assert record['checks'][0]['detail'] == results['watch']['results'][0]['detail']
    text = (dirs['incident'] / 'incident.md').read_text()
    assert '**rollback_criteria.1** error rate: **FIRE**' in text and '### Root cause' in text
    assert '![error rate, latency P95 from 2024-01-01T00:50:00Z to 2024-01-01T02:10:00Z](incident.png)' in text


def test_the_plot_shows_what_prometheus_holds(play, tsdb_at):
    results, dirs = play
    record = json.loads((dirs['incident'] / 'incident.json').read_text())
    plot = record['plot']
    assert (plot['start'], plot['end'], plot['step']) == ('2024-01-01T00:50:00Z', '2024-01-01T02:10:00Z', '15s')
    assert [(p['title'], [r['id'] for r in p['rules']]) for p in plot['panels']] == [
        ('error rate', [ERRORS_30M, ROLLBACK_ERRORS]), ('latency P95', [P95, ROLLBACK_P95])]
    rules = panels_by_rule(record)
    # The 1-minute error ratio: 0.01 before T0+60m, then 0.10, with the three 0.30 stretches.
    trigger = rules[ROLLBACK_ERRORS]['series'][0]
    assert trigger['max'] == pytest.approx(0.30) and trigger['min'] == pytest.approx(0.01)
    runs = [(unix(a), unix(b)) for a, b in trigger['breaches']]
    assert len(runs) == 4
    assert tsdb_at(70) <= runs[0][0] <= tsdb_at(71) and tsdb_at(76) <= runs[0][1] <= tsdb_at(77)
    assert tsdb_at(90) <= runs[1][0] <= tsdb_at(91) and tsdb_at(94) <= runs[1][1] <= tsdb_at(95)
    # The third stretch (T0+110m..118m) has no samples in (113m, 115m): a 1-minute rate has no
    # value from 114m to 115m (5 points of 321), so the breach shows as two runs around the gap.
    assert trigger['points'] == 321 - 5
    assert tsdb_at(110) <= runs[2][0] and runs[2][1] < tsdb_at(114) < tsdb_at(115) < runs[3][0]
    assert runs[3][1] <= tsdb_at(119)
    # The 30-minute gate: under 5 % at the start of the window, over it from T0+70m..73m on.
    gate = rules[ERRORS_30M]['series'][0]
    assert gate['min'] == pytest.approx(0.01) and 0.10 < gate['max'] < 0.30
    assert len(gate['breaches']) == 1
    assert tsdb_at(70) <= unix(gate['breaches'][0][0]) <= tsdb_at(73)
    assert gate['breaches'][0][1] == '2024-01-01T02:10:00Z'
    # No latency histogram in the data: no data, and the plot says so.
    assert rules[P95]['no_data'] is True and rules[ROLLBACK_P95]['no_data'] is True
    assert rules[P95]['error'] is None and rules[P95]['series'] == []
    assert results['incident']['plot'] == plot
    image = Image.open(io.BytesIO((dirs['incident'] / 'incident.png').read_bytes()))
    assert image.format == 'PNG' and image.size[0] > 800 and image.size[1] > 500


def test_second_run_changes_nothing_png_included(play):
    results, dirs = play
    first, again = results['deployment'], results['deployment again']
    assert first['changed'] is True
    assert [Path(f).name for f in first['changed_files']] == ['deployment.json', 'deployment.md', 'deployment.png']
    assert again['changed'] is False and again['changed_files'] == [] and again['files'] == first['files']


def test_check_mode_writes_nothing(play):
    results, dirs = play
    result = results['check mode']
    assert result['changed'] is True
    assert [Path(f).name for f in result['changed_files']] == ['deployment.json', 'deployment.md', 'deployment.png']
    assert not dirs['check'].exists()
    assert result['plot']['panels'] == results['deployment']['plot']['panels']


def test_unreachable_prometheus_writes_the_record_without_the_plot(play, closed_port_url):
    results, dirs = play
    result = results['unreachable']
    assert 'failed' not in result or result['failed'] is False
    assert sorted(os.listdir(dirs['unreachable'])) == ['deployment.json', 'deployment.md']
    record = json.loads((dirs['unreachable'] / 'deployment.json').read_text())
    assert record['plot'] is None and record['plot_error'].startswith('Prometheus at %s: cannot reach' % closed_port_url)
    assert any('written without its plot' in w for w in result['warnings'])
