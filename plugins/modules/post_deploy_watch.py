#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: post_deploy_watch
short_description: Watch a fresh release and say when it must be rolled back
version_added: 0.1.0
description:
  - The last part of deploy.yml. For O(duration), every O(interval), the module
    generates one proof through the load balancer and verifies it locally against the
    verification key (the verified sample), and evaluates every rollback trigger of the
    runbook (C(rollback_criteria.*)) in Prometheus with the threshold engine.
  - It stops at once when a trigger fires, or when a sampled proof does not verify
    (C(rollback_criteria.3), invalid proofs, fires on ANY occurrence).
  - When the watch ends without a trigger, the immediate-monitoring gates
    (C(post_deployment.immediate_monitoring.*)) are evaluated once; a failed gate is a NO-GO.
    Their range selectors reach back no further than the start of the watch (V([30m]) after a
    1-minute watch becomes V([60s])), so that they measure the release, not the one before it.
  - O(time_scale) shrinks the C(for) windows of the triggers, so that a sandbox can
    exercise a 5-minute trigger in seconds. Production keeps V(1).
  - With O(fail_on_breach=true) (the default) the task fails when the decision is not V(GO),
    with every blocking check, its observed value and its rule in the message; the playbook's
    rescue then runs the rollback.
author:
  - x402.runbook developers (@x402)
attributes:
  check_mode:
    support: full
    description: The module only reads; in check mode it evaluates once and sends no sample request.
  diff_mode:
    support: none
    description: Nothing is changed.
options:
  prometheus_url:
    description: Base URL of Prometheus as the control node reaches it.
    type: str
    required: true
  rules:
    description: The runbook's threshold rules by id (C(x402_rules), role x402.runbook.thresholds).
    type: dict
    required: true
  triggers:
    description: Ids of the rollback triggers watched at every interval.
    type: list
    elements: str
    default: [rollback_criteria.1, rollback_criteria.2, rollback_criteria.3,
              rollback_criteria.4, rollback_criteria.5, rollback_criteria.6]
  gates:
    description: Ids of the gates (or expectations) evaluated once at the end of the watch.
    type: list
    elements: str
    default: [post_deployment.immediate_monitoring.1, post_deployment.immediate_monitoring.2,
              post_deployment.immediate_monitoring.4, post_deployment.immediate_monitoring.5,
              post_deployment.immediate_monitoring.6, post_deployment.immediate_monitoring.7]
  duration:
    description: How long to watch, as seconds or a duration (V(30m), V(90s)).
    type: raw
    required: true
  interval:
    description: Time between two evaluations (and two samples).
    type: raw
    default: 15s
  step:
    description: Resolution of the range queries of sustained triggers; match the scrape interval.
    type: raw
    default: 15s
  time_scale:
    description:
      - Factor applied to the C(for) window of every trigger (V(0.1) turns 5 minutes into 30 seconds).
      - Must be in (0, 1]. Only for sandboxes and drills; production keeps V(1).
    type: float
    default: 1.0
  sample:
    description:
      - The verified sample. Omit to watch metrics only.
    type: dict
    suboptions:
      url:
        description: Base URL of the service (the load balancer).
        type: str
        required: true
      api_key:
        description: API key the sample requests carry. Never logged nor returned.
        type: str
        required: true
      api_key_header:
        description: Header of the API key.
        type: str
        default: X-API-Key
      verification_key:
        description: Path of the release's verification key on the control node.
        type: path
        required: true
      snarkjs:
        description: The snarkjs command line on the control node.
        type: path
        required: true
  fail_on_breach:
    description: Fail the task when the decision is not V(GO).
    type: bool
    default: true
  timeout:
    description: Timeout in seconds of each HTTP request.
    type: int
    default: 30
seealso:
  - module: x402.runbook.metrics_gate
  - module: x402.runbook.prover_smoke
"""

EXAMPLES = r"""
- name: Watch the release for 30 minutes; any trigger stops the watch
  x402.runbook.post_deploy_watch:
    prometheus_url: http://prometheus.internal:9090
    rules: "{{ x402_rules }}"
    duration: 30m
    interval: 15s
    sample:
      url: https://api.example.com
      api_key: "{{ vault_prover_api_key }}"
      verification_key: /opt/x402/release/circuits/verification_key.json
      snarkjs: /opt/x402/node_modules/.bin/snarkjs
  register: watch
"""

RETURN = r"""
decision:
  description: V(GO), V(ROLLBACK) (a trigger fired) or V(NO-GO) (a gate failed at the end).
  returned: always
  type: str
fired:
  description: The first trigger that fired (the collection's result shape), or null.
  returned: always
  type: dict
results:
  description: The last evaluation of every trigger, then the gates (when the watch ran to its end).
  returned: always
  type: list
  elements: dict
samples:
  description: Counts of the verified sample (sent, verified, invalid, failed).
  returned: always
  type: dict
timeline:
  description: One entry per evaluation (at, firing ids, sample outcome).
  returned: always
  type: list
  elements: dict
started_at:
  description: Start of the watch (RFC 3339), the start of the record's plot.
  returned: always
  type: str
ended_at:
  description: End of the watch (RFC 3339).
  returned: always
  type: str
"""

import time as _time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.x402.runbook.plugins.module_utils.metrics import (
    FATAL_ERRORS,
    RuleObserver,
    clamp_ranges,
    describe,
)
from ansible_collections.x402.runbook.plugins.module_utils.prometheus import (
    PrometheusClient,
    PrometheusError,
    format_time,
)
from ansible_collections.x402.runbook.plugins.module_utils.prover_smoke import SmokeTests
from ansible_collections.x402.runbook.plugins.module_utils.thresholds import (
    ThresholdError,
    decide,
    to_seconds,
    validate_rule,
)

INVALID_PROOF_RULE = 'rollback_criteria.3'


def describe_with_id(result):
    return '%s %s' % (result.get('id'), describe(result))


class Watch:

    def __init__(self, module, clock=_time.time, sleep=_time.sleep):
        self.module = module
        self.clock, self.sleep = clock, sleep
        p = module.params
        self.duration = self._seconds('duration', p['duration'])
        self.interval = self._seconds('interval', p['interval'])
        self.step = self._seconds('step', p['step'])
        if not 0 < p['time_scale'] <= 1:
            module.fail_json(msg='time_scale: invalid value %r: must be greater than 0 and at most 1' % p['time_scale'])
        self.triggers = [self._rule(rule_id, 'trigger') for rule_id in p['triggers']]
        self.gates = [self._rule(rule_id, 'gate') for rule_id in p['gates']]
        self.client = PrometheusClient(p['prometheus_url'], timeout=p['timeout'])
        self.sampler = None
        if p['sample'] and not module.check_mode:
            s = p['sample']
            self.sampler = SmokeTests(
                {'url': s['url'], 'api_key': s['api_key'], 'api_key_header': s['api_key_header'],
                 'verification_key': s['verification_key'], 'snarkjs': s['snarkjs'], 'timeout': p['timeout'],
                 'validate_certs': True, 'proof_request': None},
                ['proof'], module.run_command, clock=clock, sleep=sleep)
        self.samples = {'sent': 0, 'verified': 0, 'invalid': 0, 'failed': 0}
        self.timeline = []

    def _seconds(self, name, value):
        try:
            seconds = to_seconds(value)
        except ThresholdError as exc:
            self.module.fail_json(msg='%s: invalid value %r: %s' % (name, value, exc))
        if seconds <= 0:
            self.module.fail_json(msg='%s: invalid value %r: must be a positive duration such as 15s' % (name, value))
        return seconds

    def _rule(self, rule_id, kind):
        rules = self.module.params['rules']
        if rule_id not in rules:
            self.module.fail_json(msg='%ss: unknown rule id %r (not in rules)' % (kind, rule_id))
        rule = dict(rules[rule_id], id=rule_id)
        try:
            rule = validate_rule(rule, rule_id=rule_id)
        except ThresholdError as exc:
            self.module.fail_json(msg='%ss: invalid rule %s: %s' % (kind, rule_id, exc))
        # An inventory may relax a gate to an expectation (reported, never blocking).
        allowed = ('gate', 'expectation') if kind == 'gate' else ('trigger',)
        if rule.get('kind') not in allowed:
            self.module.fail_json(msg='%ss: rule %s has kind %r, must be %s'
                                  % (kind, rule_id, rule.get('kind'), ' or '.join(allowed)))
        if kind == 'trigger' and rule.get('for_seconds'):
            scaled = max(rule['for_seconds'] * self.module.params['time_scale'], self.step)
            rule['for_seconds'] = scaled
            rule['for'] = '%ds' % scaled if scaled == int(scaled) else '%.1fs' % scaled
        if not rule.get('query'):
            self.module.fail_json(msg='%ss: rule %s has no query to observe it with' % (kind, rule_id))
        return rule

    def evaluate(self, rules, since=None):
        """Results of rules now; with since, their range selectors reach back no further than it."""
        now = self.clock()
        observer = RuleObserver(self.client, now, self.step)
        results = []
        for rule in rules:
            query = rule['query']
            if since is not None:
                # Two scrapes at least, or a rate has nothing to work with.
                query = clamp_ranges(query, max(now - since, 2 * self.step))
            check = {'name': rule.get('name'), 'rule': rule, 'query': query}
            try:
                result = observer.run_check(check)
            except PrometheusError as exc:
                if exc.error_type in FATAL_ERRORS:
                    raise
                result = {'name': rule.get('name'), 'kind': rule.get('kind'), 'rule': rule, 'observed': None,
                          'status': 'no_data', 'breached': False,
                          'detail': 'query rejected by Prometheus: %s' % exc}
            result['id'] = rule['id']
            results.append(result)
        return results

    def sample(self):
        """One proof through the load balancer, verified locally: None, or an invalid-proof result."""
        self.samples['sent'] += 1
        generated, verified = self.sampler.check_proof()
        if generated['status'] != 'pass':
            self.samples['failed'] += 1
            return 'failed: %s' % generated['detail'], None
        if verified['status'] == 'pass':
            self.samples['verified'] += 1
            return 'verified', None
        self.samples['invalid'] += 1
        rule = dict(self.module.params['rules'].get(INVALID_PROOF_RULE, {}), id=INVALID_PROOF_RULE)
        return 'invalid', {
            'id': INVALID_PROOF_RULE, 'name': rule.get('name', 'invalid proofs detected'), 'kind': 'trigger',
            'status': 'fire', 'breached': True, 'observed': 1, 'rule': rule,
            'detail': 'a sampled proof did not verify against the verification key: %s' % verified['detail']}

    def run(self):
        started = self.clock()
        deadline = started + self.duration
        fired, results = None, []
        while True:
            sample_state = None
            if self.sampler:
                sample_state, fired = self.sample()
            if fired is None:
                results = self.evaluate(self.triggers)
                firing = [r for r in results if r.get('status') == 'fire']
                fired = firing[0] if firing else None
            else:
                results = [fired]
            self.timeline.append({'at': format_time(self.clock()), 'sample': sample_state,
                                  'firing': [fired['id']] if fired else []})
            if fired or self.module.check_mode or self.clock() + self.interval > deadline:
                break
            self.sleep(self.interval)
        if fired:
            decision = 'ROLLBACK'
        else:
            results += self.evaluate(self.gates, since=started)
            decision = 'GO' if decide(results)['decision'] == 'GO' else 'NO-GO'
        blocking = [r for r in results if r.get('status') in ('fire', 'fail')]
        output = {
            'changed': False, 'decision': decision, 'fired': fired, 'results': results,
            'samples': self.samples, 'timeline': self.timeline,
            'started_at': format_time(started), 'ended_at': format_time(self.clock()),
        }
        if decision == 'GO':
            output['msg'] = 'GO after %d evaluation(s): no trigger fired, every gate holds' % len(self.timeline)
            self.module.exit_json(**output)
        output['msg'] = '%s: %s' % (decision, '; '.join(describe_with_id(r) for r in ([fired] if fired else blocking)))
        if self.module.params['fail_on_breach']:
            self.module.fail_json(**output)
        self.module.exit_json(**output)


def argument_spec():
    return dict(
        prometheus_url=dict(type='str', required=True),
        rules=dict(type='dict', required=True),
        triggers=dict(type='list', elements='str', default=['rollback_criteria.%d' % n for n in range(1, 7)]),
        gates=dict(type='list', elements='str',
                   default=['post_deployment.immediate_monitoring.%d' % n for n in (1, 2, 4, 5, 6, 7)]),
        duration=dict(type='raw', required=True),
        interval=dict(type='raw', default='15s'),
        step=dict(type='raw', default='15s'),
        time_scale=dict(type='float', default=1.0),
        sample=dict(type='dict', options=dict(
            url=dict(type='str', required=True),
            api_key=dict(type='str', required=True, no_log=True),
            api_key_header=dict(type='str', default='X-API-Key', no_log=False),
            verification_key=dict(type='path', required=True),
            snarkjs=dict(type='path', required=True),
        )),
        fail_on_breach=dict(type='bool', default=True),
        timeout=dict(type='int', default=30),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        Watch(module).run()
    except (ThresholdError, PrometheusError) as exc:
        module.fail_json(msg=str(exc), decision='NO-GO')
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='post_deploy_watch: unexpected error (%s): %s' % (type(exc).__name__, exc),
                         decision='NO-GO', exception=traceback.format_exc())


if __name__ == '__main__':
    main()
