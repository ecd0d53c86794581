# -*- coding: utf-8 -*-
"""Unit tests of x402.runbook.solana_program and solana_program_info: documentation,
argument handling and error messages (observed value and limit named, never a
traceback). The modules run in-process; where a chain is needed it is the collection's
LiteSVM endpoint (roles/solana_localnet/files/litesvm_rpc.py) served from a thread of
this process. Deploys, upgrades and failures of real size are in
tests/integration/test_solana_program_localnet.py."""

from __future__ import annotations

import importlib.util
import io
import json
import socket
import threading
from contextlib import redirect_stdout
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.x402.runbook.plugins.module_utils import solana_loader as L
from ansible_collections.x402.runbook.plugins.module_utils.solana_rpc import SolanaRpc
from ansible_collections.x402.runbook.plugins.modules import solana_program, solana_program_info

solders = pytest.importorskip('solders')
from solders.keypair import Keypair  # noqa: E402

ROOT = Path(__file__).resolve().parents[4]
SERVER = ROOT / 'roles' / 'solana_localnet' / 'files' / 'litesvm_rpc.py'
SOL = 10 ** 9


def load_server():
    spec = importlib.util.spec_from_file_location('litesvm_rpc_unit', SERVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def server_module():
    return load_server()


@pytest.fixture(scope='module')
def chain(server_module):
    """The LiteSVM endpoint in a thread (LiteSVM is created in that thread and used only there)."""
    ready = threading.Event()
    holder = {}

    def serve():
        httpd = server_module.Server(('127.0.0.1', 0))
        holder['httpd'] = httpd
        ready.set()
        httpd.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    httpd = holder['httpd']
    url = 'http://127.0.0.1:%d' % httpd.server_address[1]
    yield SolanaRpc(url, retries=0)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope='module')
def memo(server_module, tmp_path_factory):
    path = tmp_path_factory.mktemp('elf') / 'memo.so'
    path.write_bytes(server_module.preloaded_elf('memo'))
    return path


@pytest.fixture
def closed_url():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return 'http://127.0.0.1:%d' % sock.getsockname()[1]


def keyfile(tmp_path, name, keypair=None):
    keypair = keypair or Keypair()
    path = tmp_path / ('%s.json' % name)
    path.write_text(json.dumps(list(bytes(keypair))))
    return str(path), keypair


def run(module, args, check_mode=False):
    module_warnings._global_warnings.clear()  # pylint: disable=protected-access
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    buffer = io.StringIO()
    with patch_module_args(args), redirect_stdout(buffer):
        with pytest.raises(SystemExit):
            module.main()
    raw = buffer.getvalue()
    assert 'Traceback' not in raw
    return json.loads(raw)


def deploy_args(url, program, payer, program_keypair=None, **extra):
    args = {'rpc_url': url, 'program_path': str(program), 'payer_keypair': payer, 'retries': 0, 'timeout': 10}
    if program_keypair:
        args['program_keypair'] = program_keypair
    args.update(extra)
    return args


# --------------------------------------------------------------------------- documentation

@pytest.mark.parametrize('module', [solana_program, solana_program_info])
def test_documentation_matches_the_argument_spec(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    spec = module.argument_spec()
    assert set(doc['options']) == set(spec)
    for name, option in spec.items():
        documented = doc['options'][name]
        assert documented['type'] == option['type'], name
        assert documented.get('required', False) == option.get('required', False), name
        assert documented.get('default') == option.get('default'), name
        assert documented.get('choices') == option.get('choices'), name
        assert not option.get('no_log'), name  # keypairs are paths; no option carries a secret itself
    assert doc['attributes']['check_mode']['support'] == 'full'
    assert yaml.safe_load(module.EXAMPLES)
    assert 'msg' in yaml.safe_load(module.RETURN)


def test_the_deploy_module_returns_what_the_issue_lists():
    returned = yaml.safe_load(solana_program.RETURN)
    for key in ('changed', 'action', 'program_id', 'programdata_address', 'deployed_slot', 'upgrade_authority',
                'onchain_sha256', 'local_sha256', 'program_size', 'payer_balance_lamports', 'transactions',
                'fees_lamports', 'estimate', 'checks'):
        assert key in returned, key
    assert set(returned['payer_balance_lamports']['contains']) == {'before', 'after'}
    doc = yaml.safe_load(solana_program.DOCUMENTATION)
    assert doc['options']['max_program_size']['default'] == 204800
    assert doc['options']['min_payer_balance_sol']['default'] == 10
    assert doc['attributes']['diff_mode']['support'] == 'full'


def test_the_defaults_are_the_thresholds_data_file():
    data = yaml.safe_load((ROOT / 'roles' / 'thresholds' / 'defaults' / 'main.yml').read_text())['x402_thresholds']
    spec = solana_program.argument_spec()
    assert data['deployment_day.build_phase.6']['value'] == spec['max_program_size']['default']
    assert data['deployment_day.build_phase.6']['op'] == '<'
    assert data['deployment_day.deploy_solana_program.2']['value'] == spec['min_payer_balance_sol']['default'] * SOL
    assert data['deployment_day.deploy_solana_program.2']['op'] == '>='


# --------------------------------------------------------------------------- arguments

@pytest.mark.parametrize('args, expected', [
    ({'program_path': 'x.so', 'payer_keypair': 'p.json', 'program_id': L.LOADER_V3}, 'missing required arguments: rpc_url'),
    ({'rpc_url': 'http://127.0.0.1:1', 'program_path': 'x.so', 'payer_keypair': 'p.json'},
     'one of the following is required: program_id, program_keypair'),
    ({'rpc_url': 'http://127.0.0.1:1', 'program_path': 'x.so', 'payer_keypair': 'p.json', 'program_id': L.LOADER_V3,
      'program_keypair': 'k.json'}, 'parameters are mutually exclusive: program_id|program_keypair'),
    ({'rpc_url': 'http://127.0.0.1:1', 'program_path': 'x.so', 'payer_keypair': 'p.json', 'program_id': L.LOADER_V3,
      'min_payer_balance_sol': 1, 'min_payer_balance_lamports': 1},
     'parameters are mutually exclusive: min_payer_balance_sol|min_payer_balance_lamports'),
    ({'rpc_url': 'http://127.0.0.1:1', 'program_path': 'x.so', 'payer_keypair': 'p.json', 'program_id': L.LOADER_V3,
      'commitment': 'max'}, 'value of commitment must be one of: processed, confirmed, finalized, got: max'),
    ({'rpc_url': 'http://127.0.0.1:1', 'program_path': 'x.so', 'payer_keypair': 'p.json', 'program_id': L.LOADER_V3,
      'max_program_size': 'big'}, 'max_program_size'),
])
def test_ansible_validates_the_options(args, expected):
    result = run(solana_program, args)
    assert result['failed'] is True and expected in result['msg']


def test_without_solders_the_module_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(L, 'HAS_SOLDERS', False)
    result = run(solana_program, deploy_args('http://127.0.0.1:1', tmp_path / 'x.so', 'p.json', program_id=L.LOADER_V3))
    assert result['failed'] is True and 'Failed to import the required Python library (solders)' in result['msg']


@pytest.mark.parametrize('extra, expected', [
    ({'max_program_size': 0}, 'max_program_size must be a positive number, got 0'),
    ({'timeout': -1}, 'timeout must be a positive number, got -1'),
    ({'retries': -1}, 'retries and retry_delay must not be negative'),
    ({'rpc_url': 'ftp://example.com'}, "rpc_url 'ftp://example.com' is not an http:// or https:// URL"),
])
def test_bad_numbers_and_urls_are_refused(tmp_path, memo, extra, expected):
    payer, _payer_keypair = keyfile(tmp_path, 'payer')
    result = run(solana_program, deploy_args(extra.pop('rpc_url', 'http://127.0.0.1:1'), memo, payer,
                                             program_id=L.LOADER_V3, **extra))
    assert result['failed'] is True and result['msg'].startswith(expected)


def test_a_bad_payer_keypair_file_is_named_without_its_content(tmp_path, memo):
    bad = tmp_path / 'payer.json'
    bad.write_text(json.dumps([7] * 63))
    result = run(solana_program, deploy_args('http://127.0.0.1:1', memo, str(bad), program_id=L.LOADER_V3))
    assert result['msg'] == ('payer_keypair file %s is not a Solana keypair file: expected a JSON array of 64 bytes, '
                             'got an array of 63 elements' % bad)
    assert '7, 7' not in json.dumps(result)


def test_local_checks_come_before_any_rpc(tmp_path, closed_url):
    payer, _payer_keypair = keyfile(tmp_path, 'payer')
    program, _program_keypair = keyfile(tmp_path, 'program')
    missing = tmp_path / 'missing.so'
    result = run(solana_program, deploy_args(closed_url, missing, payer, program))
    assert result['msg'] == 'program file %s cannot be read: No such file or directory' % missing
    big = tmp_path / 'big.so'
    big.write_bytes(b'\x7fELF' + bytes(204796))
    result = run(solana_program, deploy_args(closed_url, big, payer, program))
    assert result['msg'].startswith('program %s is 204800 bytes; it must be smaller than 204800 bytes '
                                    '(max_program_size, checklist deployment_day.build_phase.6)' % big)
    assert result['checks'][0]['status'] == 'fail' and result['checks'][0]['observed'] == 204800
    script = tmp_path / 'script.so'
    script.write_bytes(b'#!/bin/sh\n' * 20)
    result = run(solana_program, deploy_args(closed_url, script, payer, program))
    assert result['msg'] == '%s is not an SBF ELF: it starts with 23212f62, not the ELF magic 7f454c46' % script


def test_max_data_len_smaller_than_the_program_is_refused(tmp_path, memo, closed_url):
    payer, _payer_keypair = keyfile(tmp_path, 'payer')
    program, _program_keypair = keyfile(tmp_path, 'program')
    result = run(solana_program, deploy_args(closed_url, memo, payer, program, max_data_len=100))
    assert result['msg'] == 'max_data_len 100 is smaller than the program %s (2304 bytes)' % memo


def test_a_sub_lamport_minimum_is_refused(tmp_path, memo, chain):
    payer, keypair = keyfile(tmp_path, 'payer')
    chain.request_airdrop(keypair.pubkey(), 20 * SOL)
    program, _program_keypair = keyfile(tmp_path, 'program')
    result = run(solana_program, deploy_args(chain.url, memo, payer, program, min_payer_balance_sol=1.0000000001))
    assert result['msg'] == 'min_payer_balance_sol: 1.0000000001 SOL is not a whole number of lamports (1 lamport = 0.000000001 SOL)'


# --------------------------------------------------------------------------- against the chain

def test_an_unreachable_rpc_is_named_and_nothing_sent(tmp_path, memo, closed_url):
    payer, _payer_keypair = keyfile(tmp_path, 'payer')
    program, _program_keypair = keyfile(tmp_path, 'program')
    result = run(solana_program, deploy_args(closed_url, memo, payer, program))
    assert result['msg'] == ('Solana RPC %s (getGenesisHash) is unreachable: [Errno 111] Connection refused; '
                             'nothing was sent' % closed_url)
    assert result['transactions'] == 0 and result['changed'] is False


def test_an_endpoint_that_is_not_json_rpc_fails_clearly(tmp_path, memo):
    class Html(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = b'<html>login</html>'
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = HTTPServer(('127.0.0.1', 0), Html)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        payer, _payer_keypair = keyfile(tmp_path, 'payer')
        program, _program_keypair = keyfile(tmp_path, 'program')
        url = 'http://127.0.0.1:%d' % httpd.server_address[1]
        result = run(solana_program, deploy_args(url, memo, payer, program))
        assert result['msg'] == ("Solana RPC %s (getGenesisHash) answered something that is not JSON: "
                                 "'<html>login</html>'; nothing was sent" % url)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_check_mode_plans_without_sending(tmp_path, memo, chain):
    payer, keypair = keyfile(tmp_path, 'payer')
    chain.request_airdrop(keypair.pubkey(), 20 * SOL)
    program, program_keypair = keyfile(tmp_path, 'program')
    count = chain.call('getTransactionCount')
    result = run(solana_program, deploy_args(chain.url, memo, payer, program), check_mode=True)
    assert result['changed'] is True and result['action'] == 'deploy' and result['transactions'] == 0
    assert result['program_id'] == str(program_keypair.pubkey())
    assert result['estimate']['transactions'] == 5 and result['estimate']['fees_lamports'] == 7 * 5000
    assert result['estimate']['rent_lamports'] == (128 + 36) * 6960 + (128 + 45 + 2304) * 6960
    assert chain.call('getTransactionCount') == count


def test_deploy_then_nothing_then_the_diff(tmp_path, memo, chain):
    payer, keypair = keyfile(tmp_path, 'payer')
    chain.request_airdrop(keypair.pubkey(), 20 * SOL)
    program, program_keypair = keyfile(tmp_path, 'program')
    args = deploy_args(chain.url, memo, payer, program, _ansible_diff=True)
    result = run(solana_program, args)
    assert result['changed'] is True and result['action'] == 'deploy', result['msg']
    assert result['diff'] == {'before': {}, 'after': {
        'program_id': str(program_keypair.pubkey()), 'sha256': result['local_sha256'],
        'upgrade_authority': str(keypair.pubkey()), 'max_data_len': 2304}}
    again = run(solana_program, args)
    assert again['changed'] is False and again['action'] == 'none' and again['transactions'] == 0
    assert again['diff']['before'] == again['diff']['after']
    assert again['msg'] == 'program %s already holds this build (sha256 %s): nothing to do' % (
        program_keypair.pubkey(), result['local_sha256'])


def test_an_account_that_is_not_a_program_is_refused(tmp_path, memo, chain):
    payer, keypair = keyfile(tmp_path, 'payer')
    chain.request_airdrop(keypair.pubkey(), 20 * SOL)
    result = run(solana_program, deploy_args(chain.url, memo, payer, program_id=str(keypair.pubkey())))
    assert result['msg'].startswith('account %s on %s is owned by 11111111111111111111111111111111, not by the '
                                    'upgradeable BPF loader' % (keypair.pubkey(), chain.url))


def test_an_immutable_program_cannot_be_upgraded(tmp_path, memo, chain, server_module):
    payer, keypair = keyfile(tmp_path, 'payer')
    chain.request_airdrop(keypair.pubkey(), 20 * SOL)
    program, program_keypair = keyfile(tmp_path, 'program')
    assert run(solana_program, deploy_args(chain.url, memo, payer, program))['changed'] is True
    programdata = L.programdata_address(str(program_keypair.pubkey()))
    blockhash, _last_valid = chain.get_latest_blockhash()
    raw, signature = L.signed_transaction([L.set_authority_instruction(programdata, keypair.pubkey())], keypair, [],
                                          blockhash)
    chain.send_transaction(raw)
    other = tmp_path / 'other.so'
    other.write_bytes(memo.read_bytes() + b'\x01')
    count = chain.call('getTransactionCount')
    result = run(solana_program, deploy_args(chain.url, other, payer, program))
    assert result['msg'] == ('program %s on %s is immutable (no upgrade authority): it cannot be upgraded to %s'
                             % (program_keypair.pubkey(), chain.url, other))
    assert chain.call('getTransactionCount') == count
    info = run(solana_program_info, {'rpc_url': chain.url, 'program_id': str(program_keypair.pubkey()),
                                     'expected_authority': 'none', 'program_path': str(memo)})
    assert info['matches'] is True and info['upgradeable'] is False and info['upgrade_authority'] is None


def test_the_wrong_cluster_is_refused(tmp_path, memo, chain):
    payer, _payer_keypair = keyfile(tmp_path, 'payer')
    program, _program_keypair = keyfile(tmp_path, 'program')
    result = run(solana_program, deploy_args(chain.url, memo, payer, program,
                                             expected_genesis_hash='EtWTRABZaYq6iMfeYKouRuDCrXqjF27RxbyzWXZdZJQ'))
    assert 'is not the cluster asked for' in result['msg'] and result['genesis_hash'] == (
        '2dZMy1ib1q7CzRgQ26mHG72JBUELFHWU6LV4goa1Uo8p')


# --------------------------------------------------------------------------- the info module

@pytest.mark.parametrize('args, expected', [
    ({'program_id': 'not-a-key'}, "program_id 'not-a-key' is not a Solana address"),
    ({'program_id': L.LOADER_V3, 'expected_sha256': 'abc'}, "expected_sha256 'abc' is not a sha256 hex digest"),
    ({'program_id': L.LOADER_V3, 'expected_authority': 'nobody'}, "expected_authority 'nobody' is not a Solana address"),
    ({'program_id': L.LOADER_V3, 'program_path': '/nonexistent.so'}, 'program file /nonexistent.so cannot be read'),
    ({'program_id': L.LOADER_V3, 'rpc_url': 'file:///etc/passwd'}, "rpc_url 'file:///etc/passwd' is not an http"),
])
def test_the_info_module_refuses_bad_arguments(args, expected):
    args = dict({'rpc_url': 'http://127.0.0.1:1', 'retries': 0}, **args)
    result = run(solana_program_info, args)
    assert result['failed'] is True and result['msg'].startswith(expected)


def test_the_info_module_shows_a_builtin_program_and_reports_mismatches(chain):
    token = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA'
    info = run(solana_program_info, {'rpc_url': chain.url, 'program_id': token})
    assert info['matches'] is True and info['changed'] is False and info['executable'] is True
    assert info['owner'] == L.LOADER_V3 and info['data_length'] == 100312 and info['upgrade_authority'] is None
    info = run(solana_program_info, {'rpc_url': chain.url, 'program_id': token, 'expected_sha256': '0' * 64,
                                     'fail_on_mismatch': False})
    assert info['matches'] is False and info.get('failed') is not True
    assert info['mismatches'] == ['the program on chain has sha256 %s, expected_sha256 is %s'
                                  % (info['onchain_sha256'], '0' * 64)]
