# -*- coding: utf-8 -*-
"""x402.runbook.solana_program, solana_program_info and the role solana_program against a
REAL SVM: LiteSVM behind the collection's own JSON-RPC endpoint (litesvm_rpc.py) on
127.0.0.1, with real SBF programs (SPL Token, Address Lookup Table, Stake, Memo) taken
from LiteSVM at run time.

The checklist's boundaries (spec/THRESHOLDS.md): a 204,800-byte program is refused and
204,799 accepted; a wallet at 9.999999999 SOL is refused and exactly 10 SOL accepted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess

import pytest

# The fixtures (devnet, localnet, programs) are used by name.
from solana_fixtures import (  # noqa: F401  pylint: disable=unused-import
    REPO_ROOT, SOL, FlakyProxy, adhoc, devnet, free_port, funded_keypair, keypair_file, localnet, module_command,
    module_env, playbook, programs, recap, rpc_call, run_module,
)

pytestmark = pytest.mark.integration

PLAYBOOK = REPO_ROOT / 'playbooks' / 'solana_deploy.yml'
TOKEN_SIZE, ALT_SIZE, STAKE_SIZE = 100312, 170144, 202280


def deploy_args(endpoint, program, payer, program_keypair=None, **extra):
    args = {'rpc_url': endpoint.url if hasattr(endpoint, 'url') else endpoint, 'program_path': program,
            'payer_keypair': payer, 'retries': 1, 'retry_delay': 0.05, 'timeout': 30}
    if program_keypair is not None:
        args['program_keypair'] = program_keypair
    args.update(extra)
    return args


def app_dir(tmp_path, program, name='app'):
    """A checkout of the app repository as the role expects it: the release build and its keypair."""
    base = tmp_path / name
    deploy = base / 'contracts' / 'target' / 'deploy'
    deploy.mkdir(parents=True)
    shutil.copy(program, deploy / 'x402_zk_verifier.so')
    _path, program_id = keypair_file(deploy, 'x402_zk_verifier-keypair')
    return base, program_id


def extra_vars(**values):
    return ['-e', json.dumps(values)]


# --------------------------------------------------------------------------- the endpoint

def test_the_endpoint_speaks_standard_solana_json_rpc(localnet):
    assert localnet.call('getHealth') == 'ok'
    assert localnet.call('getGenesisHash') == '2dZMy1ib1q7CzRgQ26mHG72JBUELFHWU6LV4goa1Uo8p'
    latest = localnet.call('getLatestBlockhash')['value']
    assert latest['lastValidBlockHeight'] == localnet.call('getBlockHeight') + 150
    assert localnet.call('isBlockhashValid', latest['blockhash'])['value'] is True
    # mainnet's rent: (128 + size) x 6960 lamports
    assert localnet.call('getMinimumBalanceForRentExemption', 36) == (128 + 36) * 6960
    assert localnet.call('getAccountInfo', '11111111111111111111111111111112')['value'] is None
    with pytest.raises(RuntimeError, match='-32601'):
        localnet.call('noSuchMethod')
    with pytest.raises(RuntimeError, match='not a valid public key'):
        localnet.call('getBalance', 'not-a-key')


# --------------------------------------------------------------------------- the role, end to end

def test_role_deploys_on_devnet_first_then_the_cluster_and_a_second_run_changes_nothing(
        localnet, devnet, programs, tmp_path):
    app, program_id = app_dir(tmp_path, programs['spl_token'])
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'deployer', 20 * SOL)
    devnet.fund(payer_pubkey, 5 * SOL)  # devnet needs no 10 SOL, only the deploy's cost
    record_dir = tmp_path / 'record'
    record_dir.mkdir()
    common = {'x402_solana_cluster': 'localnet', 'x402_solana_rpc_url': localnet.url, 'x402_app_dir': str(app),
              'x402_solana_deployer_keypair': str(payer), 'x402_solana_devnet_first': True,
              'x402_solana_devnet_rpc_url': devnet.url, 'solana_program_devnet_genesis_hash': ''}
    before = localnet.balance(payer_pubkey)

    first = playbook(PLAYBOOK, tmp_path, *extra_vars(solana_program_record_dir=str(record_dir), **common))
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-3000:]
    # devnet deploy, cluster deploy, .env.production, the record file
    assert recap(first.stdout)['changed'] == 4, first.stdout[-4000:]
    env_file = app / 'deploy' / '.env.production'
    assert env_file.read_text() == 'VERIFIER_PROGRAM_ID=%s\n' % program_id
    assert oct(env_file.stat().st_mode & 0o777) == '0o600'

    record = json.loads((record_dir / 'solana_program.json').read_text())
    assert record['decision'] == 'GO' and 'stopped_by' not in record
    assert record['program_id'] == program_id
    assert record['deploy']['action'] == 'deploy' and record['deploy']['transactions'] == 102
    assert record['onchain']['matches'] is True and record['onchain']['executable'] is True
    assert record['onchain']['onchain_sha256'] == record['local_sha256']
    assert record['onchain']['upgrade_authority'] == payer_pubkey
    assert record['devnet']['action'] == 'deploy' and record['devnet']['verified'] is True
    ids = [check['id'] for check in record['checks']]
    for item in ('deployment_day.build_phase.6', 'deployment_day.deploy_solana_program.1',
                 'deployment_day.deploy_solana_program.2', 'deployment_day.deploy_solana_program.5',
                 'deployment_day.deploy_solana_program.6'):
        assert item in ids, ids
    assert all(check['status'] == 'pass' for check in record['checks']), record['checks']
    spent = before - localnet.balance(payer_pubkey)
    assert spent == record['deploy']['payer_balance_lamports']['before'] - record['deploy']['payer_balance_lamports']['after']
    assert spent == record['plan']['estimate']['cost_lamports']
    for endpoint in (localnet, devnet):
        account = endpoint.account(program_id)
        assert account['executable'] is True and account['owner'] == 'BPFLoaderUpgradeab1e11111111111111111111111'
    assert localnet.buffers(payer_pubkey) == [] and devnet.buffers(payer_pubkey) == []

    sent = localnet.tx_count(), devnet.tx_count()
    second = playbook(PLAYBOOK, tmp_path, *extra_vars(**common))
    assert second.returncode == 0, second.stdout[-5000:]
    assert recap(second.stdout)['changed'] == 0, second.stdout[-4000:]
    assert (localnet.tx_count(), devnet.tx_count()) == sent
    assert 'already holds this build' in second.stdout


def test_role_refuses_a_204800_byte_program_before_any_transaction(localnet, programs, tmp_path):
    app, _program_id = app_dir(tmp_path, programs['stake_204800'])
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'deployer', 20 * SOL)
    sent = localnet.tx_count()
    result = playbook(PLAYBOOK, tmp_path, *extra_vars(
        x402_solana_cluster='localnet', x402_solana_rpc_url=localnet.url, x402_app_dir=str(app),
        x402_solana_deployer_keypair=str(payer)))
    assert result.returncode != 0
    assert 'Solana program binary size: observed 204800 (bytes), required < 204800: FAIL' in result.stdout
    assert "stopped at 'Stop when the program binary is too large'" in result.stdout
    assert localnet.tx_count() == sent and localnet.balance(payer_pubkey) == 20 * SOL
    assert not (app / 'deploy' / '.env.production').exists()


def test_role_refuses_a_wallet_at_9_999999999_sol_before_any_transaction(localnet, programs, tmp_path):
    app, _program_id = app_dir(tmp_path, programs['memo'])
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'deployer', 10 * SOL - 1)
    sent = localnet.tx_count()
    result = playbook(PLAYBOOK, tmp_path, *extra_vars(
        x402_solana_cluster='localnet', x402_solana_rpc_url=localnet.url, x402_app_dir=str(app),
        x402_solana_deployer_keypair=str(payer)))
    assert result.returncode != 0
    assert 'deployer wallet balance: observed 9999999999 (lamports), required >= 10000000000: FAIL' in result.stdout
    assert "stopped at 'Stop when the deployer wallet holds less than the checklist's minimum'" in result.stdout
    assert localnet.tx_count() == sent and localnet.balance(payer_pubkey) == 10 * SOL - 1


# --------------------------------------------------------------------------- the module: gates

def test_a_payer_at_exactly_10_sol_deploys(localnet, programs, tmp_path):
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 10 * SOL)
    program, program_id = keypair_file(tmp_path, 'program')
    rc, result = run_module('solana_program', deploy_args(localnet, programs['memo'], payer, program), tmp_path)
    assert rc == 0, result['msg']
    assert result['changed'] is True and result['action'] == 'deploy' and result['program_id'] == program_id
    gate = [c for c in result['checks'] if c['name'] == 'deployer wallet balance'][0]
    assert gate['status'] == 'pass' and gate['observed'] == 10 * SOL
    assert gate['detail'] == 'deployer wallet balance: observed 10000000000 (lamports), required >= 10000000000: PASS'
    balance = result['payer_balance_lamports']
    assert balance['before'] == 10 * SOL and balance['after'] == localnet.balance(payer_pubkey)
    assert balance['before'] - balance['after'] == result['estimate']['cost_lamports']
    # create buffer, 3 Writes of at most 1012 bytes (2,304 bytes), deploy
    assert result['transactions'] == result['estimate']['transactions'] == 5
    assert result['fees_lamports'] == result['estimate']['fees_lamports'] == (2 + 3 + 2) * 5000


def test_a_payer_at_9_999999999_sol_is_refused_with_the_observed_value_and_the_limit(localnet, programs, tmp_path):
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 10 * SOL - 1)
    program, _program_id = keypair_file(tmp_path, 'program')
    sent = localnet.tx_count()
    rc, result = run_module('solana_program', deploy_args(localnet, programs['memo'], payer, program), tmp_path)
    assert rc == 1 and result['failed'] is True
    assert ('payer %s holds 9.999999999 SOL (9999999999 lamports); at least 10 SOL (10000000000 lamports) '
            'is required before a deploy' % payer_pubkey) in result['msg']
    assert 'nothing was sent' in result['msg']
    assert localnet.tx_count() == sent and localnet.balance(payer_pubkey) == 10 * SOL - 1


def test_a_payer_below_the_cost_of_the_deploy_is_refused_whatever_the_minimum(localnet, programs, tmp_path):
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', SOL // 2)
    program, _program_id = keypair_file(tmp_path, 'program')
    sent = localnet.tx_count()
    rc, result = run_module('solana_program', deploy_args(localnet, programs['spl_token'], payer, program,
                                                          min_payer_balance_sol=0), tmp_path)
    assert rc == 1
    required = result['estimate']['required_lamports']
    assert required > SOL // 2
    assert ('payer %s holds 0.5 SOL (500000000 lamports); this deploy needs' % payer_pubkey) in result['msg']
    assert '(%d lamports: rent' % required in result['msg'] and 'nothing was sent' in result['msg']
    assert localnet.tx_count() == sent


def test_204799_bytes_are_deployed_and_204800_refused(localnet, programs, tmp_path):
    payer, _payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 20 * SOL)
    program, _program_id = keypair_file(tmp_path, 'program')
    sent = localnet.tx_count()
    rc, result = run_module('solana_program', deploy_args(localnet, programs['stake_204800'], payer, program), tmp_path)
    assert rc == 1
    assert result['msg'].startswith('program %s is 204800 bytes; it must be smaller than 204800 bytes'
                                    % programs['stake_204800'])
    assert 'Solana program binary size: observed 204800 (bytes), required < 204800: FAIL' in result['msg']
    assert localnet.tx_count() == sent

    rc, result = run_module('solana_program', deploy_args(localnet, programs['stake_204799'], payer, program), tmp_path)
    assert rc == 0, result['msg']
    assert result['program_size'] == 204799 and result['action'] == 'deploy' and result['max_data_len'] == 204799
    # the zero padding is not part of the program's hash (solana-verify strips trailing zeros)
    assert result['onchain_sha256'] == result['local_sha256']
    assert result['buffer']['chunk_size'] == 1012
    assert result['transactions'] == 1 + result['buffer']['writes'] + 1


@pytest.mark.parametrize('name, expected', [
    ('not_an_elf', 'is not an SBF ELF: it starts with 23212f62, not the ELF magic 7f454c46'),
    ('memo_truncated', 'is a corrupt or truncated ELF'),
])
def test_what_is_not_a_whole_elf_is_refused_before_any_transaction(localnet, programs, tmp_path, name, expected):
    payer, _payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 20 * SOL)
    program, _program_id = keypair_file(tmp_path, 'program')
    sent = localnet.tx_count()
    rc, result = run_module('solana_program', deploy_args(localnet, programs[name], payer, program), tmp_path)
    assert rc == 1 and expected in result['msg'] and str(programs[name]) in result['msg']
    assert localnet.tx_count() == sent


def test_a_corrupt_elf_is_refused_by_the_loader_and_its_buffer_closed(localnet, programs, tmp_path):
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 20 * SOL)
    program, program_id = keypair_file(tmp_path, 'program')
    rc, result = run_module('solana_program', deploy_args(localnet, programs['memo_bad_opcode'], payer, program),
                            tmp_path)
    assert rc == 1
    assert 'deploy failed: Deploy (DeployWithMaxDataLen 2304) was refused' in result['msg']
    assert 'unknown eBPF opcode 0xff' in result['msg']  # the loader's own words
    assert 'the buffer %s was closed' % result['buffer']['address'] in result['msg']
    assert localnet.buffers(payer_pubkey) == []
    assert localnet.account(program_id) is None
    # only fees were spent: the buffer's rent came back
    spent = 20 * SOL - localnet.balance(payer_pubkey)
    assert result['transactions'] == 5  # create buffer, 3 Writes, Close (the deploy never landed)
    assert spent == result['fees_lamports'] == (2 + 3 + 1) * 5000
    assert result['changed'] is False


# --------------------------------------------------------------------------- upgrades and authorities

def test_a_different_elf_upgrades_the_program_and_the_info_module_verifies_it(localnet, programs, tmp_path):
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 20 * SOL)
    authority, authority_pubkey = keypair_file(tmp_path, 'authority')
    program, program_id = keypair_file(tmp_path, 'program')
    args = deploy_args(localnet, programs['memo'], payer, program, upgrade_authority_keypair=authority)
    rc, result = run_module('solana_program', args, tmp_path)
    assert rc == 0, result['msg']
    assert result['upgrade_authority'] == authority_pubkey and result['authority'] == authority_pubkey
    assert result['buffer']['chunk_size'] == 916  # two signers: payer and authority

    args['program_path'] = programs['address_lookup_table']
    rc, result = run_module('solana_program', args, tmp_path, check_mode=True)
    assert rc == 0 and result['action'] == 'upgrade' and result['changed'] is True
    assert result['estimate']['extend_bytes'] == ALT_SIZE - 2304 and result['transactions'] == 0

    rc, result = run_module('solana_program', args, tmp_path)
    assert rc == 0, result['msg']
    assert result['action'] == 'upgrade' and result['changed'] is True
    assert result['max_data_len'] == ALT_SIZE and result['onchain_sha256'] == result['local_sha256']
    assert localnet.buffers(authority_pubkey) == []
    # the upgrade spent fees and the extension's rent only: the buffer's rent came back
    assert (result['payer_balance_lamports']['before'] - result['payer_balance_lamports']['after']
            == result['estimate']['cost_lamports'])

    rc, info = run_module('solana_program_info', {
        'rpc_url': localnet.url, 'program_id': program_id, 'program_path': programs['address_lookup_table'],
        'expected_authority': authority_pubkey}, tmp_path)
    assert rc == 0, info['msg']
    assert info['matches'] is True and info['executable'] is True and info['upgradeable'] is True
    assert info['data_length'] == ALT_SIZE and info['last_deployed_slot'] == result['deployed_slot']
    assert info['programdata_address'] == result['programdata_address']
    assert info['cluster']['genesis_hash'] == result['genesis_hash']

    rc, again = run_module('solana_program', args, tmp_path)
    assert rc == 0 and again['changed'] is False and again['action'] == 'none' and again['transactions'] == 0

    rc, info = run_module('solana_program_info', {
        'rpc_url': localnet.url, 'program_id': program_id, 'program_path': programs['memo'],
        'expected_authority': payer_pubkey}, tmp_path)
    assert rc == 1 and info['matches'] is False
    assert 'differs from %s' % programs['memo'] in info['msg']
    assert 'the upgrade authority is %s, expected_authority is %s' % (authority_pubkey, payer_pubkey) in info['msg']


def test_a_wrong_authority_is_refused_before_any_transaction(localnet, programs, tmp_path):
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 20 * SOL)
    program, program_id = keypair_file(tmp_path, 'program')
    rc, result = run_module('solana_program', deploy_args(localnet, programs['memo'], payer, program), tmp_path)
    assert rc == 0, result['msg']
    intruder, intruder_pubkey = funded_keypair(localnet, tmp_path, 'intruder', 20 * SOL)
    sent = localnet.tx_count()
    rc, result = run_module('solana_program', deploy_args(localnet, programs['stake'], intruder, None,
                                                          program_id=program_id), tmp_path)
    assert rc == 1
    assert result['msg'] == (
        'wrong upgrade authority for program %s on %s: its upgrade authority is %s, but upgrade_authority_keypair '
        '(defaulting to payer_keypair) is %s; nothing was sent' % (program_id, localnet.url, payer_pubkey,
                                                                   intruder_pubkey))
    assert localnet.tx_count() == sent
    assert localnet.buffers(intruder_pubkey) == [] and localnet.buffers(payer_pubkey) == []


def test_a_new_program_needs_its_keypair(localnet, programs, tmp_path):
    payer, _payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 20 * SOL)
    _program, program_id = keypair_file(tmp_path, 'program')
    rc, result = run_module('solana_program', deploy_args(localnet, programs['memo'], payer, None,
                                                          program_id=program_id), tmp_path)
    assert rc == 1 and 'program %s does not exist on %s: a new deploy needs program_keypair' % (
        program_id, localnet.url) in result['msg']


# --------------------------------------------------------------------------- failures of the network

def test_an_unreachable_rpc_fails_clearly_and_nothing_is_left(programs, tmp_path):
    payer, _payer_pubkey = keypair_file(tmp_path, 'payer')
    program, program_id = keypair_file(tmp_path, 'program')
    url = 'http://127.0.0.1:%d' % free_port()
    rc, result = run_module('solana_program', deploy_args(url, programs['memo'], payer, program), tmp_path)
    assert rc == 1
    assert re.fullmatch(r'Solana RPC %s \(getGenesisHash\) is unreachable: \[Errno 111\] Connection refused '
                        r'\(after 2 attempts over [0-9.]+ s\); nothing was sent' % re.escape(url), result['msg'])
    assert result['transactions'] == 0
    rc, info = run_module('solana_program_info', {'rpc_url': url, 'program_id': program_id, 'retries': 0}, tmp_path)
    assert rc == 1 and info['msg'] == 'Solana RPC %s (getGenesisHash) is unreachable: [Errno 111] Connection refused' % url


def test_an_interrupted_deploy_leaves_its_buffer_and_the_next_run_reuses_it(localnet, programs, tmp_path):
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 20 * SOL)
    program, program_id = keypair_file(tmp_path, 'program')
    with FlakyProxy(localnet.url, sends=31) as proxy:  # create buffer + 30 writes, then the RPC "goes down"
        rc, result = run_module('solana_program', deploy_args(proxy.url, programs['spl_token'], payer, program,
                                                              retries=0), tmp_path)
    assert rc == 1 and proxy.refused >= 2  # the next Write, then the Close
    buffer = result['buffer']['address']
    assert 'answered HTTP 503' in result['msg']
    assert ('the buffer %s could NOT be closed' % buffer) in result['msg']
    assert 'the next run with the same program and authority finds and reuses or closes it' in result['msg']
    assert [item['pubkey'] for item in localnet.buffers(payer_pubkey)] == [buffer]
    assert result['transactions'] == 31

    rc, result = run_module('solana_program', deploy_args(localnet, programs['spl_token'], payer, program), tmp_path)
    assert rc == 0, result['msg']
    assert result['buffer'] == {'address': buffer, 'reused': True, 'closed_stale': False, 'writes': 100 - 30,
                                'chunk_size': 1012}
    assert result['transactions'] == 71 and result['onchain_sha256'] == result['local_sha256']
    assert localnet.buffers(payer_pubkey) == []
    assert localnet.account(program_id)['executable'] is True
    # over both runs the payer paid exactly one deploy: program + programdata rent and the fees
    rent = (128 + 36) * 6960 + (128 + 45 + TOKEN_SIZE) * 6960
    assert 20 * SOL - localnet.balance(payer_pubkey) == rent + (2 + 100 + 2) * 5000


def test_a_deploy_interrupted_by_sigterm_closes_its_buffer(localnet, programs, tmp_path):
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 20 * SOL)
    program, program_id = keypair_file(tmp_path, 'program')
    holder = {}

    def interrupt(number):
        if number == 20:  # in the middle of the Writes
            os.kill(holder['process'].pid, signal.SIGTERM)

    with FlakyProxy(localnet.url, on_send=interrupt) as proxy:
        command = module_command('solana_program', deploy_args(proxy.url, programs['spl_token'], payer, program),
                                 tmp_path)
        holder['process'] = subprocess.Popen(command, cwd=str(tmp_path), env=module_env(), stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True)
        stdout, stderr = holder['process'].communicate(timeout=120)
    assert holder['process'].returncode == 1 and 'Traceback' not in stderr, stderr
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result['msg'].startswith('deploy failed: interrupted by signal 15; the buffer %s was closed'
                                    % result['buffer']['address']), result['msg']
    assert localnet.buffers(payer_pubkey) == [] and localnet.account(program_id) is None
    assert 20 * SOL - localnet.balance(payer_pubkey) == result['fees_lamports'] > 0


def test_a_stale_buffer_is_closed_when_the_build_is_on_chain_or_its_size_changed(localnet, programs, tmp_path):
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 20 * SOL)
    program, _program_id = keypair_file(tmp_path, 'program')
    memo = deploy_args(localnet, programs['memo'], payer, program)
    assert run_module('solana_program', memo, tmp_path)[0] == 0

    def interrupted_upgrade():
        with FlakyProxy(localnet.url, sends=11) as proxy:
            rc, result = run_module('solana_program', dict(memo, rpc_url=proxy.url, retries=0,
                                                           program_path=str(programs['address_lookup_table'])), tmp_path)
        assert rc == 1 and 'could NOT be closed' in result['msg']
        assert len(localnet.buffers(payer_pubkey)) == 1
        return result['buffer']['address']

    buffer = interrupted_upgrade()
    rc, result = run_module('solana_program', memo, tmp_path, check_mode=True)
    assert rc == 0 and result['changed'] is True and result['action'] == 'none'
    assert 'would close the stale buffer %s' % buffer in result['msg'] and len(localnet.buffers(payer_pubkey)) == 1
    rc, result = run_module('solana_program', memo, tmp_path)
    assert rc == 0 and result['changed'] is True and result['action'] == 'none'
    assert result['buffer']['closed_stale'] is True and result['transactions'] == 1
    assert localnet.buffers(payer_pubkey) == []
    rc, result = run_module('solana_program', memo, tmp_path)
    assert rc == 0 and result['changed'] is False and result['transactions'] == 0

    interrupted_upgrade()
    rc, result = run_module('solana_program', dict(memo, program_path=str(programs['stake'])), tmp_path)
    assert rc == 0, result['msg']
    assert result['action'] == 'upgrade' and result['buffer']['closed_stale'] is True
    assert result['buffer']['reused'] is False and result['onchain_sha256'] == result['local_sha256']
    assert localnet.buffers(payer_pubkey) == []


# --------------------------------------------------------------------------- check mode, ad hoc

def test_check_mode_reports_the_plan_and_sends_nothing(localnet, programs, tmp_path):
    payer, payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 20 * SOL)
    program, program_id = keypair_file(tmp_path, 'program')
    sent = localnet.tx_count()
    proc, result = adhoc('solana_program', deploy_args(localnet, programs['spl_token'], payer, program), tmp_path,
                         '--check')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert result['changed'] is True and result['action'] == 'deploy' and result['transactions'] == 0
    estimate = result['estimate']
    assert estimate['transactions'] == 102 and estimate['fees_lamports'] == 104 * 5000
    assert estimate['rent_lamports'] == (128 + 36) * 6960 + (128 + 45 + TOKEN_SIZE) * 6960
    assert result['msg'].startswith('would deploy program %s: 102 transactions' % program_id)
    assert localnet.tx_count() == sent and localnet.balance(payer_pubkey) == 20 * SOL
    assert localnet.account(program_id) is None and localnet.buffers(payer_pubkey) == []


def test_the_info_module_fails_on_a_missing_program_unless_told_to_report(localnet, tmp_path):
    _path, program_id = keypair_file(tmp_path, 'nothing')
    rc, info = run_module('solana_program_info', {'rpc_url': localnet.url, 'program_id': program_id}, tmp_path)
    assert rc == 1
    assert info['msg'] == 'program %s: program %s does not exist on %s' % (program_id, program_id, localnet.url)
    rc, info = run_module('solana_program_info', {'rpc_url': localnet.url, 'program_id': program_id,
                                                  'fail_on_mismatch': False}, tmp_path)
    assert rc == 0 and info['exists'] is False and info['matches'] is False and info['changed'] is False


def test_a_wrong_cluster_is_refused_before_anything_else(localnet, programs, tmp_path):
    payer, _payer_pubkey = funded_keypair(localnet, tmp_path, 'payer', 20 * SOL)
    program, _program_id = keypair_file(tmp_path, 'program')
    mainnet = '5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d'
    rc, result = run_module('solana_program', deploy_args(localnet, programs['memo'], payer, program,
                                                          expected_genesis_hash=mainnet), tmp_path)
    assert rc == 1 and result['msg'] == (
        'rpc_url %s is not the cluster asked for: its genesis hash is 2dZMy1ib1q7CzRgQ26mHG72JBUELFHWU6LV4goa1Uo8p, '
        'expected_genesis_hash is %s; nothing was sent' % (localnet.url, mainnet))


# --------------------------------------------------------------------------- the localnet role

def test_the_localnet_role_starts_the_endpoint_once_and_stops_it(tmp_path):
    port = free_port()
    state = tmp_path / 'state'
    book = tmp_path / 'localnet.yml'
    book.write_text(
        '- name: Local Solana endpoint\n'
        '  hosts: localhost\n'
        '  gather_facts: false\n'
        '  roles:\n'
        '    - role: x402.runbook.solana_localnet\n')
    common = {'solana_localnet_port': port, 'solana_localnet_dir': str(state),
              'solana_localnet_programs': [{'name': 'memo', 'dest': str(state / 'memo.so')}]}
    url = 'http://127.0.0.1:%d' % port
    try:
        first = playbook(book, tmp_path, *extra_vars(**common))
        assert first.returncode == 0, first.stdout[-4000:]
        assert rpc_call(url, 'getHealth') == 'ok'
        pid = int((state / ('litesvm-rpc-%d.pid' % port)).read_text())
        deployer = json.loads((state / 'deployer.json').read_text())
        assert len(deployer) == 64 and oct((state / 'deployer.json').stat().st_mode & 0o777) == '0o600'
        assert (state / 'memo.so').read_bytes()[:4] == b'\x7fELF'

        second = playbook(book, tmp_path, *extra_vars(**common))
        assert second.returncode == 0 and recap(second.stdout)['changed'] == 0, second.stdout[-4000:]
        assert int((state / ('litesvm-rpc-%d.pid' % port)).read_text()) == pid
    finally:
        stop = playbook(book, tmp_path, *extra_vars(solana_localnet_state='stopped', **common))
    assert stop.returncode == 0 and recap(stop.stdout)['changed'] == 1, stop.stdout[-3000:]
    assert not (state / ('litesvm-rpc-%d.pid' % port)).exists()
    with pytest.raises(OSError):
        rpc_call(url, 'getHealth', timeout=2)
