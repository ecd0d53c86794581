#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: prover_smoke
short_description: Deployment-day smoke tests of the x402 prover service
version_added: 0.1.0
description:
  - Runs the checklist's smoke tests (C(deployment_day.smoke_tests.1) to C(.7)) against the prover
    service, normally through the load balancer, and reports one result per item in the collection's
    result shape. The task fails when a check fails, listing the failed ids with their observed values.
  - V(health) (C(.1)) C(GET /health) answers 200 with status C(healthy) (and O(expected_version) when given).
  - V(auth) (C(.5)) a valid key is accepted (C(GET /cache/stats) answers 2xx); C(POST /generate-proof)
    without a key and with a wrong (random) key answers 401.
  - V(cors) (C(.5), a separate result named C(CORS restricted to ALLOWED_ORIGINS)) a CORS preflight
    C(OPTIONS /generate-proof) from O(allowed_origin) gets C(Access-Control-Allow-Origin); one from
    O(foreign_origin) gets none (nor C(*)).
  - V(proof) (C(.2)) C(POST /generate-proof) with known inputs (O(proof_request)) answers 200 with a proof whose
    public inputs carry the request's C(minAmount), C(recipientKeyX), C(recipientKeyY), C(maxBlockAge) and
    C(currentTime); and (C(.3)) the proof verifies against O(verification_key) with
    C(snarkjs groth16 verify) run LOCALLY (not by asking the service). C(.3) passes only when that local
    verification passes; its detail says that on-chain verification needs the real verifier program
    (C(x402_zk_verifier)) and is not done by this module.
  - V(rate_limit) (C(.4)) sends up to O(rate_limit_burst) x O(rate_limit_instances) + O(rate_limit_margin)
    C(POST /generate-proof) requests (empty body, so no proof is computed) from this one client and expects
    a 429. A 429 without C(Retry-After), or one that comes before RATE_LIMIT_BURST minus the API calls this module
    made before, is a warning. The burst runs LAST among the calls to the prover (after the proof) because it
    empties this client's token bucket for a while.
  - V(metrics) (C(.6)) asks Prometheus (O(prometheus_url)) that every target of O(prometheus_job) has C(up == 1)
    and exports each of O(prometheus_metrics).
  - V(alert) (C(.7)) posts a test alert C(X402SmokeTest) (labels C(release), C(run_id), C(severity=none),
    C(source)) to Alertmanager's C(/api/v2/alerts), reads it back from C(GET /api/v2/alerts), then resolves it
    (C(endsAt) now) and checks that it is no longer listed. This is the only write the module makes;
    receivers routed on it may notify people, which is the point of the check. It does not report a change.
  - Without O(checks), every check whose inputs are given runs. A check named in O(checks) without its inputs
    is an error before any request.
  - The API key is sent, never returned nor shown in any message, result or error text.
author:
  - x402.runbook developers (@x402)
attributes:
  check_mode:
    support: full
    description:
      - The probes run as usual (they only read, though the proof request is recorded by the service and the
        burst uses up this client's rate-limit tokens).
      - The V(alert) check is NOT run in check mode; it is reported with status C(no_data) and kind
        C(expectation) (a warning, not a failure).
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
options:
  url:
    description:
      - Base URL of the prover service, normally the load balancer (V(https://prover.example.com)).
    type: str
    required: true
  api_key:
    description:
      - An API key the service accepts. Needed by V(auth) and V(proof); V(rate_limit) sends it when set.
    type: str
  api_key_header:
    description: The request header that carries O(api_key).
    type: str
    default: X-API-Key
  allowed_origin:
    description: An origin listed in the service's C(ALLOWED_ORIGINS). Needed by V(cors).
    type: str
  foreign_origin:
    description: An origin the service must NOT allow.
    type: str
    default: https://not-allowed.example
  rate_limit_burst:
    description:
      - The service's C(RATE_LIMIT_BURST) (the token bucket's capacity per client). Needed by V(rate_limit).
    type: int
  rate_limit_instances:
    description:
      - How many prover instances answer behind O(url), each with its own bucket; the burst is sized for all of them.
    type: int
    default: 1
  rate_limit_margin:
    description:
      - Requests sent beyond O(rate_limit_burst) x O(rate_limit_instances), for the tokens refilled during the burst.
    type: int
    default: 5
  proof_request:
    description:
      - The known inputs of the test proof, the body of C(POST /generate-proof) (decimal strings).
      - Defaults to a built-in valid sample with C(currentTime) now and C(paymentTime) a minute earlier.
        Given inputs must be within the service's timestamp window (the last 5 minutes).
    type: dict
  verification_key:
    description:
      - The release's C(verification_key.json) (Groth16). Needed by V(proof); the proof is verified against it locally.
    type: path
  snarkjs:
    description:
      - The snarkjs CLI used to verify the proof (for example the circuit build's C(node_modules/.bin/snarkjs);
        it needs C(node) on PATH). A bare name is looked up on PATH. Defaults to C(snarkjs) on PATH.
    type: path
  expected_version:
    description: The version C(/health) must report (the release being deployed).
    type: str
  prometheus_url:
    description: Base URL of Prometheus. Needed by V(metrics).
    type: str
  prometheus_job:
    description: The Prometheus job that scrapes the provers.
    type: str
    default: x402-prover
  prometheus_metrics:
    description: Metric names every target of O(prometheus_job) must export.
    type: list
    elements: str
    default: [proof_generation_total, proof_generation_errors_total, proof_generation_duration_seconds_bucket,
              active_requests, circuit_constraints_total]
  alertmanager_url:
    description: Base URL of Alertmanager. Needed by V(alert).
    type: str
  release:
    description: Value of the test alert's C(release) label. Defaults to O(expected_version), else C(unknown).
    type: str
  run_id:
    description: Value of the test alert's C(run_id) label, to find this run's alert. Defaults to a new random id.
    type: str
  checks:
    description:
      - The checks to run. They always run in the order V(health), V(auth), V(cors), V(proof), V(rate_limit),
        V(metrics), V(alert), whatever the order given here.
      - Default, every check whose inputs are given.
    type: list
    elements: str
    choices: [health, auth, rate_limit, cors, proof, metrics, alert]
  timeout:
    description:
      - Timeout of each HTTP request in seconds; also how long the alert is awaited in Alertmanager's listing.
    type: int
    default: 30
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
notes:
  - Run it from one control host against the load balancer; the rate-limit check counts requests from this
    client only, so other traffic from the same address makes the 429 come early (a warning).
  - The test proof is recorded by the service like any other proof (its database, C(proof_generation_total)).
seealso:
  - module: x402.runbook.metrics_gate
"""

EXAMPLES = r"""
- name: Smoke tests through the load balancer
  x402.runbook.prover_smoke:
    url: "{{ x402_public_url }}"
    api_key: "{{ x402_api_key }}"
    allowed_origin: https://app.example.com
    rate_limit_burst: 20
    rate_limit_instances: 2
    verification_key: "{{ x402_release_dir }}/verification_key.json"
    snarkjs: "{{ x402_release_dir }}/node_modules/.bin/snarkjs"
    expected_version: "1.2.0"
    prometheus_url: http://127.0.0.1:19090
    alertmanager_url: http://127.0.0.1:19093
  register: x402_smoke

- name: Only health and authentication, report without failing the play
  x402.runbook.prover_smoke:
    url: https://prover.example.com
    api_key: "{{ vault_x402_api_key }}"
    checks: [health, auth]
  register: x402_smoke_quick
  ignore_errors: true
"""

RETURN = r"""
results:
  description:
    - One result per checklist item in run order (V(proof) gives two, C(.2) and C(.3); V(auth) and V(cors) share C(.5)),
      in the collection's result shape, ready for C(x402.runbook.go_no_go).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The checklist item id.
      type: str
      sample: deployment_day.smoke_tests.4
    check:
      description: The check that produced it.
      type: str
      sample: rate_limit
    name:
      description: What was checked.
      type: str
      sample: rate limiting works
    kind:
      description: C(gate) (fails the task when it fails or has no data) or C(expectation) (a warning only).
      type: str
    observed:
      description: What was observed (HTTP statuses, headers, counts, the proof's public inputs, ...).
      type: raw
    rule:
      description: The requirement, as a sentence.
      type: str
    status:
      description: V(pass), V(fail), V(warn) or V(no_data).
      type: str
      sample: pass
    detail:
      description: Why, with the numbers.
      type: str
failed:
  description: Whether a gate failed or had no data.
  returned: always
  type: bool
proof:
  description:
    - The test proof (empty when none was generated). Public data only; the request's private inputs are not returned.
  returned: always
  type: dict
  contains:
    public_inputs:
      description: The proof's public signals.
      type: list
      elements: str
    commitment:
      description: The commitment (first public signal).
      type: str
    generation_time_ms:
      description: Generation time the service reported.
      type: raw
    cached:
      description: Whether the service answered from its proof cache.
      type: bool
    proof:
      description: The Groth16 proof (C(pi_a), C(pi_b), C(pi_c)).
      type: dict
msg:
  description: A summary; on failure the failed ids with their observed values.
  returned: always
  type: str
  sample: "1 of 8 smoke checks failed: deployment_day.smoke_tests.4 (rate_limit): observed {...}: no 429 in 25 requests"
run_id:
  description: The test alert's C(run_id) label.
  returned: always
  type: str
"""

import binascii
import os
import time
import traceback
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.x402.runbook.plugins.module_utils.prover_smoke import (
    CHECKS,
    DEFAULT_METRICS,
    SmokeError,
    SmokeTests,
    scrub,
    select_checks,
    validate,
)


def argument_spec():
    return dict(
        url=dict(type='str', required=True),
        api_key=dict(type='str', no_log=True),
        api_key_header=dict(type='str', default='X-API-Key', no_log=False),  # a header name, not a secret
        allowed_origin=dict(type='str'),
        foreign_origin=dict(type='str', default='https://not-allowed.example'),
        rate_limit_burst=dict(type='int'),
        rate_limit_instances=dict(type='int', default=1),
        rate_limit_margin=dict(type='int', default=5),
        proof_request=dict(type='dict'),
        verification_key=dict(type='path'),
        snarkjs=dict(type='path'),
        expected_version=dict(type='str'),
        prometheus_url=dict(type='str'),
        prometheus_job=dict(type='str', default='x402-prover'),
        prometheus_metrics=dict(type='list', elements='str', default=list(DEFAULT_METRICS)),
        alertmanager_url=dict(type='str'),
        release=dict(type='str'),
        run_id=dict(type='str'),
        checks=dict(type='list', elements='str', choices=list(CHECKS)),
        timeout=dict(type='int', default=30),
        validate_certs=dict(type='bool', default=True),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = dict(module.params)
    # Passwords embedded in a URL are secrets too.
    for field in ('url', 'prometheus_url', 'alertmanager_url'):
        try:
            embedded = urlsplit(params.get(field) or '').password
        except ValueError:
            embedded = None
        if embedded:
            module.no_log_values.add(embedded)
    params['release'] = params['release'] or params['expected_version'] or 'unknown'
    params['run_id'] = params['run_id'] or 'smoke-%s-%s' % (
        time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()), binascii.hexlify(os.urandom(4)).decode())
    secret = [params.get('api_key') or '']
    try:
        checks = select_checks(params)
        validate(params, checks)
    except SmokeError as exc:
        module.fail_json(msg=scrub(exc, secret), results=[], proof={}, run_id=params['run_id'])
    try:
        outcome = SmokeTests(params, checks, module.run_command, check_mode=module.check_mode).run()
    except Exception as exc:  # pylint: disable=broad-except
        # A bug, never a pass: fail with the reason (the traceback only in `exception`).
        module.fail_json(msg=scrub('prover_smoke: unexpected error (%s): %s' % (type(exc).__name__, exc), secret),
                         exception=scrub(traceback.format_exc(), secret), results=[], proof={},
                         run_id=params['run_id'])
    if outcome['failed']:
        module.fail_json(changed=False, run_id=params['run_id'], **outcome)
    module.exit_json(changed=False, run_id=params['run_id'], **outcome)


if __name__ == '__main__':
    main()
