#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: metrics_gate
short_description: Evaluate Prometheus queries against the runbook's threshold rules
version_added: 0.1.0
description:
  - Runs one PromQL query per check against a Prometheus server and evaluates the result
    with the collection's threshold engine against a rule of the runbook
    (C(roles/thresholds/defaults/main.yml)), then decides C(GO) or C(NO-GO).
  - A rule without C(for) is observed with an instant query at O(time).
    A rule with C(for) (a trigger such as "error rate above 20 % for more than 5 minutes")
    is observed with a range query over [O(time) - C(for) - O(step), O(time)] at O(step),
    and evaluated with Prometheus C(for:) semantics; a gap in the samples restarts the window.
  - When a query returns several series, each one is evaluated (see RV(results[].series))
    and the check takes the worst status.
  - An empty result is C(no_data). A gate then B(fails closed); a trigger is reported as
    C(no_data) (unless its rule says C(no_data=breach)). A C(NaN) result (for example an error
    ratio of 0/0 when there is no traffic) is treated as no data, with the reason in the detail.
  - When something blocks (a gate fails or has no data, a trigger fires) and O(fail_on_breach=true),
    the task fails with a message that lists each blocking check with its observed value and its
    limit; the results are returned all the same. Expectations and triggers without data are
    reported as warnings and never block.
  - An unreachable Prometheus, or a query that Prometheus rejects, B(always) fails the task
    (whatever O(fail_on_breach) says), with the URL and Prometheus' error message. It is never a pass.
  - The module only reads from Prometheus. It never reports a change.
author:
  - x402.runbook developers (@x402)
attributes:
  check_mode:
    support: full
    description: In check mode the module runs the same read-only queries and reports the same results.
  diff_mode:
    support: none
    description: The module changes nothing, so there is nothing to diff.
options:
  url:
    description:
      - Base URL of the Prometheus server, for example V(http://prometheus.internal:9090).
        A path prefix (V(https://example.com/prometheus)) is kept.
      - Credentials in the URL are accepted but redacted from the output; prefer
        O(url_username) and O(url_password).
    type: str
    required: true
  checks:
    description:
      - The checks to run, each a query and the rule to evaluate its result against.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The check's name as a person reads it in a report and in failure messages.
        type: str
        required: true
      query:
        description:
          - The PromQL expression to evaluate.
          - Optional when the rule carries its own C(query); when both are given, this one is used.
        type: str
      rule:
        description:
          - A threshold rule, for example C(x402_rules['post_deployment.immediate_monitoring.4']).
          - "Fields: C(id), C(name), C(kind) (V(gate), V(expectation) or V(trigger)), C(op)
            (V(<), V(<=), V(>), V(>=), V(==), V(between), ...), C(value), C(for) (a duration,
            triggers only), C(query), C(no_data) (V(breach)), plus the descriptive C(unit) and C(action)."
          - For gates and expectations C(op)/C(value) say what is required; for triggers they say
            when the trigger fires.
        type: dict
        required: true
  time:
    description:
      - Evaluation time, as unix seconds (V(1704067200)) or RFC 3339 (V(2024-01-01T00:00:00Z)).
      - Defaults to now (the clock of the host that runs the module).
    type: raw
  step:
    description:
      - Resolution of the range queries of rules with C(for), as a duration (V(15s), V(1m)) or seconds.
      - Should match the rule evaluation interval. Two samples more than 1.5 steps apart leave a gap,
        which restarts a sustained window (the threshold engine's rule).
    type: raw
    default: 15s
  fail_on_breach:
    description:
      - Fail the task when the decision is C(NO-GO). With V(false) the decision is only reported.
      - Errors (Prometheus unreachable, a query rejected) fail the task regardless.
    type: bool
    default: true
  timeout:
    description:
      - Timeout of each HTTP request in seconds; also passed to Prometheus as the query timeout.
    type: int
    default: 10
  validate_certs:
    description:
      - Verify the server's TLS certificate.
    type: bool
    default: true
  headers:
    description:
      - Extra HTTP headers, for example C(Authorization) with a bearer token.
      - Their values are never logged nor returned.
    type: dict
  url_username:
    description:
      - User name for HTTP basic authentication.
    type: str
  url_password:
    description:
      - Password for HTTP basic authentication.
    type: str
notes:
  - Percentages are fractions (0.05 = 5 %), latencies milliseconds; see the thresholds data file.
  - For a rule with C(for), the range query also returns a point at O(time) - C(for) - O(step), so
    that a window spanning exactly C(for) can be recognised.
  - In a range result, C(NaN) and infinite samples are dropped (they are treated like missing samples,
    so they restart a sustained window); a series without a finite sample is C(no_data). An infinite
    instant value (a histogram quantile above the highest bucket) is C(no_data) as well, with the reason.
seealso:
  - name: Prometheus HTTP API
    description: The API this module queries.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/
"""

EXAMPLES = r"""
- name: Immediate monitoring gates (first 30 minutes after the deploy)
  x402.runbook.metrics_gate:
    url: http://prometheus.internal:9090
    checks:
      - name: CPU usage
        rule: "{{ x402_rules['post_deployment.immediate_monitoring.4'] }}"
      - name: memory usage
        rule: "{{ x402_rules['post_deployment.immediate_monitoring.5'] }}"
      - name: disk usage
        rule: "{{ x402_rules['post_deployment.immediate_monitoring.6'] }}"
      - name: error rate
        rule: "{{ x402_rules['post_deployment.immediate_monitoring.1'] }}"

- name: Should we roll back? Report only, the play decides
  x402.runbook.metrics_gate:
    url: "{{ x402_prometheus_url }}"
    headers:
      Authorization: "Bearer {{ x402_prometheus_token }}"
    fail_on_breach: false
    checks:
      - name: error rate above 20 % for more than 5 minutes
        rule: "{{ x402_rules['rollback_criteria.1'] }}"
      - name: service completely down
        rule: "{{ x402_rules['rollback_criteria.6'] }}"
  register: x402_rollback_watch

- name: Roll back when a trigger fired
  ansible.builtin.include_tasks: rollback.yml
  when: x402_rollback_watch.decision == 'NO-GO'

- name: Evaluate a custom query per instance at a given time
  x402.runbook.metrics_gate:
    url: https://prometheus.example.com
    url_username: ops
    url_password: "{{ vault_prometheus_password }}"
    time: "2024-01-01T00:45:00Z"
    checks:
      - name: memory usage per host
        query: 1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes
        rule:
          id: post_deployment.immediate_monitoring.5
          name: memory usage
          kind: gate
          op: '<'
          value: 0.80
"""

RETURN = r"""
decision:
  description: C(GO) when nothing blocks, else C(NO-GO).
  returned: always
  type: str
  sample: NO-GO
blocking:
  description:
    - The results that block the decision (gates that fail or have no data, triggers that fire), as the
      threshold engine reports them (same fields as RV(results)).
  returned: always
  type: list
  elements: dict
warnings:
  description:
    - "Ansible warnings, one per finding that is reported without blocking (an expectation not met or not
      verified, a trigger without data), for example C(metrics_gate: cache hit rate: observed 0.2, expected
      between 0.1 and 0.15). They are also shown in the play output."
  returned: when there is such a finding
  type: list
  elements: str
warning_results:
  description: The results behind RV(warnings), as the threshold engine reports them (same fields as RV(results)).
  returned: always
  type: list
  elements: dict
results:
  description: One result per check, in the order of O(checks).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The rule's id (the checklist item id).
      returned: always
      type: str
      sample: post_deployment.immediate_monitoring.4
    name:
      description: The check's name.
      returned: always
      type: str
      sample: CPU usage
    kind:
      description: The rule's kind.
      returned: always
      type: str
      sample: gate
    observed:
      description:
        - The observed value of the worst series (a number), or null when there is no data.
      returned: always
      type: raw
      sample: 0.93
    rule:
      description: The normalized rule that was applied.
      returned: always
      type: dict
    breached:
      description: Whether the rule is breached (a gate not met, an expectation not met, a trigger firing).
      returned: always
      type: bool
    status:
      description:
        - V(pass) or V(fail) for a gate, V(pass) or V(warn) for an expectation, V(quiet) or V(fire) for a trigger,
          V(no_data) when there is nothing to evaluate.
      returned: always
      type: str
      sample: fail
    detail:
      description: A sentence explaining the status.
      returned: always
      type: str
    query:
      description: The PromQL that was evaluated.
      returned: always
      type: str
    series:
      description: Each series the query returned, evaluated on its own (empty when the query returned nothing).
      returned: always
      type: list
      elements: dict
      contains:
        labels:
          description: The series' labels.
          type: dict
        observed:
          description: Its observed value.
          type: raw
        status:
          description: Its status.
          type: str
        breached:
          description: Whether it breaches the rule.
          type: bool
        detail:
          description: Why.
          type: str
url:
  description: The Prometheus URL that was queried (credentials redacted).
  returned: always
  type: str
  sample: http://prometheus.internal:9090
evaluated_at:
  description: The evaluation time, RFC 3339 in UTC.
  returned: always
  type: str
  sample: "2024-01-01T00:45:00Z"
msg:
  description: A summary; on failure the blocking checks with their observed values and limits.
  returned: always
  type: str
  sample: "2 of 3 checks block: CPU usage: observed 0.93, required < 0.7; disk usage: no data (fails closed)"
"""

import time as _time
import traceback
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.x402.runbook.plugins.module_utils.prometheus import (
    PrometheusClient,
    PrometheusError,
    format_time,
    parse_time,
    redact_url,
)
from ansible_collections.x402.runbook.plugins.module_utils.metrics import (
    FATAL_ERRORS,
    RuleObserver,
    describe,
)
from ansible_collections.x402.runbook.plugins.module_utils.thresholds import (
    ThresholdError,
    decide,
    to_seconds,
    validate_rule,
)


class MetricsGate:

    def __init__(self, module):
        self.module = module
        params = module.params
        self.time = self._parse_time(params['time'])
        self.step = self._parse_step(params['step'])
        self.checks = [self._prepare(index, check) for index, check in enumerate(params['checks'])]
        try:
            self.client = PrometheusClient(
                params['url'], timeout=params['timeout'], validate_certs=params['validate_certs'],
                headers=params['headers'], url_username=params['url_username'],
                url_password=params['url_password'])
        except PrometheusError as exc:
            module.fail_json(msg='url: %s' % exc, url=redact_url(params['url'] or ''))
        self.url = self.client.display_url
        self.observer = RuleObserver(self.client, self.time, self.step)
        self.evaluated_at = format_time(self.time)

    # -- input ---------------------------------------------------------------

    def _parse_time(self, value):
        if value is None or (isinstance(value, str) and not value.strip()):
            return _time.time()
        try:
            return parse_time(value)
        except ValueError as exc:
            self.module.fail_json(msg='time: invalid value %r: %s' % (value, exc))

    def _parse_step(self, value):
        try:
            step = to_seconds(value)
        except ThresholdError as exc:
            self.module.fail_json(msg='step: invalid value %r: %s' % (value, exc))
        if step <= 0:
            self.module.fail_json(msg='step: invalid value %r: must be a positive duration such as 15s' % (value,))
        return step

    def _prepare(self, index, check):
        name = check.get('name')
        where = 'checks[%d] (%r)' % (index, name)
        rule = check.get('rule')
        if not isinstance(rule, dict):
            self.module.fail_json(msg="%s: field 'rule' = %r: must be a rule (a dict with kind, op, value, ...)"
                                  % (where, rule))
        try:
            normalized = validate_rule(rule, rule_id=rule.get('id'))
        except ThresholdError as exc:
            self.module.fail_json(msg='%s: invalid rule: %s (rule: %r)' % (where, exc, rule))
        query = check.get('query') or normalized.get('query')
        if not query or not query.strip():
            self.module.fail_json(msg="%s: field 'query' is not set, and the rule %s has no query of its own "
                                  '(rule: %r)' % (where, normalized.get('id') or normalized.get('name'), rule))
        return {'name': name, 'rule': normalized, 'query': query.strip()}

    def _fail(self, msg, results, errors):
        self.module.fail_json(msg=msg, url=self.url, evaluated_at=self.evaluated_at, results=results,
                              decision='NO-GO', blocking=[], warning_results=[], errors=errors, changed=False)

    def run(self):
        results = []
        errors = []
        for check in self.checks:
            try:
                results.append(self.observer.run_check(check))
            except (PrometheusError, ThresholdError) as exc:
                errors.append('%s: %s' % (check['name'], exc))
                if isinstance(exc, PrometheusError) and exc.error_type in FATAL_ERRORS:
                    self._fail('check %r: %s (no further check was run)' % (check['name'], exc), results, errors)
        if errors:
            self._fail('%d of %d checks could not be evaluated: %s'
                       % (len(errors), len(self.checks), '; '.join(errors)), results, errors)
        verdict = decide(results)
        blocking = verdict.get('blocking') or []
        warnings = verdict.get('warnings') or []
        # Ansible's own `warnings` (strings, shown in the play output): one per finding that is
        # reported without blocking. The engine's result dicts go to `warning_results`.
        for warning in warnings:
            self.module.warn('metrics_gate: %s' % describe(warning))
        output = {
            'changed': False,
            'results': results,
            'decision': verdict['decision'],
            'blocking': blocking,
            'warning_results': warnings,
            'url': self.url,
            'evaluated_at': self.evaluated_at,
        }
        if verdict['decision'] == 'GO':
            output['msg'] = 'GO: 0 of %d checks block%s' % (
                len(results),
                '; %d warning(s): %s' % (len(warnings), '; '.join(describe(w) for w in warnings))
                if warnings else '')
            self.module.exit_json(**output)
        output['msg'] = '%d of %d checks block: %s' % (
            len(blocking), len(results), '; '.join(describe(b) for b in blocking))
        if self.module.params['fail_on_breach']:
            self.module.fail_json(**output)
        self.module.exit_json(**output)


def argument_spec():
    return dict(
        url=dict(type='str', required=True),
        checks=dict(type='list', elements='dict', required=True, options=dict(
            name=dict(type='str', required=True),
            query=dict(type='str'),
            rule=dict(type='dict', required=True),
        )),
        time=dict(type='raw'),
        step=dict(type='raw', default='15s'),
        fail_on_breach=dict(type='bool', default=True),
        timeout=dict(type='int', default=10),
        validate_certs=dict(type='bool', default=True),
        headers=dict(type='dict', no_log=True),
        url_username=dict(type='str'),
        url_password=dict(type='str', no_log=True),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    # A password embedded in the URL is a secret too.
    try:
        embedded = urlsplit(module.params['url']).password
    except ValueError:
        embedded = None
    if embedded:
        module.no_log_values.add(embedded)
    if not module.params['checks']:
        module.fail_json(msg='checks: at least one check is required')
    if module.params['timeout'] <= 0:
        module.fail_json(msg='timeout: invalid value %r: must be a positive number of seconds'
                         % module.params['timeout'])
    try:
        MetricsGate(module).run()
    except (ThresholdError, PrometheusError) as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        # A bug, never a pass: fail with the reason (the traceback only in `exception`).
        module.fail_json(msg='metrics_gate: unexpected error (%s): %s' % (type(exc).__name__, exc),
                         exception=traceback.format_exc())


if __name__ == '__main__':
    main()
