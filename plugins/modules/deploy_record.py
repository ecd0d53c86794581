#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: deploy_record
short_description: Write the deployment or incident record (JSON, Markdown and a PNG of the watch window)
version_added: 0.1.0
description:
  - Writes what happened during a deployment (O(kind=deployment)) or a rollback (O(kind=incident)) into
    O(dir) as files named after O(kind).
  - C(<kind>.json) holds everything, machine-readable, in a stable key order.
  - C(<kind>.md) is for a person; version, who and when, the outcome, every check with its observed value
    and rule, the sign-offs, the timeline; for an incident also the trigger and a post-mortem stub
    (summary, impact, timeline, root cause, action items, review scheduled within 24 h).
  - C(<kind>.png), when O(plot) is given, has one panel per measured quantity over the watch window (for
    example error rate and P95 latency), read from Prometheus, with each rule's bound as a labelled dashed line
    and the samples over a bound shaded; the events of O(timeline) are dotted vertical lines.
  - O(dir) is created with mode C(0750) when it is missing; the files are written with mode C(0640), each only
    when its content or mode differs (atomically, through a temporary file in O(dir)).
  - Values under keys that look secret (C(api_key), C(password), C(token), C(secret), C(private_key),
    C(authorization), C(credential), ... at any depth of O(checks), O(signoffs), O(timeline), O(trigger) and
    O(extra)) are replaced by C(<redacted>) before anything is written; credentials in URLs are removed.
  - When Prometheus cannot be reached, the record is written all the same, without the plot (C(plot) is
    C(null) in the JSON and C(plot_error) says why), and the module warns. A query Prometheus rejects, or one
    that returns nothing, leaves its series empty; a panel without any data says C(no data).
author:
  - x402.runbook developers (@x402)
requirements:
  - matplotlib (Python library, on the host that runs the module; only when O(plot) is given)
attributes:
  check_mode:
    support: full
    description:
      - In check mode the module builds the record (and queries Prometheus for the plot, read-only) and reports
        the files it would write in RV(changed_files); it writes nothing.
  diff_mode:
    support: none
    description: The record is a new document; there is nothing useful to diff.
options:
  dir:
    description:
      - Directory of the record, for example C({{ x402_record_dir }}/{{ release }}-{{ ts }}).
        Created with mode C(0750) (with its missing parents) when it does not exist.
    type: path
    required: true
  kind:
    description:
      - V(deployment) for the record of a deployment, V(incident) for the record of a rollback or an
        incident (it needs O(trigger) and gets a post-mortem stub). Also the files' base name.
    type: str
    choices: [deployment, incident]
    default: deployment
  release:
    description: The version deployed (or rolled back from).
    type: str
    required: true
  previous_release:
    description: The version before it (the rollback target).
    type: str
  operator:
    description: Who ran it.
    type: str
    required: true
  started_at:
    description: When it started, as unix seconds or RFC 3339 with a zone (V(2026-11-28T00:00:00Z)).
    type: raw
    required: true
  finished_at:
    description:
      - When it finished, in the same forms as O(started_at); not before it.
      - Defaults to now (the clock of the host that runs the module).
    type: raw
  outcome:
    description: How it ended.
    type: str
    required: true
    choices: [GO, NO-GO, ROLLED-BACK, ROLLBACK-FAILED]
  checks:
    description:
      - Every check's result in the collection's result shape C({id, name, observed, rule, status, detail})
        (as M(x402.runbook.metrics_gate), the threshold filters and the roles report them); several lists
        concatenated by the caller.
      - C(status) must be one of V(pass), V(fail), V(warn), V(no_data), V(quiet), V(fire), and one of the
        statuses of the check's C(kind) when it has one. Every other field is kept in the JSON.
    type: list
    elements: dict
    default: []
  signoffs:
    description:
      - Checklist id -> who signed it off (a name, or C({by, at})). An empty value is shown as MISSING.
    type: dict
    default: {}
  timeline:
    description:
      - Events C({at, event}), C(at) in the same forms as O(started_at). Written in time order.
    type: list
    elements: dict
    default: []
  trigger:
    description:
      - What fired, in the result shape (for example the firing result of M(x402.runbook.metrics_gate)).
      - Required when O(kind=incident).
    type: dict
  plot:
    description:
      - Draw C(<kind>.png) from Prometheus range queries over the watch window.
      - Rules that measure the same quantity (the same name without its parenthesis, and the same unit, such as
        C(post_deployment.immediate_monitoring.1) "error rate (first 30 min)" and C(rollback_criteria.1)
        "error rate") share a panel, each with its own bound line.
    type: dict
    suboptions:
      prometheus_url:
        description: Base URL of Prometheus, for example V(http://127.0.0.1:19090).
        type: str
        required: true
      start:
        description: Start of the window (unix seconds or RFC 3339); defaults to O(started_at).
        type: raw
      end:
        description: End of the window; defaults to O(finished_at).
        type: raw
      step:
        description:
          - Resolution of the range queries, a duration (V(15s)) or seconds. Raised when the window would need more
            than the 11,000 points per series Prometheus answers.
        type: raw
        default: 15s
      series:
        description:
          - Threshold ids to draw. The PromQL C(query), the bound and the comparison come from the rule in
            O(plot.rules).
        type: list
        elements: str
        required: true
      rules:
        description: The threshold rules keyed by id (C(x402_rules), set by the role C(x402.runbook.thresholds)).
        type: dict
        required: true
      timeout:
        description: Timeout of each request to Prometheus, in seconds.
        type: int
        default: 10
      validate_certs:
        description: Verify Prometheus' TLS certificate.
        type: bool
        default: true
      headers:
        description: Extra HTTP headers (for example C(Authorization)); never logged nor written.
        type: dict
      url_username:
        description: User name for HTTP basic authentication.
        type: str
      url_password:
        description: Password for HTTP basic authentication.
        type: str
  extra:
    description:
      - Anything else to keep in the record (the Solana program id, the images, ...), merged into the JSON after
        the record's own fields (its keys sorted) and shown as a JSON block in the Markdown.
      - A key may not be one of the record's own top-level fields (C(kind), C(outcome), C(checks), C(plot), ...).
    type: dict
    default: {}
notes:
  - Times are written in UTC, RFC 3339.
  - Prometheus is queried from the host that runs the module (usually the control node).
seealso:
  - module: x402.runbook.metrics_gate
"""

EXAMPLES = r"""
- name: Write the deployment record with the watch window's plot
  x402.runbook.deploy_record:
    dir: "{{ x402_record_dir }}/{{ release }}-{{ ts }}"
    kind: deployment
    release: "1.2.0"
    previous_release: "1.1.0"
    operator: "{{ lookup('ansible.builtin.env', 'USER') }}"
    started_at: "{{ deploy_started_at }}"
    outcome: GO
    checks: "{{ preflight_record.checks + x402_watch.results }}"
    signoffs: "{{ preflight_record.signoffs }}"
    timeline:
      - {at: "{{ deploy_started_at }}", event: deployment started}
    plot:
      prometheus_url: "{{ x402_prometheus_url }}"
      start: "{{ deploy_started_at }}"
      step: 15s
      series:
        - post_deployment.immediate_monitoring.1
        - post_deployment.immediate_monitoring.2
        - rollback_criteria.1
        - rollback_criteria.2
      rules: "{{ x402_rules }}"
    extra:
      solana_program_id: "{{ solana_program_result.program_id }}"

- name: Write the incident record of a rollback
  x402.runbook.deploy_record:
    dir: "{{ x402_record_dir }}/{{ release }}-{{ ts }}"
    kind: incident
    release: "1.2.0"
    previous_release: "1.1.0"
    operator: "{{ lookup('ansible.builtin.env', 'USER') }}"
    started_at: "{{ deploy_started_at }}"
    outcome: ROLLED-BACK
    trigger: "{{ x402_rollback_watch.blocking[0] }}"
    checks: "{{ x402_rollback_watch.results }}"
    timeline:
      - {at: "{{ rollback_started_at }}", event: rollback started}
      - {at: "{{ rollback_finished_at }}", event: "{{ previous_release }} healthy again"}
"""

RETURN = r"""
path:
  description: The record's directory.
  returned: always
  type: str
  sample: /var/lib/x402/records/1.2.0-20261128T000000Z
files:
  description: The record's files (written, or in check mode the ones it would write).
  returned: always
  type: list
  elements: str
  sample: [/var/lib/x402/records/1.2.0-20261128T000000Z/deployment.json]
changed_files:
  description: The files whose content or mode changed (in check mode, would change).
  returned: always
  type: list
  elements: str
outcome:
  description: The outcome recorded.
  returned: always
  type: str
  sample: GO
summary:
  description: How many checks there are, per status, and the ids of those a person must look at.
  returned: always
  type: dict
plot:
  description:
    - What the plot shows in numbers (per rule and series - points, min, max, last, samples over the bound and
      the time ranges of the breaches), or null when no plot was drawn.
  returned: always
  type: dict
plot_error:
  description: Why the plot is missing although it was asked for (Prometheus could not be reached), else null.
  returned: always
  type: str
"""

import os
import tempfile
import time as _time
import traceback
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.x402.runbook.plugins.module_utils import deploy_record_plot as plotting
from ansible_collections.x402.runbook.plugins.module_utils.deploy_record import (
    RecordError,
    build_record,
    fetch_plot,
    plot_spec,
    plot_summary,
    to_json,
    to_markdown,
)
from ansible_collections.x402.runbook.plugins.module_utils.prometheus import (
    PrometheusClient,
    PrometheusError,
    parse_time,
    redact_url,
)

FILE_MODE = 0o640
DIR_MODE = 0o750


def argument_spec():
    return dict(
        dir=dict(type='path', required=True),
        kind=dict(type='str', choices=['deployment', 'incident'], default='deployment'),
        release=dict(type='str', required=True),
        previous_release=dict(type='str'),
        operator=dict(type='str', required=True),
        started_at=dict(type='raw', required=True),
        finished_at=dict(type='raw'),
        outcome=dict(type='str', required=True, choices=['GO', 'NO-GO', 'ROLLED-BACK', 'ROLLBACK-FAILED']),
        checks=dict(type='list', elements='dict', default=[]),
        signoffs=dict(type='dict', default={}),
        timeline=dict(type='list', elements='dict', default=[]),
        trigger=dict(type='dict'),
        plot=dict(type='dict', options=dict(
            prometheus_url=dict(type='str', required=True),
            start=dict(type='raw'),
            end=dict(type='raw'),
            step=dict(type='raw', default='15s'),
            series=dict(type='list', elements='str', required=True),
            rules=dict(type='dict', required=True),
            timeout=dict(type='int', default=10),
            validate_certs=dict(type='bool', default=True),
            headers=dict(type='dict', no_log=True),
            url_username=dict(type='str'),
            url_password=dict(type='str', no_log=True),
        )),
        extra=dict(type='dict', default={}),
    )


def _same(path, content):
    try:
        with open(path, 'rb') as handle:
            return handle.read() == content
    except OSError:
        return False


def _write(path, content):
    """Atomically, through a temporary file in the same directory, with the record's mode."""
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _draw(module, record, plot):
    """(PNG bytes, summary) or (None, None) after a warning when Prometheus cannot be reached."""
    try:
        spec = plot_spec(plot, parse_time(record['started_at']), parse_time(record['finished_at']))
    except RecordError as exc:
        module.fail_json(msg=str(exc))
    if spec['step'] != spec['step_given']:
        module.warn('deploy_record: plot.step raised from %ss to %ss: the window needs at most 11000 points '
                    'per series' % (spec['step_given'], spec['step']))
    try:
        client = PrometheusClient(spec['url'], timeout=plot['timeout'], validate_certs=plot['validate_certs'],
                                  headers=plot['headers'], url_username=plot['url_username'],
                                  url_password=plot['url_password'])
        panels = fetch_plot(client, spec)
    except PrometheusError as exc:
        record['plot_error'] = 'Prometheus at %s: %s' % (redact_url(spec['url']), exc)
        module.warn('deploy_record: the record is written without its plot: %s' % exc)
        return None, None
    png_name = '%s.png' % record['kind']
    title = '%s %s: %s' % (record['kind'].capitalize(), record['release'], record['outcome'])
    events = [(parse_time(e['at']), e['event']) for e in record['timeline']]
    png = plotting.render_png(panels, spec['start'], spec['end'], title, events)
    return png, plot_summary(spec, panels, png_name)


def run(module):
    params = module.params
    plot = params['plot']
    if plot is not None and not plotting.HAS_MATPLOTLIB:
        module.fail_json(msg=missing_required_lib('matplotlib', reason='to draw the plot (or leave out plot)'),
                         exception=plotting.MATPLOTLIB_IMPORT_ERROR)
    if plot is not None:
        try:
            embedded = urlsplit(plot['prometheus_url'] or '').password
        except ValueError:
            embedded = None
        if embedded:
            module.no_log_values.add(embedded)
    try:
        record, secrets = build_record(params, _time.time())
    except RecordError as exc:
        module.fail_json(msg=str(exc))
    # A secret that slipped into an error message or a warning is masked there too.
    module.no_log_values.update(s for s in secrets if len(s) >= 4)

    png = None
    if plot is not None:
        png, record['plot'] = _draw(module, record, plot)
    kind = record['kind']
    outputs = [('%s.json' % kind, to_json(record).encode('utf-8')),
               ('%s.md' % kind, to_markdown(record).encode('utf-8'))]
    if png is not None:
        outputs.append(('%s.png' % kind, png))

    directory = params['dir']
    files, changed_files = [], []
    missing_dir = not os.path.isdir(directory)
    if missing_dir and os.path.exists(directory):
        module.fail_json(msg='dir = %r: exists and is not a directory' % directory)
    if missing_dir and not module.check_mode:
        os.makedirs(directory, DIR_MODE)
        os.chmod(directory, DIR_MODE)  # makedirs' mode is reduced by the umask
    for name, content in outputs:
        path = os.path.join(directory, name)
        files.append(path)
        if missing_dir or not _same(path, content) or (os.stat(path).st_mode & 0o7777) != FILE_MODE:
            changed_files.append(path)
            if not module.check_mode:
                _write(path, content)
    verb = 'would write' if module.check_mode else 'wrote'
    module.exit_json(
        changed=bool(changed_files or missing_dir), path=directory, files=files, changed_files=changed_files,
        outcome=record['outcome'], summary=record['summary'], plot=record['plot'], plot_error=record['plot_error'],
        msg='%s %s record of %s (%s): %s' % (
            verb if changed_files else 'unchanged', kind, record['release'], record['outcome'],
            ', '.join(os.path.basename(f) for f in (changed_files or files))))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        run(module)
    except (OSError, RecordError) as exc:
        module.fail_json(msg='deploy_record: %s' % exc)
    except Exception as exc:  # pylint: disable=broad-except
        # A bug, never a silent pass: the reason in msg, the traceback only in `exception`.
        module.fail_json(msg='deploy_record: unexpected error (%s): %s' % (type(exc).__name__, exc),
                         exception=traceback.format_exc())


if __name__ == '__main__':
    main()
