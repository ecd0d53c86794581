#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: solana_program
short_description: Deploy or upgrade a Solana program through the upgradeable BPF loader
version_added: 0.1.0
description:
  - Deploys a new SBF program, or upgrades an existing one, with the upgradeable BPF loader
    (C(BPFLoaderUpgradeab1e11111111111111111111111)) using plain Solana JSON-RPC. The Solana CLI is not
    needed on the host that runs the module; keys, messages and signatures come from the C(solders) library.
  - B(Idempotent.) The program's hash on chain (the bytes after the 45-byte programdata header, trailing zero
    bytes stripped, sha256 - as C(solana-verify) computes it) is compared with the local file's hash (trailing
    zeros stripped likewise). When they are equal nothing is sent and the task reports no change.
  - B(Before any transaction) the module refuses a file of O(max_program_size) bytes or more
    (checklist item C(deployment_day.build_phase.6)), a file that is not a 64-bit little-endian BPF/SBF ELF or whose
    headers point past its end, and a payer whose balance is below O(min_payer_balance_sol)
    (C(deployment_day.deploy_solana_program.2)) or below what this deploy needs - rent from
    C(getMinimumBalanceForRentExemption) plus the fees plus the payer's own rent-exempt minimum - whichever is
    higher. Each message names the observed value and the limit. An upgrade also checks first that the program's
    upgrade authority is O(upgrade_authority_keypair).
  - A deploy writes the program into a buffer account (Write instructions in chunks sized to fit one
    1232-byte transaction), then creates the program account and calls C(DeployWithMaxDataLen) in one
    transaction, like C(solana program deploy). An upgrade writes a buffer, extends the programdata account when
    the new program does not fit (C(ExtendProgram)), then calls C(Upgrade). Every transaction is confirmed at
    O(commitment); RPC and network errors are retried with exponential backoff (O(retries) times).
  - The buffer's address is derived from the authority's secret key and the program id, so a run that was
    interrupted after creating its buffer finds it again - the next run reuses it (writing only the chunks that
    differ), or closes it when the program's size changed or the build is already on chain. A run that fails
    after creating the buffer closes it and returns its rent to the payer; if even that fails the message names
    the buffer.
  - The thresholds default to the collection's data file (C(roles/thresholds/defaults/main.yml)); the role
    C(x402.runbook.solana_program) passes C(x402_rules) values. The comparisons are made by the collection's
    threshold engine, and RV(checks) reports them as that engine does.
author:
  - x402.runbook developers (@x402)
requirements:
  - solders (Python library, on the host that runs the module)
attributes:
  check_mode:
    support: full
    description:
      - Reads the chain and reports RV(action) (V(deploy), V(upgrade) or V(none)), the gates and RV(estimate)
        without sending any transaction.
  diff_mode:
    support: full
    description:
      - Shows the on-chain program (hash, length, authority) before and after.
options:
  rpc_url:
    description:
      - The Solana JSON-RPC endpoint, for example V(https://api.mainnet-beta.solana.com),
        V(https://api.devnet.solana.com) or a local endpoint such as V(http://127.0.0.1:8899).
      - API keys in the URL (user info, query values, long path segments) are redacted from messages and results.
    type: str
    required: true
  program_path:
    description:
      - The program to deploy, an SBF ELF shared object (C(target/deploy/x402_zk_verifier.so)).
    type: path
    required: true
  program_id:
    description:
      - Address of an existing program to upgrade.
      - A new program needs O(program_keypair) instead (its address is the program id).
    type: str
  program_keypair:
    description:
      - Path of the program's keypair file (the Solana CLI's JSON array of 64 bytes,
        C(target/deploy/x402_zk_verifier-keypair.json)). Its public key is the program id. Needed to deploy a new
        program; enough to upgrade one.
    type: path
  payer_keypair:
    description:
      - Path of the keypair file of the account that pays fees and rent (the deployer wallet).
    type: path
    required: true
  upgrade_authority_keypair:
    description:
      - Path of the keypair file of the program's upgrade authority (also the buffer's authority).
      - Defaults to O(payer_keypair), as with the Solana CLI.
    type: path
  min_payer_balance_sol:
    description:
      - The least balance, in SOL, the payer must hold before anything is sent (inclusive; C(>=)).
      - The effective limit is the higher of this and what the deploy needs (RV(estimate.required_lamports)).
      - Not checked when there is nothing to send.
    type: float
    default: 10
  min_payer_balance_lamports:
    description:
      - The same limit in lamports (1 SOL = 1000000000 lamports), exact; used instead of
        O(min_payer_balance_sol) when given (the role passes the data file's value, which is in lamports).
    type: int
  max_program_size:
    description:
      - The program file must be strictly smaller than this many bytes (C(<)).
    type: int
    default: 204800
  max_data_len:
    description:
      - Size, in bytes, of the program's data area (programdata account without its header) for a new deploy;
        a larger value leaves room for bigger upgrades but costs rent now.
      - Defaults to the program's size. Must not be smaller than the program.
      - On an upgrade, when the new program does not fit the current area, the area is extended to the larger of
        this value and the program's size (at least 10240 bytes more, as the loader requires).
    type: int
  expected_genesis_hash:
    description:
      - The genesis hash O(rpc_url) must report (C(getGenesisHash)), checked before anything else, so that a
        wrong URL cannot deploy to the wrong cluster. mainnet-beta is V(5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d),
        devnet V(EtWTRABZaYq6iMfeYKouRuDCrXqjF27RxbyzWXZdZJQ), testnet V(4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY).
      - Not checked when not given (RV(genesis_hash) reports it all the same).
    type: str
  commitment:
    description:
      - Commitment level at which state is read and transactions are considered confirmed.
    type: str
    choices: [processed, confirmed, finalized]
    default: confirmed
  timeout:
    description:
      - Seconds to wait for each RPC answer, and for the transactions sent together to be confirmed.
    type: int
    default: 60
  retries:
    description:
      - How many times a failed RPC request (network error, timeout, HTTP 429 or 5xx, node behind) is retried,
        with exponential backoff from O(retry_delay) seconds.
    type: int
    default: 4
  retry_delay:
    description:
      - Seconds before the first retry; each further retry waits twice as long (at most 8 s, or what the
        server's Retry-After asks).
    type: float
    default: 0.5
  validate_certs:
    description:
      - Verify the TLS certificate of an C(https) O(rpc_url).
    type: bool
    default: true
notes:
  - Keypair files are read on the host that runs the module; their contents are never logged nor returned.
  - "Cost of a deploy: rent of the program account (36 bytes) and of the programdata account (45 bytes + O(max_data_len)),
    plus 5000 lamports per signature (the node's C(getFeeForMessage)). During the writes the buffer holds
    rent for 37 bytes + the program, refunded when the program is deployed (or upgraded)."
  - A 100 KiB program takes about 100 Write transactions; see C(benchmarks/solana_deploy.py).
seealso:
  - module: x402.runbook.solana_program_info
  - name: Solana program deployment
    description: How the Solana CLI deploys programs with the upgradeable loader.
    link: https://solana.com/docs/programs/deploying
"""

EXAMPLES = r"""
- name: Deploy (or upgrade) the verifier program on mainnet
  x402.runbook.solana_program:
    rpc_url: https://api.mainnet-beta.solana.com
    program_path: /srv/x402/contracts/target/deploy/x402_zk_verifier.so
    program_keypair: /srv/x402/contracts/target/deploy/x402_zk_verifier-keypair.json
    payer_keypair: /etc/x402/deployer.json
  register: verifier

- name: Upgrade an existing program with a separate upgrade authority, thresholds from the data file
  x402.runbook.solana_program:
    rpc_url: "{{ x402_solana_rpc_url }}"
    program_path: target/deploy/x402_zk_verifier.so
    program_id: "{{ x402_verifier_program_id }}"
    payer_keypair: "{{ x402_deployer_keypair }}"
    upgrade_authority_keypair: "{{ x402_upgrade_authority_keypair }}"
    max_program_size: "{{ x402_rules['deployment_day.build_phase.6'].value }}"
    min_payer_balance_lamports: "{{ x402_rules['deployment_day.deploy_solana_program.2'].value }}"
    commitment: finalized

- name: What would a deploy do, and cost? (nothing is sent)
  x402.runbook.solana_program:
    rpc_url: https://api.devnet.solana.com
    program_path: target/deploy/x402_zk_verifier.so
    program_keypair: target/deploy/x402_zk_verifier-keypair.json
    payer_keypair: ~/.config/solana/id.json
    min_payer_balance_sol: 2
  check_mode: true
  register: plan

- name: Show the plan
  ansible.builtin.debug:
    msg: "{{ plan.action }}: {{ plan.estimate.transactions }} transactions, {{ plan.estimate.cost_lamports }} lamports"
"""

RETURN = r"""
changed:
  description: Whether a deploy or an upgrade was made (in check mode, whether one would be).
  returned: always
  type: bool
action:
  description: V(deploy) (new program), V(upgrade) (the on-chain program differs) or V(none) (it is identical).
  returned: always
  type: str
  sample: deploy
program_id:
  description: The program's address.
  returned: always
  type: str
  sample: 7sJ6LGV8q7zpDk8HCYm8Vhk2oB3Vx5XCFdAYpWyxBGBM
programdata_address:
  description: The address of its programdata account (derived from the program id).
  returned: always
  type: str
deployed_slot:
  description: The slot of the last deploy or upgrade, as the programdata account records it; null before a deploy.
  returned: always
  type: int
upgrade_authority:
  description: The program's upgrade authority after the run (null when immutable or not deployed).
  returned: always
  type: str
payer:
  description: The payer's public key.
  returned: always
  type: str
authority:
  description: The public key of O(upgrade_authority_keypair) (the payer's when not given).
  returned: always
  type: str
onchain_sha256:
  description: The program's hash on chain after the run (solana-verify's hash); null when it does not exist.
  returned: always
  type: str
local_sha256:
  description: The hash of O(program_path), trailing zero bytes stripped.
  returned: always
  type: str
program_size:
  description: Size of O(program_path) in bytes.
  returned: always
  type: int
max_data_len:
  description: Size of the program's data area after the run (planned, in check mode).
  returned: always
  type: int
payer_balance_lamports:
  description: The payer's balance before and after the run.
  returned: always
  type: dict
  contains:
    before:
      description: Before anything was sent.
      type: int
      returned: always
    after:
      description: After the run (equal to RV(payer_balance_lamports.before) when nothing was sent).
      type: int
      returned: always
transactions:
  description: Transactions that landed (0 when nothing changed and in check mode).
  returned: always
  type: int
fees_lamports:
  description: Fees paid by those transactions.
  returned: always
  type: int
signature:
  description: Signature of the deploy or upgrade transaction.
  returned: when a deploy or an upgrade was made
  type: str
buffer:
  description: What happened to the buffer account.
  returned: always
  type: dict
  contains:
    address:
      description: The buffer's address (derived from the authority and the program id).
      type: str
      returned: always
    reused:
      description: A buffer left by an interrupted run was reused.
      type: bool
      returned: always
    closed_stale:
      description:
        - A buffer left by an interrupted run was closed, because its size did not fit this program (a new one
          was made), or because the build was already on chain (then RV(changed) is true for that alone).
      type: bool
      returned: always
    writes:
      description: Write transactions sent (chunks already in a reused buffer are skipped).
      type: int
      returned: always
    chunk_size:
      description: Bytes per Write.
      type: int
      returned: always
estimate:
  description: What this run needs and spends, computed before sending anything.
  returned: always
  type: dict
  contains:
    transactions:
      description: Transactions it sends.
      type: int
      returned: always
    fees_lamports:
      description: Their fees.
      type: int
      returned: always
    rent_lamports:
      description: Rent kept by the program's accounts (deploy), or by the extension of its data area (upgrade).
      type: int
      returned: always
    buffer_rent_lamports:
      description: Rent held by the buffer during the writes, refunded at the end.
      type: int
      returned: always
    cost_lamports:
      description: How much the payer's balance drops.
      type: int
      returned: always
    required_lamports:
      description: The balance the payer needs before starting (peak outlay + its own rent-exempt minimum).
      type: int
      returned: always
    extend_bytes:
      description: Bytes added to the program's data area (upgrade only).
      type: int
      returned: always
checks:
  description:
    - The gates, as the collection's threshold engine reports them (C(id), C(name), C(kind), C(observed),
      C(rule), C(breached), C(status), C(detail)); the balance gates only when something is to be sent.
  returned: always
  type: list
  elements: dict
rpc_url:
  description: The endpoint, API keys redacted.
  returned: always
  type: str
genesis_hash:
  description: The genesis hash the endpoint reports (which cluster it is); null when it was not reached.
  returned: always
  type: str
  sample: 5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d
msg:
  description: What was done, or why the module failed.
  returned: always
  type: str
"""

import signal
import time as _time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.x402.runbook.plugins.module_utils import solana_loader as loader
from ansible_collections.x402.runbook.plugins.module_utils.solana_rpc import (
    RpcError, SolanaRpc, TransactionFailed, TransactionSender,
)
from ansible_collections.x402.runbook.plugins.module_utils.thresholds import ThresholdError, evaluate

SIZE_RULE_ID = 'deployment_day.build_phase.6'
BALANCE_RULE_ID = 'deployment_day.deploy_solana_program.2'
DEFAULT_FEE_PER_SIGNATURE = 5000


class DeployError(Exception):
    pass


class Interrupted(Exception):
    pass


def _interrupt(signum, _frame):
    raise Interrupted('interrupted by signal %d' % signum)


class Deployer:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.result = {
            'changed': False, 'action': 'none', 'program_id': None, 'programdata_address': None,
            'deployed_slot': None, 'upgrade_authority': None, 'payer': None, 'authority': None, 'onchain_sha256': None,
            'local_sha256': None, 'program_size': None, 'max_data_len': None,
            'payer_balance_lamports': {'before': None, 'after': None}, 'transactions': 0, 'fees_lamports': 0,
            'buffer': {'address': None, 'reused': False, 'closed_stale': False, 'writes': 0, 'chunk_size': None},
            'estimate': {}, 'checks': [], 'rpc_url': None, 'genesis_hash': None,
        }
        self.sender = None
        self.fee_per_signature = DEFAULT_FEE_PER_SIGNATURE

    # -- helpers ---------------------------------------------------------------------
    def fail(self, msg, **extra):
        result = dict(self.result)
        result.update(extra)
        if self.sender is not None:
            result['transactions'] = len(self.sender.landed)
            result['fees_lamports'] = self.sender.signatures_landed * self.fee_per_signature
        self.module.fail_json(msg=msg, **result)

    def gate(self, rule_id, name, op, value, unit, observed):
        rule = {'id': rule_id, 'name': name, 'kind': 'gate', 'op': op, 'value': value, 'unit': unit}
        try:
            check = evaluate(observed, rule)
        except ThresholdError as exc:
            self.fail('%s: %s' % (name, exc))
        self.result['checks'].append(check)
        return check

    def keypairs(self):
        p = self.p
        self.payer = loader.keypair_from_file(p['payer_keypair'], 'payer_keypair')
        self.authority = (loader.keypair_from_file(p['upgrade_authority_keypair'], 'upgrade_authority_keypair')
                          if p['upgrade_authority_keypair'] else self.payer)
        self.program_keypair = None
        if p['program_keypair']:
            self.program_keypair = loader.keypair_from_file(p['program_keypair'], 'program_keypair')
            self.program_id = str(self.program_keypair.pubkey())
        else:
            self.program_id = loader.check_pubkey(p['program_id'], 'program_id')
        self.separate_authority = str(self.authority.pubkey()) != str(self.payer.pubkey())
        self.result['payer'] = str(self.payer.pubkey())
        self.result['authority'] = str(self.authority.pubkey())
        self.result['program_id'] = self.program_id
        self.result['programdata_address'] = loader.programdata_address(self.program_id)

    def local_program(self):
        path = self.p['program_path']
        self.data = loader.read_program_file(path)
        size = len(self.data)
        self.result['program_size'] = size
        self.result['local_sha256'] = loader.binary_hash(self.data)
        limit = self.p['max_program_size']
        check = self.gate(SIZE_RULE_ID, 'Solana program binary size', '<', limit, 'bytes', size)
        if check['breached']:
            self.fail('program %s is %d bytes; it must be smaller than %d bytes (max_program_size, checklist %s): '
                      'refused before any transaction. %s' % (path, size, limit, SIZE_RULE_ID, check['detail']))
        loader.check_elf(self.data, path)
        if self.p['max_data_len'] is not None and self.p['max_data_len'] < size:
            self.fail('max_data_len %d is smaller than the program %s (%d bytes)'
                      % (self.p['max_data_len'], path, size))

    def cluster(self):
        genesis = str(self.rpc.get_genesis_hash())
        self.result['genesis_hash'] = genesis
        expected = (self.p['expected_genesis_hash'] or '').strip()
        if expected and genesis != expected:
            self.fail('rpc_url %s is not the cluster asked for: its genesis hash is %s, expected_genesis_hash is %s; '
                      'nothing was sent' % (self.rpc.shown_url, genesis, expected))

    def chain_state(self):
        """Read the program, its programdata and the buffer: decide the action."""
        rpc, commitment = self.rpc, self.p['commitment']
        program_account, programdata_account = rpc.get_multiple_accounts(
            [self.program_id, self.result['programdata_address']], commitment)
        self.current_max = None
        self.onchain = None
        if program_account is None:
            if self.program_keypair is None:
                self.fail('program %s does not exist on %s: a new deploy needs program_keypair (the keypair whose '
                          'address becomes the program id), not program_id' % (self.program_id, rpc.shown_url))
            return 'deploy'
        if program_account['owner'] != loader.LOADER_V3:
            self.fail('account %s on %s is owned by %s, not by the upgradeable BPF loader %s: it is not a program '
                      'this module can deploy or upgrade (use a new program keypair)'
                      % (self.program_id, rpc.shown_url, program_account['owner'], loader.LOADER_V3))
        state = loader.parse_state(program_account['data'], 'program account %s' % self.program_id)
        if state['state'] != 'program':
            self.fail('account %s on %s is a loader-v3 %s account, not a program' % (
                self.program_id, rpc.shown_url, state['state']))
        if programdata_account is None:
            self.fail('program %s on %s has no programdata account %s (closed?): it cannot be upgraded'
                      % (self.program_id, rpc.shown_url, self.result['programdata_address']))
        programdata = loader.parse_state(programdata_account['data'], 'programdata %s' % state['programdata_address'])
        self.onchain = programdata
        self.current_max = programdata['program_length']
        self.result['deployed_slot'] = programdata['slot']
        self.result['upgrade_authority'] = programdata['upgrade_authority']
        self.result['onchain_sha256'] = loader.programdata_hash(programdata_account['data'])
        self.result['max_data_len'] = self.current_max
        if self.result['onchain_sha256'] == self.result['local_sha256']:
            if programdata['upgrade_authority'] != str(self.authority.pubkey()):
                self.module.warn('program %s is already this build, but its upgrade authority is %s, not %s '
                                 '(upgrade_authority_keypair)' % (self.program_id, programdata['upgrade_authority'],
                                                                  self.authority.pubkey()))
            return 'none'
        if programdata['upgrade_authority'] is None:
            self.fail('program %s on %s is immutable (no upgrade authority): it cannot be upgraded to %s'
                      % (self.program_id, rpc.shown_url, self.p['program_path']))
        if programdata['upgrade_authority'] != str(self.authority.pubkey()):
            self.fail('wrong upgrade authority for program %s on %s: its upgrade authority is %s, but '
                      'upgrade_authority_keypair%s is %s; nothing was sent'
                      % (self.program_id, rpc.shown_url, programdata['upgrade_authority'],
                         '' if self.p['upgrade_authority_keypair'] else ' (defaulting to payer_keypair)',
                         self.authority.pubkey()))
        return 'upgrade'

    def buffer_state(self, action):
        self.buffer_keypair = loader.derive_buffer_keypair(self.authority, self.program_id)
        self.buffer = str(self.buffer_keypair.pubkey())
        self.result['buffer']['address'] = self.buffer
        self.buffer_content = None
        self.stale_buffer = None
        account = self.rpc.get_account_info(self.buffer, self.p['commitment'])
        if account is None:
            return
        if action == 'none':
            # The build is on chain, yet a run that was interrupted left its buffer: close it.
            if account['owner'] == loader.LOADER_V3:
                self.stale_buffer = account
            return
        try:
            state = loader.parse_state(account['data'], 'buffer %s' % self.buffer)
        except loader.LoaderError:
            state = {'state': 'unknown'}
        if (account['owner'] == loader.LOADER_V3 and state['state'] == 'buffer'
                and state['authority'] == str(self.authority.pubkey())):
            if state['program_length'] == len(self.data):
                self.buffer_content = account['data'][loader.BUFFER_METADATA_SIZE:]
                self.result['buffer']['reused'] = True
            else:
                self.stale_buffer = account
        else:
            self.fail('the buffer address %s derived for program %s is taken by an account of %s that is not '
                      'a buffer of this authority' % (self.buffer, self.program_id, account['owner']))

    def chunks(self):
        """(offset, bytes) of the Writes needed: all chunks that differ from what the buffer holds
        (zeros in a new buffer, the old content in a reused one)."""
        size = loader.write_chunk_size(2 if self.separate_authority else 1)
        self.result['buffer']['chunk_size'] = size
        existing = self.buffer_content if self.buffer_content is not None else bytes(len(self.data))
        needed = []
        for offset in range(0, len(self.data), size):
            chunk = self.data[offset:offset + size]
            if chunk != existing[offset:offset + size]:
                needed.append((offset, chunk))
        return needed

    def plan(self, action):
        rpc, commitment = self.rpc, self.p['commitment']
        self.balance_before = rpc.get_balance(str(self.payer.pubkey()), commitment)
        self.result['payer_balance_lamports'] = {'before': self.balance_before, 'after': self.balance_before}
        self.writes = self.chunks() if action != 'none' else []
        if action == 'deploy':
            self.max_data_len = self.p['max_data_len'] or len(self.data)
        elif action == 'upgrade':
            self.max_data_len = self.current_max + loader.plan_extension(self.current_max, len(self.data),
                                                                         self.p['max_data_len'])
        else:
            self.max_data_len = self.current_max
        self.result['max_data_len'] = self.max_data_len
        if action == 'none':
            self.result['estimate'] = loader.estimate_cost('none', 0, 0, None, 0, False, 0, 1)
            return
        # Fee per signature, as the node prices a one-signature Write message.
        blockhash, _last = rpc.get_latest_blockhash(commitment)
        sample = loader.message_bytes([loader.write_instruction(self.buffer_keypair.pubkey(), self.payer.pubkey(),
                                                                0, b'\0')], self.payer.pubkey(), blockhash)
        try:
            fee = rpc.get_fee_for_message(sample, commitment)
        except RpcError as exc:
            if exc.kind != 'rpc':
                raise
            fee = None
        self.fee_per_signature = fee if fee else DEFAULT_FEE_PER_SIGNATURE
        rents = {}

        def rent(size):
            if size not in rents:
                rents[size] = rpc.get_minimum_balance_for_rent_exemption(size, commitment)
            return rents[size]

        self.estimate = loader.estimate_cost(
            action, len(self.data), self.max_data_len, rent, self.fee_per_signature, self.separate_authority,
            rent(0), self.result['buffer']['chunk_size'], current_max_data_len=self.current_max,
            buffer_exists=self.buffer_content is not None, chunks=len(self.writes))
        if self.stale_buffer is not None:
            self.estimate['transactions'] += 1
            self.estimate['fees_lamports'] += self.fee_per_signature * (2 if self.separate_authority else 1)
            self.estimate['cost_lamports'] += self.fee_per_signature * (2 if self.separate_authority else 1)
        self.result['estimate'] = self.estimate

    def balance_gates(self):
        p = self.p
        if p['min_payer_balance_lamports'] is not None:
            minimum = p['min_payer_balance_lamports']
        else:
            try:
                minimum = loader.sol_to_lamports(p['min_payer_balance_sol'])
            except loader.LoaderError as exc:
                self.fail('min_payer_balance_sol: %s' % exc)
        if minimum < 0:
            self.fail('min_payer_balance_lamports %d must not be negative' % minimum)
        balance = self.balance_before
        payer = self.payer.pubkey()
        check = self.gate(BALANCE_RULE_ID, 'deployer wallet balance', '>=', minimum, 'lamports', balance)
        if check['breached']:
            self.fail('payer %s holds %s (%d lamports); at least %s (%d lamports) is required before a %s '
                      '(min_payer_balance, checklist %s): nothing was sent. %s'
                      % (payer, loader.sol(balance), balance, loader.sol(minimum), minimum, self.result['action'],
                         BALANCE_RULE_ID, check['detail']))
        required = self.estimate['required_lamports']
        cost = self.gate(BALANCE_RULE_ID, 'deployer wallet balance covers this %s' % self.result['action'],
                         '>=', required, 'lamports', balance)
        if cost['breached']:
            self.fail('payer %s holds %s (%d lamports); this %s needs %s (%d lamports: rent %d, buffer rent %d held '
                      'during the writes, fees %d for %d transactions, the payer\'s own rent-exempt minimum): '
                      'nothing was sent'
                      % (payer, loader.sol(balance), balance, self.result['action'], loader.sol(required), required,
                         self.estimate['rent_lamports'], self.estimate['buffer_rent_lamports'],
                         self.estimate['fees_lamports'], self.estimate['transactions']))

    # -- sending ---------------------------------------------------------------------
    def _build(self, instructions, extra_signers=(), authority=True):
        signers = list(extra_signers)
        if authority and self.separate_authority:
            signers.append(self.authority)

        def build(blockhash):
            return loader.signed_transaction(instructions, self.payer, signers, blockhash)
        return build

    def _signatures(self, *extra):
        return 1 + len(extra) + (1 if self.separate_authority else 0)

    def close_buffer(self, label='Close buffer'):
        instructions = [loader.close_buffer_instruction(self.buffer_keypair.pubkey(), self.payer.pubkey(),
                                                        self.authority.pubkey())]
        self.sender.send_one(label, self._build(instructions), self._signatures())

    def close_stale_buffer(self):
        """Nothing to deploy, but an interrupted run left its buffer: return its rent to the payer."""
        self.sender = TransactionSender(self.rpc, commitment=self.p['commitment'], timeout=self.p['timeout'])
        try:
            self.close_buffer('Close the stale buffer of an interrupted run')
        except (RpcError, TransactionFailed, loader.LoaderError) as exc:
            self.result['changed'] = False
            self.fail('program %s already holds this build, but the buffer %s left by an interrupted run could not '
                      'be closed: %s' % (self.program_id, self.buffer, exc))
        self.result['buffer']['closed_stale'] = True
        self.result['transactions'] = len(self.sender.landed)
        self.result['fees_lamports'] = self.sender.signatures_landed * self.fee_per_signature
        self.result['payer_balance_lamports']['after'] = self._balance_or_none()

    def wait_for_next_slot(self, slot):
        """The loader refuses an upgrade in the slot where the program was deployed or extended."""
        deadline = _time.monotonic() + self.p['timeout']
        while self.rpc.get_slot(self.p['commitment']) <= (slot or 0):
            if _time.monotonic() > deadline:
                raise DeployError('the cluster did not advance past slot %s within %ss' % (slot, self.p['timeout']))
            _time.sleep(0.2)

    def execute(self, action):
        commitment = self.p['commitment']
        payer, authority = self.payer, self.authority
        buffer_pubkey = self.buffer_keypair.pubkey()
        length = len(self.data)
        self.sender = TransactionSender(self.rpc, commitment=commitment, timeout=self.p['timeout'])
        created = self.buffer_content is not None
        result = None
        try:
            if self.stale_buffer is not None:
                self.close_buffer('Close the stale buffer of an interrupted run')
                self.result['buffer']['closed_stale'] = True
            if not created:
                rent = self.rpc.get_minimum_balance_for_rent_exemption(loader.BUFFER_METADATA_SIZE + length, commitment)
                instructions = loader.initialize_buffer_instructions(payer.pubkey(), buffer_pubkey, authority.pubkey(),
                                                                     rent, length)
                self.sender.send_one('Create buffer %s' % self.buffer,
                                     self._build(instructions, [self.buffer_keypair], authority=False), 2)
                created = True
            total = len(self.writes)
            items = []
            for number, (offset, chunk) in enumerate(self.writes, 1):
                instructions = [loader.write_instruction(buffer_pubkey, authority.pubkey(), offset, chunk)]
                items.append(('Write %d/%d (offset %d)' % (number, total, offset), self._build(instructions),
                              self._signatures()))
            self.sender.send_all(items)
            self.result['buffer']['writes'] = total
            program = self.program_keypair.pubkey() if self.program_keypair else loader.pubkey(self.program_id)
            if action == 'deploy':
                program_rent = self.rpc.get_minimum_balance_for_rent_exemption(loader.PROGRAM_ACCOUNT_SIZE, commitment)
                instructions = loader.deploy_instructions(payer.pubkey(), program, authority.pubkey(), buffer_pubkey,
                                                          program_rent, self.max_data_len)
                result = self.sender.send_one('Deploy (DeployWithMaxDataLen %d)' % self.max_data_len,
                                              self._build(instructions, [self.program_keypair]),
                                              self._signatures(1))
            else:
                last_slot = self.result['deployed_slot']
                extend = self.estimate.get('extend_bytes') or 0
                if extend:
                    instructions = [loader.extend_program_instruction(program, payer.pubkey(), extend)]
                    extended = self.sender.send_one('ExtendProgram +%d bytes' % extend,
                                                    self._build(instructions, authority=False), 1)
                    last_slot = extended['slot']
                self.wait_for_next_slot(last_slot)
                instructions = [loader.upgrade_instruction(program, buffer_pubkey, authority.pubkey(), payer.pubkey())]
                result = self.sender.send_one('Upgrade', self._build(instructions), self._signatures())
            created = False  # the loader consumed the buffer
        except SystemExit:
            raise
        except BaseException as exc:  # pylint: disable=broad-except
            # RpcError, TransactionFailed, Interrupted (a signal), KeyboardInterrupt, or anything unexpected
            # (a panic in solders is a BaseException): close the buffer before reporting.
            cleanup = ''
            if created:
                cleanup = self.cleanup_after_failure()
            self.result['payer_balance_lamports']['after'] = self._balance_or_none()
            self.result['changed'] = False  # the program is as it was (the fees are spent: see transactions)
            known = (RpcError, TransactionFailed, DeployError, loader.LoaderError, Interrupted)
            reason = str(exc) if isinstance(exc, known) else '%s: %s' % (type(exc).__name__, exc)
            self.fail('%s failed: %s%s' % (action, reason, cleanup))
        return result

    def _balance_or_none(self):
        try:
            return self.rpc.get_balance(str(self.payer.pubkey()), self.p['commitment'])
        except RpcError:
            return None

    def cleanup_after_failure(self):
        """Close the buffer this run created or reused, so no SOL stays locked in it."""
        try:
            account = self.rpc.get_account_info(self.buffer, self.p['commitment'], data_slice=(0, 0))
            if account is None:
                return '; the buffer %s no longer exists' % self.buffer
            self.close_buffer('Close buffer after the failure')
            return ('; the buffer %s was closed and its %d lamports returned to the payer'
                    % (self.buffer, account['lamports']))
        except BaseException as exc:  # pylint: disable=broad-except
            if isinstance(exc, SystemExit):
                raise
            return ('; the buffer %s could NOT be closed (%s): the next run with the same program and authority '
                    'finds and reuses or closes it' % (self.buffer, exc))

    def verify(self):
        rpc, commitment = self.rpc, self.p['commitment']
        programdata_account = rpc.get_account_info(self.result['programdata_address'], commitment)
        if programdata_account is None:
            self.fail('after the %s, programdata %s does not exist'
                      % (self.result['action'], self.result['programdata_address']))
        state = loader.parse_state(programdata_account['data'], 'programdata')
        self.result['onchain_sha256'] = loader.programdata_hash(programdata_account['data'])
        self.result['deployed_slot'] = state['slot']
        self.result['upgrade_authority'] = state['upgrade_authority']
        self.result['max_data_len'] = state['program_length']
        if self.result['onchain_sha256'] != self.result['local_sha256']:
            self.fail('after the %s, the program on chain (sha256 %s) differs from %s (sha256 %s)'
                      % (self.result['action'], self.result['onchain_sha256'], self.p['program_path'],
                         self.result['local_sha256']))

    # -- main ------------------------------------------------------------------------
    def run(self):
        p = self.p
        try:
            self.rpc = SolanaRpc(p['rpc_url'], timeout=p['timeout'], retries=p['retries'], backoff=p['retry_delay'],
                                 validate_certs=p['validate_certs'])
        except RpcError as exc:
            self.module.fail_json(msg=str(exc), **self.result)
        self.result['rpc_url'] = self.rpc.shown_url
        for name in ('max_program_size', 'timeout'):
            if p[name] <= 0:
                self.fail('%s must be a positive number, got %s' % (name, p[name]))
        if p['retries'] < 0 or p['retry_delay'] < 0:
            self.fail('retries and retry_delay must not be negative, got %s and %s' % (p['retries'], p['retry_delay']))
        try:
            self.keypairs()
            self.local_program()
            self.cluster()
            action = self.chain_state()
            self.result['action'] = action
            self.buffer_state(action)
            self.plan(action)
        except loader.LoaderError as exc:
            self.fail(str(exc))
        except RpcError as exc:
            self.fail('%s; nothing was sent' % exc)
        before = {'program_id': self.program_id, 'sha256': self.result['onchain_sha256'],
                  'upgrade_authority': self.result['upgrade_authority'], 'max_data_len': self.current_max}
        if action != 'none':
            self.balance_gates()
        self.result['changed'] = action != 'none' or self.stale_buffer is not None
        if action == 'none' and self.stale_buffer is not None and not self.module.check_mode:
            self.close_stale_buffer()
        if action == 'none' or self.module.check_mode:
            self.result['msg'] = self.summary(action, sent=False)
            self.finish(before)
        previous = {}
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            previous[sig] = signal.signal(sig, _interrupt)
        try:
            sent = self.execute(action)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.result['signature'] = sent['signature'] if sent else None
        self.result['transactions'] = len(self.sender.landed)
        self.result['fees_lamports'] = self.sender.signatures_landed * self.fee_per_signature
        try:
            self.verify()
            self.result['payer_balance_lamports']['after'] = self.rpc.get_balance(str(self.payer.pubkey()),
                                                                                  p['commitment'])
        except RpcError as exc:
            self.fail('the %s was sent (signature %s) but it could not be verified: %s'
                      % (action, self.result['signature'], exc))
        self.result['msg'] = self.summary(action, sent=True)
        self.finish(before)

    def summary(self, action, sent):
        pid = self.program_id
        if action == 'none':
            text = 'program %s already holds this build (sha256 %s)' % (pid, self.result['local_sha256'])
            if self.stale_buffer is None:
                return text + ': nothing to do'
            return text + '; %s the stale buffer %s of an interrupted run (%d lamports back to the payer)' % (
                'closed' if self.result['buffer']['closed_stale'] else 'would close', self.buffer,
                self.stale_buffer['lamports'])
        estimate = self.result['estimate']
        if not sent:
            return ('would %s program %s: %d transactions, %s (%d lamports) spent, %s needed up front'
                    % (action, pid, estimate['transactions'], loader.sol(estimate['cost_lamports']),
                       estimate['cost_lamports'], loader.sol(estimate['required_lamports'])))
        spent = self.result['payer_balance_lamports']['before'] - self.result['payer_balance_lamports']['after']
        return ('%s of program %s done in slot %s: %d transactions, fees %d lamports, %s spent in all; sha256 %s '
                'verified on chain' % ('deploy' if action == 'deploy' else 'upgrade', pid, self.result['deployed_slot'],
                                       self.result['transactions'], self.result['fees_lamports'], loader.sol(spent),
                                       self.result['onchain_sha256']))

    def finish(self, before):
        if self.module._diff:
            after = {'program_id': self.program_id, 'sha256': self.result['local_sha256'] if self.result['changed']
                     else self.result['onchain_sha256'], 'upgrade_authority':
                     self.result['upgrade_authority'] if self.result['action'] != 'deploy' else str(self.authority.pubkey()),
                     'max_data_len': self.result['max_data_len']}
            self.result['diff'] = {'before': before if before['sha256'] else {}, 'after': after}
        self.module.exit_json(**self.result)


def argument_spec():
    return dict(
        rpc_url=dict(type='str', required=True),
        program_path=dict(type='path', required=True),
        program_id=dict(type='str'),
        program_keypair=dict(type='path'),
        payer_keypair=dict(type='path', required=True),
        upgrade_authority_keypair=dict(type='path'),
        min_payer_balance_sol=dict(type='float', default=10),
        min_payer_balance_lamports=dict(type='int'),
        max_program_size=dict(type='int', default=204800),
        max_data_len=dict(type='int'),
        expected_genesis_hash=dict(type='str'),
        commitment=dict(type='str', default='confirmed', choices=['processed', 'confirmed', 'finalized']),
        timeout=dict(type='int', default=60),
        retries=dict(type='int', default=4),
        retry_delay=dict(type='float', default=0.5),
        validate_certs=dict(type='bool', default=True),
    )


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[('program_id', 'program_keypair'), ('min_payer_balance_sol', 'min_payer_balance_lamports')],
        required_one_of=[('program_id', 'program_keypair')],
        supports_check_mode=True,
    )
    if not loader.HAS_SOLDERS:
        module.fail_json(msg=missing_required_lib('solders'))
    try:
        Deployer(module).run()
    except SystemExit:
        raise
    except BaseException as exc:  # pylint: disable=broad-except
        # never a traceback: a bug (or a panic in solders) is reported as a failure with its type
        module.fail_json(msg='unexpected error (please report it): %s: %s' % (type(exc).__name__, exc))


if __name__ == '__main__':
    main()
