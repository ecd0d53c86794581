#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: solana_program_info
short_description: Show a Solana program and verify it is the expected build
version_added: 0.1.0
description:
  - Reads a program through Solana JSON-RPC, like C(solana program show), and verifies that the program
    account exists and is executable, that its programdata holds the expected build and that it has the
    expected upgrade authority.
  - The build is compared by hash, as C(solana-verify) computes it (the bytes after the 45-byte programdata
    header, trailing zero bytes stripped, sha256), with O(program_path) (hashed the same way) and/or
    O(expected_sha256).
  - Programs of the upgradeable loader are read with their programdata account; programs of the older,
    non-upgradeable loaders (C(BPFLoader2111111111111111111111111111111111)) are hashed from the program
    account itself and have no authority.
  - Fails when the program does not exist or does not match what was asked, unless O(fail_on_mismatch=false)
    (then it only reports). It also returns the cluster's genesis hash and version, so a play can check it
    talks to the cluster it means.
  - Read-only; it never changes anything and needs no keypair.
author:
  - x402.runbook developers (@x402)
requirements:
  - none beyond ansible-core (no keys are handled)
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode changes nothing about what it does.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
options:
  rpc_url:
    description:
      - The Solana JSON-RPC endpoint, for example V(https://api.mainnet-beta.solana.com).
      - API keys in the URL are redacted from messages and results.
    type: str
    required: true
  program_id:
    description:
      - The program's address.
    type: str
    required: true
  program_path:
    description:
      - A local program file (C(.so)) the program on chain must be identical to (by hash).
    type: path
  expected_sha256:
    description:
      - The hash the program on chain must have (hex, as printed by C(solana-verify get-program-hash)).
    type: str
  expected_authority:
    description:
      - The upgrade authority the program must have (an address), or V(none) for an immutable program.
    type: str
  fail_on_mismatch:
    description:
      - Fail when the program does not exist or does not match O(program_path), O(expected_sha256),
        O(expected_authority), or is not executable. With V(false) the findings are only reported in
        RV(matches) and RV(mismatches).
    type: bool
    default: true
  commitment:
    description:
      - Commitment level of the reads.
    type: str
    choices: [processed, confirmed, finalized]
    default: confirmed
  timeout:
    description:
      - Seconds to wait for each RPC answer.
    type: int
    default: 30
  retries:
    description:
      - How many times a failed RPC request (network error, timeout, HTTP 429 or 5xx) is retried, with
        exponential backoff from O(retry_delay) seconds.
    type: int
    default: 4
  retry_delay:
    description:
      - Seconds before the first retry; each further retry waits twice as long.
    type: float
    default: 0.5
  validate_certs:
    description:
      - Verify the TLS certificate of an C(https) O(rpc_url).
    type: bool
    default: true
seealso:
  - module: x402.runbook.solana_program
"""

EXAMPLES = r"""
- name: solana program show, and require the release build with our authority
  x402.runbook.solana_program_info:
    rpc_url: https://api.mainnet-beta.solana.com
    program_id: "{{ x402_verifier_program_id }}"
    program_path: /srv/x402/contracts/target/deploy/x402_zk_verifier.so
    expected_authority: "{{ x402_upgrade_authority_pubkey }}"
  register: verifier_onchain

- name: Only report (e.g. in a status page)
  x402.runbook.solana_program_info:
    rpc_url: https://api.devnet.solana.com
    program_id: 7sJ6LGV8q7zpDk8HCYm8Vhk2oB3Vx5XCFdAYpWyxBGBM
    expected_sha256: 35a9a482e693027b6625be7497d493ead1bf30e46ae3db0108c67bdececd3c77
    fail_on_mismatch: false
  register: status

- name: Say what differs
  ansible.builtin.debug:
    msg: "{{ status.mismatches | join('; ') if not status.matches else 'verified' }}"
"""

RETURN = r"""
program_id:
  description: The program's address.
  returned: always
  type: str
exists:
  description: Whether the program account exists.
  returned: always
  type: bool
owner:
  description: The loader that owns the program account (null when it does not exist).
  returned: always
  type: str
  sample: BPFLoaderUpgradeab1e11111111111111111111111
executable:
  description: Whether the program account is executable.
  returned: always
  type: bool
upgradeable:
  description: Whether the program belongs to the upgradeable loader and still has an upgrade authority.
  returned: always
  type: bool
programdata_address:
  description: Address of the programdata account (upgradeable loader only).
  returned: always
  type: str
last_deployed_slot:
  description: Slot of the last deploy or upgrade (upgradeable loader only).
  returned: always
  type: int
upgrade_authority:
  description: The upgrade authority, null when the program is immutable.
  returned: always
  type: str
data_length:
  description: Length of the program's data area in bytes (programdata without its header).
  returned: always
  type: int
balance_lamports:
  description: Lamports held by the program account and its programdata account together.
  returned: always
  type: int
onchain_sha256:
  description: The program's hash on chain (solana-verify's hash).
  returned: always
  type: str
local_sha256:
  description: The hash of O(program_path), trailing zeros stripped; null without O(program_path).
  returned: always
  type: str
matches:
  description: True when the program exists, is executable and matches everything asked.
  returned: always
  type: bool
mismatches:
  description: What does not match, one sentence each (with the observed and the expected value).
  returned: always
  type: list
  elements: str
cluster:
  description: What the endpoint says about itself.
  returned: always
  type: dict
  contains:
    genesis_hash:
      description: The cluster's genesis hash (mainnet-beta is 5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d).
      type: str
      returned: always
    version:
      description: The node's solana-core version.
      type: str
      returned: always
    slot:
      description: The current slot.
      type: int
      returned: always
rpc_url:
  description: The endpoint, API keys redacted.
  returned: always
  type: str
msg:
  description: A summary, or why the module failed.
  returned: always
  type: str
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.x402.runbook.plugins.module_utils import solana_loader as loader
from ansible_collections.x402.runbook.plugins.module_utils.solana_rpc import RpcError, SolanaRpc

_SHA256 = re.compile(r'^[0-9a-fA-F]{64}$')


def argument_spec():
    return dict(
        rpc_url=dict(type='str', required=True),
        program_id=dict(type='str', required=True),
        program_path=dict(type='path'),
        expected_sha256=dict(type='str'),
        expected_authority=dict(type='str'),
        fail_on_mismatch=dict(type='bool', default=True),
        commitment=dict(type='str', default='confirmed', choices=['processed', 'confirmed', 'finalized']),
        timeout=dict(type='int', default=30),
        retries=dict(type='int', default=4),
        retry_delay=dict(type='float', default=0.5),
        validate_certs=dict(type='bool', default=True),
    )


def show(module, rpc, result):
    p = module.params
    commitment = p['commitment']
    program_id = result['program_id']
    genesis = rpc.get_genesis_hash()
    version = rpc.get_version()
    result['cluster'] = {'genesis_hash': str(genesis),
                         'version': str(version.get('solana-core')) if isinstance(version, dict) else str(version),
                         'slot': rpc.get_slot(commitment)}
    account = rpc.get_account_info(program_id, commitment)
    if account is None:
        result['mismatches'].append('program %s does not exist on %s' % (program_id, rpc.shown_url))
        return
    result.update({'exists': True, 'owner': account['owner'], 'executable': account['executable'],
                   'balance_lamports': account['lamports']})
    if account['owner'] == loader.LOADER_V3:
        state = loader.parse_state(account['data'], 'program account %s' % program_id)
        if state['state'] != 'program':
            result['mismatches'].append('account %s is a loader-v3 %s account, not a program'
                                        % (program_id, state['state']))
            return
        address = state['programdata_address']
        result['programdata_address'] = address
        programdata = rpc.get_account_info(address, commitment)
        if programdata is None:
            result['mismatches'].append('programdata account %s of program %s does not exist (closed program)'
                                        % (address, program_id))
            return
        pd_state = loader.parse_state(programdata['data'], 'programdata %s' % address)
        if pd_state['state'] != 'programdata':
            result['mismatches'].append('account %s is a loader-v3 %s account, not programdata'
                                        % (address, pd_state['state']))
            return
        result.update({'last_deployed_slot': pd_state['slot'], 'upgrade_authority': pd_state['upgrade_authority'],
                       'upgradeable': pd_state['upgrade_authority'] is not None,
                       'data_length': pd_state['program_length'],
                       'balance_lamports': account['lamports'] + programdata['lamports'],
                       'onchain_sha256': loader.programdata_hash(programdata['data'])})
    elif account['owner'] in (loader.LOADER_V2, loader.LOADER_V1):
        result.update({'data_length': len(account['data']), 'onchain_sha256': loader.binary_hash(account['data'])})
    else:
        result['mismatches'].append('account %s is owned by %s, not by a BPF loader: it is not a program'
                                    % (program_id, account['owner']))
        return
    if not account['executable']:
        result['mismatches'].append('program %s is not executable' % program_id)


def compare(module, result):
    p = module.params
    if not result['exists'] or result['onchain_sha256'] is None:
        return
    onchain = result['onchain_sha256']
    if result['local_sha256'] and onchain != result['local_sha256']:
        result['mismatches'].append('the program on chain (sha256 %s) differs from %s (sha256 %s)'
                                    % (onchain, p['program_path'], result['local_sha256']))
    expected = p['expected_sha256']
    if expected and onchain != expected.lower():
        result['mismatches'].append('the program on chain has sha256 %s, expected_sha256 is %s' % (onchain, expected))
    authority = p['expected_authority']
    if authority is not None:
        wanted = None if authority.strip().lower() == 'none' else authority.strip()
        if result['upgrade_authority'] != wanted:
            result['mismatches'].append('the upgrade authority is %s, expected_authority is %s'
                                        % (result['upgrade_authority'] or 'none (immutable)', wanted or 'none'))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    result = {'changed': False, 'program_id': p['program_id'], 'exists': False, 'owner': None, 'executable': False,
              'upgradeable': False, 'programdata_address': None, 'last_deployed_slot': None,
              'upgrade_authority': None, 'data_length': None, 'balance_lamports': 0, 'onchain_sha256': None,
              'local_sha256': None, 'matches': False, 'mismatches': [], 'cluster': {}, 'rpc_url': None}
    try:
        result['program_id'] = loader.check_pubkey(p['program_id'], 'program_id')
        if p['expected_authority'] and p['expected_authority'].strip().lower() != 'none':
            loader.check_pubkey(p['expected_authority'], 'expected_authority')
        if p['expected_sha256'] is not None and not _SHA256.match(p['expected_sha256'].strip()):
            module.fail_json(msg='expected_sha256 %r is not a sha256 hex digest (64 hex characters)'
                             % p['expected_sha256'], **result)
        if p['expected_sha256'] is not None:
            p['expected_sha256'] = p['expected_sha256'].strip()
        if p['program_path']:
            result['local_sha256'] = loader.binary_hash(loader.read_program_file(p['program_path']))
    except loader.LoaderError as exc:
        module.fail_json(msg=str(exc), **result)
    try:
        rpc = SolanaRpc(p['rpc_url'], timeout=p['timeout'], retries=p['retries'], backoff=p['retry_delay'],
                        validate_certs=p['validate_certs'])
        result['rpc_url'] = rpc.shown_url
        show(module, rpc, result)
    except RpcError as exc:
        module.fail_json(msg=str(exc), **result)
    except loader.LoaderError as exc:
        module.fail_json(msg='%s on %s' % (exc, result['rpc_url']), **result)
    compare(module, result)
    result['matches'] = result['exists'] and not result['mismatches']
    if result['matches']:
        checked = ['executable']
        if result['local_sha256'] or p['expected_sha256']:
            checked.append('sha256 %s' % result['onchain_sha256'])
        if p['expected_authority'] is not None:
            checked.append('authority %s' % (result['upgrade_authority'] or 'none'))
        result['msg'] = 'program %s verified on %s: %s' % (result['program_id'], result['rpc_url'], ', '.join(checked))
    else:
        result['msg'] = 'program %s: %s' % (result['program_id'], '; '.join(result['mismatches']))
        if p['fail_on_mismatch']:
            module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
