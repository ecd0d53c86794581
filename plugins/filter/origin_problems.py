# -*- coding: utf-8 -*-
# Copyright (c) x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: origin_problems
short_description: What keeps the origins of ALLOWED_ORIGINS from being actual domains
version_added: 0.1.0
author: x402.runbook developers
description:
  - Checks ALLOWED_ORIGINS (checklist item C(pre_deployment.configuration.3), "Configure ALLOWED_ORIGINS
    with actual domains") and returns one sentence for every origin that is not an actual domain's https origin.
  - An actual domain's origin is V(https://) with a fully qualified DNS name and an optional port, and nothing
    else (no path, query, fragment or credentials).
  - Refused are wildcards, other schemes, IP addresses, C(localhost), names under the top-level domains reserved
    for examples and tests (C(.example), C(.test), C(.invalid), C(.localhost), C(.local), C(.internal),
    C(.home.arpa)), the documentation domains C(example.com), C(example.net), C(example.org) and the checklist's
    placeholder C(your-domain.com).
  - An empty value gives one sentence too. The length of the list is the observed value of the rule
    C(pre_deployment.configuration.3) in the thresholds data file.
options:
  _input:
    description: ALLOWED_ORIGINS as the prover reads it (comma-separated) or a list of origins.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Check ALLOWED_ORIGINS against the rule of the data file
  ansible.builtin.set_fact:
    origins_result: >-
      {{ (x402_stack_env.ALLOWED_ORIGINS | x402.runbook.origin_problems | length)
         | x402.runbook.threshold_check(x402_rules['pre_deployment.configuration.3']) }}

- name: The problems themselves
  ansible.builtin.debug:
    msg: "{{ 'https://app.example.com,*' | x402.runbook.origin_problems }}"
  # => ['https://app.example.com: a placeholder domain', '*: a wildcard allows every site']
"""

RETURN = r"""
_value:
  description: One sentence per origin that is not an actual domain (the origin, a colon, why); empty when all are.
  type: list
  elements: str
  sample: ['http://pay.acme.io: must use https (got http)']
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.module_utils.origins import OriginError, origin_problems as _problems


def origin_problems(value):
    """Problems of the origins of ALLOWED_ORIGINS."""
    try:
        return _problems(value)
    except OriginError as exc:
        raise AnsibleFilterError('x402.runbook.origin_problems: %s' % exc) from None


class FilterModule:
    """x402.runbook.origin_problems"""

    def filters(self):
        return {'origin_problems': origin_problems}
