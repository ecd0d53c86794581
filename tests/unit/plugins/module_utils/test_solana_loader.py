# -*- coding: utf-8 -*-
"""Unit tests of module_utils/solana_loader.py (loader-v3 encodings, layouts, hashes,
keypair files, ELF checks, costs) and of module_utils/solana_rpc.py (the JSON-RPC
client's retries, errors and redaction; the transaction sender's confirmation logic).
The encodings are checked against what LiteSVM's real loader accepts in
tests/integration/test_solana_program_localnet.py; here they are pinned byte by byte."""

from __future__ import annotations

import hashlib
import io
import json
import struct
from urllib.error import HTTPError, URLError

import pytest

from ansible_collections.x402.runbook.plugins.module_utils import solana_loader as L
from ansible_collections.x402.runbook.plugins.module_utils import solana_rpc as R

solders = pytest.importorskip('solders')
from solders.keypair import Keypair  # noqa: E402
from solders.litesvm import LiteSVM  # noqa: E402
from solders.pubkey import Pubkey  # noqa: E402

AUTHORITY = '9C5FN9H5aT8Q77TnG8EbqW6YKUpytUHFTCuhFDqvyAvp'


def rent(size):
    """Mainnet's rent (and LiteSVM's): (128 + size) x 6960 lamports."""
    return (128 + size) * 6960


# --------------------------------------------------------------------------- base58, addresses

@pytest.mark.parametrize('raw', [bytes(32), b'\0\0\x01' + bytes(29), bytes(range(32)), b'\xff' * 32, b'', b'\0'])
def test_base58_round_trips_and_agrees_with_solders(raw):
    text = L.b58encode(raw)
    assert L.b58decode(text) == raw
    if len(raw) == 32:
        assert text == str(Pubkey.from_bytes(raw))


def test_check_pubkey_names_the_value_and_the_problem():
    assert L.check_pubkey(' %s ' % L.LOADER_V3) == L.LOADER_V3
    with pytest.raises(L.LoaderError, match=r"program_id '0OIl' is not a Solana address: .*character '0'"):
        L.check_pubkey('0OIl', 'program_id')
    with pytest.raises(L.LoaderError, match='decodes to 3 bytes, not 32'):
        L.check_pubkey('abc')


def test_programdata_address_is_the_loaders_pda():
    svm = LiteSVM()
    token = svm.get_account(Pubkey.from_string('TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA'))
    state = L.parse_state(bytes(token.data))
    assert L.programdata_address('TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA') == state['programdata_address']


# --------------------------------------------------------------------------- layouts

def test_parse_state_reads_every_layout():
    assert L.parse_state(struct.pack('<I', 0)) == {'state': 'uninitialized'}
    buffer = L.encode_buffer_state(AUTHORITY) + b'ELF'
    assert L.parse_state(buffer) == {'state': 'buffer', 'authority': AUTHORITY, 'program_length': 3}
    assert L.parse_state(L.encode_buffer_state(None))['authority'] is None
    assert len(L.encode_buffer_state(AUTHORITY)) == L.BUFFER_METADATA_SIZE == 37
    program = struct.pack('<I', 2) + L.b58decode(AUTHORITY)
    assert L.parse_state(program) == {'state': 'program', 'programdata_address': AUTHORITY}
    programdata = L.encode_programdata_state(435888000, AUTHORITY) + b'\x7fELF' + bytes(10)
    assert len(L.encode_programdata_state(1, None)) == L.PROGRAMDATA_METADATA_SIZE == 45
    assert L.parse_state(programdata) == {'state': 'programdata', 'slot': 435888000, 'upgrade_authority': AUTHORITY,
                                          'program_length': 14}
    assert L.parse_state(L.encode_programdata_state(7, None))['upgrade_authority'] is None


@pytest.mark.parametrize('data, message', [
    (b'\x01', 'account: 1 bytes of data is too short'),
    (struct.pack('<I', 9), 'state tag 9 is not a loader-v3 account state'),
    (struct.pack('<IB', 1, 0), 'buffer of 5 bytes is shorter than its 37-byte header'),
    (struct.pack('<I', 2) + bytes(10), 'program account of 14 bytes is shorter than 36'),
    (struct.pack('<IQ', 3, 1), 'programdata of 12 bytes is shorter than its 45-byte header'),
    (struct.pack('<IB', 1, 7) + bytes(32), 'Option<Pubkey> flag is 7'),
])
def test_parse_state_refuses_what_it_cannot_read(data, message):
    with pytest.raises(L.LoaderError, match=message.replace('(', r'\(').replace(')', r'\)')):
        L.parse_state(data)


# --------------------------------------------------------------------------- instruction data

def test_instruction_encodings_are_the_loaders():
    assert L.ix_initialize_buffer() == b'\x00\x00\x00\x00'
    assert L.ix_write(1012, b'abc') == struct.pack('<IIQ', 1, 1012, 3) + b'abc'
    assert L.ix_deploy_with_max_data_len(204799) == struct.pack('<IQ', 2, 204799)
    assert L.ix_upgrade() == b'\x03\x00\x00\x00'
    assert L.ix_set_authority() == b'\x04\x00\x00\x00'
    assert L.ix_close() == b'\x05\x00\x00\x00'
    assert L.ix_extend_program(10240) == struct.pack('<II', 6, 10240)


@pytest.mark.parametrize('signers, size', [(1, 1012), (2, 916)])
def test_a_write_chunk_fills_a_transaction_exactly(signers, size):
    assert L.write_chunk_size(signers) == size
    payer, authority, buffer = Keypair(), Keypair(), Keypair()
    signer = payer if signers == 1 else authority
    blockhash = str(Pubkey.new_unique())
    extra = [] if signers == 1 else [authority]
    write = L.write_instruction(buffer.pubkey(), signer.pubkey(), 0, bytes(size))
    raw, _signature = L.signed_transaction([write], payer, extra, blockhash)
    assert len(raw) == L.PACKET_DATA_SIZE
    with pytest.raises(L.LoaderError, match='transaction of 1233 bytes exceeds the 1232-byte limit'):
        L.signed_transaction([L.write_instruction(buffer.pubkey(), signer.pubkey(), 0, bytes(size + 1))],
                             payer, extra, blockhash)


def test_signed_transaction_signs_with_exactly_the_required_signers():
    payer, buffer, stranger = Keypair(), Keypair(), Keypair()
    blockhash = str(Pubkey.new_unique())
    instructions = L.initialize_buffer_instructions(payer.pubkey(), buffer.pubkey(), payer.pubkey(), 1, 10)
    raw, signature = L.signed_transaction(instructions, payer, [buffer, stranger, buffer], blockhash)
    tx = solders.transaction.Transaction.from_bytes(raw)
    assert [str(s) for s in tx.signatures][0] == signature and len(tx.signatures) == 2
    assert all(tx.verify_with_results())
    with pytest.raises(L.LoaderError, match='needs the signature of %s' % buffer.pubkey()):
        L.signed_transaction(instructions, payer, [], blockhash)


def test_deploy_and_upgrade_account_lists_follow_the_loader():
    payer, program, authority, buffer = (Keypair().pubkey() for _index in range(4))
    create, deploy = L.deploy_instructions(payer, program, authority, buffer, 1141440, 2304)
    assert str(create.program_id) == L.SYSTEM_PROGRAM
    assert create.data == struct.pack('<IQQ', 0, 1141440, 36) + L.b58decode(L.LOADER_V3)
    keys = [(str(m.pubkey), m.is_signer, m.is_writable) for m in deploy.accounts]
    assert keys == [(str(payer), True, True), (L.programdata_address(str(program)), False, True),
                    (str(program), False, True), (str(buffer), False, True), (L.SYSVAR_RENT, False, False),
                    (L.SYSVAR_CLOCK, False, False), (L.SYSTEM_PROGRAM, False, False), (str(authority), True, False)]
    upgrade = L.upgrade_instruction(program, buffer, authority, payer)
    assert [(m.is_signer, m.is_writable) for m in upgrade.accounts] == [
        (False, True), (False, True), (False, True), (False, True), (False, False), (False, False), (True, False)]
    close = L.close_buffer_instruction(buffer, payer, authority)
    assert [str(m.pubkey) for m in close.accounts] == [str(buffer), str(payer), str(authority)]


# --------------------------------------------------------------------------- hashes

def test_the_hash_is_solana_verifys_trailing_zeros_stripped():
    elf = b'\x7fELF' + b'\x01' * 100 + bytes(60)
    expected = hashlib.sha256(b'\x7fELF' + b'\x01' * 100).hexdigest()
    assert L.binary_hash(elf) == expected
    assert L.binary_hash(elf + bytes(5000)) == expected
    assert L.programdata_hash(L.encode_programdata_state(1, AUTHORITY) + elf + bytes(10)) == expected
    assert L.binary_hash(b'') == hashlib.sha256(b'').hexdigest()


# --------------------------------------------------------------------------- files

def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def test_a_keypair_file_is_read_and_its_halves_checked(tmp_path):
    keypair = Keypair()
    path = write(tmp_path, 'ok.json', json.dumps(list(bytes(keypair))))
    assert L.load_keypair_file(path) == bytes(keypair)
    assert L.keypair_from_file(path).pubkey() == keypair.pubkey()
    mismatched = list(bytes(keypair)[:32]) + list(bytes(Keypair().pubkey()))
    path = write(tmp_path, 'mismatch.json', json.dumps(mismatched))
    with pytest.raises(L.LoaderError, match='its last 32 bytes are not the public key of its first 32'):
        L.keypair_from_file(path, 'payer_keypair')


@pytest.mark.parametrize('content, message', [
    (None, 'cannot be read: No such file or directory'),
    ('not json', 'is not a Solana keypair file: expected a JSON array of 64 bytes'),
    ('[1, 2, 3]', 'got an array of 3 elements'),
    ('{"secret": 1}', 'got a JSON dict'),
    (json.dumps([256] * 64), 'every element must be an integer 0-255'),
    (json.dumps([True] * 64), 'every element must be an integer 0-255'),
])
def test_a_bad_keypair_file_is_named_and_its_bytes_never_shown(tmp_path, content, message):
    path = str(tmp_path / 'missing.json') if content is None else write(tmp_path, 'bad.json', content)
    with pytest.raises(L.LoaderError) as raised:
        L.load_keypair_file(path, 'payer_keypair')
    assert message in str(raised.value) and str(raised.value).startswith('payer_keypair file %s' % path)
    assert '256' not in str(raised.value)


def elf_header(machine=247, ehsize=64, phoff=64, phnum=1, shoff=200, shnum=2, size=400):
    header = bytearray(size)
    header[:6] = b'\x7fELF\x02\x01'
    struct.pack_into('<HHIQQQIHHHHHH', header, 16, 3, machine, 1, 0, phoff, shoff, 0, ehsize, 56, phnum, 64, shnum, 1)
    return bytes(header)


@pytest.mark.parametrize('data, message', [
    (b'\x7fELF', 'is not an SBF ELF: 4 bytes is shorter than an ELF header'),
    (b'MZ' + bytes(100), 'it starts with 4d5a0000, not the ELF magic 7f454c46'),
    (b'\x7fELF\x01\x01' + bytes(100), 'ELF class 1, an SBF program is 64-bit'),
    (b'\x7fELF\x02\x02' + bytes(100), 'ELF data encoding 2, an SBF program is little-endian'),
    (elf_header(machine=62), 'machine 62, expected BPF (247) or SBF (263)'),
    (elf_header(ehsize=52), 'header size 52, expected 64'),
    (elf_header(shoff=380), 'its 2 section headers end at byte 508, past the end of the 400-byte file'),
    (elf_header(phoff=390), 'its 1 program headers end at byte 446'),
])
def test_check_elf_refuses_what_is_surely_not_a_program(data, message):
    with pytest.raises(L.LoaderError, match=message.replace('(', r'\(').replace(')', r'\)')):
        L.check_elf(data, 'x.so')


def test_check_elf_accepts_real_sbf_programs():
    svm = LiteSVM()
    memo = bytes(svm.get_account(Pubkey.from_string('MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr')).data)
    assert L.check_elf(memo)['machine'] in (L.EM_BPF, L.EM_SBPF)
    assert L.check_elf(elf_header(machine=263))['machine'] == 263


# --------------------------------------------------------------------------- amounts and costs

@pytest.mark.parametrize('value, lamports', [
    (10, 10 * 10 ** 9), (9.999999999, 9999999999), ('10.000000001', 10000000001), (0, 0), (0.5, 500000000),
])
def test_sol_to_lamports_is_exact(value, lamports):
    assert L.sol_to_lamports(value) == lamports


@pytest.mark.parametrize('value, message', [
    (-1, 'non-negative'), ('x', 'is not an amount of SOL'), (True, 'is not an amount of SOL'),
    (0.0000000001, 'not a whole number of lamports'), (float('inf'), 'non-negative'),
])
def test_sol_to_lamports_refuses_what_is_no_amount(value, message):
    with pytest.raises(L.LoaderError, match=message):
        L.sol_to_lamports(value)


def test_sol_prints_amounts_exactly():
    assert L.sol(9999999999) == '9.999999999 SOL'
    assert L.sol(10 * 10 ** 9) == '10 SOL'
    assert L.sol(701037040) == '0.70103704 SOL'
    assert L.sol(-5000) == '-0.000005 SOL'


def test_the_cost_of_a_100_kib_deploy_is_what_litesvm_charged():
    # measured against LiteSVM: SPL Token (100,312 bytes) costs 0.70103704 SOL in 102 transactions
    estimate = L.estimate_cost('deploy', 100312, 100312, rent, 5000, False, rent(0), 1012)
    assert estimate['transactions'] == 102 and estimate['signatures'] == 104
    assert estimate['cost_lamports'] == 701037040
    assert estimate['rent_lamports'] == rent(36) + rent(45 + 100312)
    assert estimate['buffer_rent_lamports'] == rent(37 + 100312)
    assert estimate['required_lamports'] == 701037040 + 890880


def test_the_cost_of_a_200_kib_deploy_at_twice_the_length():
    estimate = L.estimate_cost('deploy', 202280, 404560, rent, 5000, True, rent(0), 916)
    assert estimate['transactions'] == 1 + 221 + 1
    assert estimate['signatures'] == 2 + 221 * 2 + 3
    assert estimate['rent_lamports'] == rent(36) + rent(45 + 404560)


def test_the_cost_of_an_upgrade_and_of_a_reused_buffer():
    estimate = L.estimate_cost('upgrade', 170144, 170144, rent, 5000, False, rent(0), 1012, current_max_data_len=2304)
    assert estimate['extend_bytes'] == 170144 - 2304 and estimate['transactions'] == 1 + 169 + 1 + 1
    assert estimate['rent_lamports'] == rent(45 + 170144) - rent(45 + 2304)
    assert estimate['cost_lamports'] == estimate['rent_lamports'] + estimate['fees_lamports']
    assert estimate['required_lamports'] == rent(37 + 170144) + estimate['cost_lamports'] + rent(0)
    same = L.estimate_cost('upgrade', 1000, 2000, rent, 5000, False, rent(0), 1012, current_max_data_len=2000)
    assert same['extend_bytes'] == 0 and same['rent_lamports'] == 0 and same['transactions'] == 3
    reused = L.estimate_cost('deploy', 100312, 100312, rent, 5000, False, rent(0), 1012, buffer_exists=True, chunks=70)
    assert reused['transactions'] == 71 and reused['signatures'] == 72
    assert L.estimate_cost('none', 1, 1, rent, 5000, False, 0, 1)['transactions'] == 0


def test_plan_extension_follows_the_loaders_minimum():
    assert L.plan_extension(2000, 1500) == 0
    assert L.plan_extension(2000, 2001) == 10240  # at least 10 KiB more
    assert L.plan_extension(2304, 170144) == 170144 - 2304
    assert L.plan_extension(2304, 170144, 300000) == 300000 - 2304
    current = L.MAX_PERMITTED_DATA_LENGTH - 45 - 5000
    assert L.plan_extension(current, current + 1) == 5000  # less than 10 KiB is left: up to the limit
    with pytest.raises(L.LoaderError, match='cannot fit: the data area of %d bytes can grow by at most 5000' % current):
        L.plan_extension(current, current + 5001)


def test_the_buffer_keypair_is_derived_from_the_authority_and_the_program():
    authority, other = Keypair(), Keypair()
    program = str(Keypair().pubkey())
    first = L.derive_buffer_keypair(authority, program)
    assert first.pubkey() == L.derive_buffer_keypair(authority, program).pubkey()
    assert first.pubkey() != L.derive_buffer_keypair(other, program).pubkey()
    assert first.pubkey() != L.derive_buffer_keypair(authority, str(Keypair().pubkey())).pubkey()


# --------------------------------------------------------------------------- the RPC client

class FakeResponse(io.BytesIO):
    pass


class FakeOpener:
    """Answers from a script: each item a dict (JSON answer), an exception, or bytes."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, url, data=None, **kwargs):
        self.calls.append(json.loads(data.decode()))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, bytes):
            return FakeResponse(answer)
        return FakeResponse(json.dumps(answer).encode())


def client(*answers, **kwargs):
    sleeps = []
    opener = FakeOpener(*answers)
    rpc = R.SolanaRpc(kwargs.pop('url', 'http://127.0.0.1:8899'), sleep=sleeps.append, opener=opener,
                      retries=kwargs.pop('retries', 3), **kwargs)
    return rpc, opener, sleeps


def http_error(code, body=b'', headers=None):
    return HTTPError('http://127.0.0.1:8899', code, 'status', headers or {}, io.BytesIO(body))


def test_a_call_returns_the_result():
    rpc, opener, sleeps = client({'jsonrpc': '2.0', 'id': 1, 'result': {'context': {'slot': 5}, 'value': 42}})
    assert rpc.get_balance('11111111111111111111111111111111') == 42
    assert opener.calls[0]['method'] == 'getBalance' and opener.calls[0]['params'][1] == {'commitment': 'confirmed'}
    assert sleeps == []


def test_network_errors_are_retried_with_exponential_backoff():
    rpc, opener, sleeps = client(URLError(ConnectionRefusedError(111, 'Connection refused')),
                                 http_error(503), http_error(429, headers={'Retry-After': '3'}),
                                 {'jsonrpc': '2.0', 'id': 1, 'result': 7})
    assert rpc.call('getSlot') == 7
    assert sleeps == [0.5, 1.0, 3.0]  # backoff 0.5, 1, then the server's Retry-After (3 s > 2 s)
    assert len(opener.calls) == 4


def test_retries_are_bounded_and_the_message_says_how_many():
    rpc, opener, sleeps = client(*[URLError(ConnectionRefusedError(111, 'Connection refused'))] * 3, retries=2)
    with pytest.raises(R.RpcError) as raised:
        rpc.call('getHealth')
    assert raised.value.kind == 'connection' and raised.value.attempts == 3
    assert str(raised.value).startswith('Solana RPC http://127.0.0.1:8899 (getHealth) is unreachable: '
                                        '[Errno 111] Connection refused (after 3 attempts over ')
    assert sleeps == [0.5, 1.0]


def test_a_json_rpc_error_is_not_retried_and_keeps_the_nodes_data():
    rpc, opener, sleeps = client({'jsonrpc': '2.0', 'id': 1, 'error': {
        'code': -32002, 'message': 'Transaction simulation failed: Error processing Instruction 1: invalid account data',
        'data': {'err': {'InstructionError': [1, 'InvalidAccountData']}, 'logs': ['ELF error: bad']}}})
    with pytest.raises(R.RpcError) as raised:
        rpc.send_transaction(b'tx')
    error = raised.value
    assert error.kind == 'rpc' and error.code == -32002 and error.logs == ['ELF error: bad'] and sleeps == []
    assert error.node_message == ('error -32002: Transaction simulation failed: Error processing Instruction 1: '
                                  'invalid account data')
    assert opener.calls[0]['params'][1]['encoding'] == 'base64'


def test_a_node_that_is_behind_is_retried():
    rpc, _opener, sleeps = client({'jsonrpc': '2.0', 'id': 1, 'error': {'code': -32005, 'message': 'Node is behind'}},
                                  {'jsonrpc': '2.0', 'id': 1, 'result': 'ok'})
    assert rpc.call('getHealth') == 'ok'
    assert sleeps == [0.5]


@pytest.mark.parametrize('answer, message', [
    (b'<html>gateway</html>', "answered something that is not JSON: '<html>gateway</html>'"),
    ({'hello': 1}, 'answered JSON that is not a JSON-RPC response'),
    (http_error(404, b'not here'), 'answered HTTP 404: not here'),
])
def test_answers_that_are_not_json_rpc_fail_clearly(answer, message):
    rpc, _opener, sleeps = client(answer)
    with pytest.raises(R.RpcError, match=message):
        rpc.call('getSlot')
    assert sleeps == []


def test_a_certificate_error_is_not_retried():
    import ssl
    rpc, _opener, sleeps = client(URLError(ssl.SSLCertVerificationError('CERTIFICATE_VERIFY_FAILED')))
    with pytest.raises(R.RpcError, match='CERTIFICATE_VERIFY_FAILED'):
        rpc.call('getSlot')
    assert sleeps == []


@pytest.mark.parametrize('url, shown', [
    ('https://api.mainnet-beta.solana.com', 'https://api.mainnet-beta.solana.com'),
    ('https://mainnet.helius-rpc.com/?api-key=abcdef123', 'https://mainnet.helius-rpc.com/?api-key=%2A%2A%2A'),
    ('https://user:pw@rpc.example.com:8443/x', 'https://***@rpc.example.com:8443/x'),
    ('https://x.solana-mainnet.quiknode.pro/0123456789abcdef0123456789/', 'https://x.solana-mainnet.quiknode.pro/***/'),
])
def test_api_keys_in_the_url_are_redacted(url, shown):
    assert R.redact_url(url) == shown
    rpc, _opener, _sleeps = client(URLError(OSError('down')), url=url, retries=0)
    with pytest.raises(R.RpcError) as raised:
        rpc.call('getSlot')
    assert 'abcdef123' not in str(raised.value) and 'pw@' not in str(raised.value)


def test_an_rpc_url_must_be_http():
    with pytest.raises(R.RpcError, match="rpc_url 'ftp://x' is not an http:// or https:// URL"):
        R.SolanaRpc('ftp://x')


# --------------------------------------------------------------------------- the transaction sender

class FakeChain:
    """getLatestBlockhash / sendTransaction / getSignatureStatuses / getBlockHeight, scripted."""

    def __init__(self, drop=(), fail=None, height_step=0):
        self.shown_url = 'http://127.0.0.1:8899'
        self.height = 100
        self.height_step = height_step
        self.drop = set(drop)       # labels whose first send is dropped (never lands)
        self.fail = fail            # label refused in preflight
        self.sent = []
        self.landed = {}

    def get_latest_blockhash(self, commitment):
        return 'H%d' % self.height, self.height + 150

    def get_block_height(self, commitment):
        self.height += self.height_step
        return self.height

    def send_transaction(self, raw, preflight_commitment=None):
        label, blockhash = raw.decode().split('@')
        self.sent.append((label, blockhash))
        if label == self.fail:
            raise R.RpcError('x', 'rpc', code=-32002, data={'err': 'X', 'logs': ['Program log: nope']})
        if label in self.drop:
            self.drop.discard(label)
            return
        self.landed['%s@%s' % (label, blockhash)] = {'slot': 7, 'err': None, 'confirmationStatus': 'finalized'}

    def get_signature_statuses(self, signatures):
        return [self.landed.get(s) for s in signatures]


def item(label):
    return (label, lambda blockhash: (('%s@%s' % (label, blockhash)).encode(), '%s@%s' % (label, blockhash)), 1)


def test_every_transaction_is_confirmed_and_counted():
    chain = FakeChain()
    sender = R.TransactionSender(chain, window=2, sleep=lambda s: None)
    results = sender.send_all([item('a'), item('b'), item('c')])
    assert [r['signature'] for r in results] == ['a@H100', 'b@H100', 'c@H100']
    assert len(sender.landed) == 3 and sender.signatures_landed == 3


def test_a_dropped_transaction_is_sent_again_after_its_blockhash_expired():
    chain = FakeChain(drop={'b'}, height_step=100)
    sender = R.TransactionSender(chain, sleep=lambda s: None)
    results = sender.send_all([item('a'), item('b')])
    assert results[1]['signature'] == 'b@H300' and sender.resent == 1
    assert ('b', 'H100') in chain.sent and ('b', 'H300') in chain.sent


def test_a_refused_transaction_stops_with_the_program_logs():
    chain = FakeChain(fail='b')
    sender = R.TransactionSender(chain, sleep=lambda s: None)
    with pytest.raises(R.TransactionFailed) as raised:
        sender.send_all([item('a'), item('b'), item('c')])
    assert raised.value.label == 'b' and 'program logs: Program log: nope' in str(raised.value)
    assert [entry[0] for entry in sender.landed] == ['a']  # what landed before is counted (its fee is spent)


def test_a_transaction_that_never_confirms_times_out():
    chain = FakeChain(drop={'a'})
    clock = iter(range(0, 1000, 10))
    sender = R.TransactionSender(chain, timeout=30, sleep=lambda s: None, clock=lambda: next(clock))
    with pytest.raises(R.TransactionFailed, match=r'1 transaction\(s\) not confirmed within 30s; first: a'):
        sender.send_all([item('a')])
