# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The upgradeable BPF loader (loader-v3) of Solana, as plain data.

What ``solana program deploy`` and ``solana program show`` know, without the
Solana CLI: the loader's instruction encodings, its account layouts, the
``solana-verify`` hash of a program, the Solana CLI keypair file, the local
sanity check of an SBF ELF and the cost of a deploy or an upgrade.

Everything that only parses or computes is pure standard-library Python (so it
imports anywhere, and the unit tests need nothing else). Building and signing
transactions needs ``solders``; those helpers live at the end and raise
:class:`LoaderError` when it is missing (``HAS_SOLDERS`` tells the modules, which
then call ``missing_required_lib``).

Layouts (bincode of ``UpgradeableLoaderState``, little-endian):
  Buffer       u32 1, Option<Pubkey> authority                  37 bytes, then the ELF
  Program      u32 2, Pubkey programdata address                36 bytes
  ProgramData  u32 3, u64 slot, Option<Pubkey> upgrade authority 45 bytes, then the ELF
               padded with zeros to the account's max data length
Instructions (u32 tag, then the fields):
  InitializeBuffer 0 | Write 1, u32 offset, u64 len, bytes | DeployWithMaxDataLen 2, u64 |
  Upgrade 3 | SetAuthority 4 | Close 5 | ExtendProgram 6, u32 additional bytes
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import math
import os
import struct

try:
    from solders.hash import Hash
    from solders.instruction import AccountMeta, Instruction
    from solders.keypair import Keypair
    from solders.message import Message
    from solders.pubkey import Pubkey
    from solders.transaction import Transaction
    HAS_SOLDERS = True
    SOLDERS_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - depends on the environment
    HAS_SOLDERS = False
    SOLDERS_IMPORT_ERROR = _exc
    Hash = AccountMeta = Instruction = Keypair = Message = Pubkey = Transaction = None

# --------------------------------------------------------------------------- constants

LOADER_V3 = 'BPFLoaderUpgradeab1e11111111111111111111111'
LOADER_V2 = 'BPFLoader2111111111111111111111111111111111'
LOADER_V1 = 'BPFLoader1111111111111111111111111111111111'
SYSTEM_PROGRAM = '11111111111111111111111111111111'
SYSVAR_RENT = 'SysvarRent111111111111111111111111111111111'
SYSVAR_CLOCK = 'SysvarC1ock11111111111111111111111111111111'

BUFFER_METADATA_SIZE = 37
PROGRAM_ACCOUNT_SIZE = 36
PROGRAMDATA_METADATA_SIZE = 45
PACKET_DATA_SIZE = 1232             # the largest serialized transaction
MAX_PERMITTED_DATA_LENGTH = 10 * 1024 * 1024
MIN_EXTEND_BYTES = 10240            # ExtendProgram refuses less, unless it reaches the maximum
LAMPORTS_PER_SOL = 1000000000
WRITE_HEADER_SIZE = 16              # u32 tag, u32 offset, u64 length

TAG_UNINITIALIZED, TAG_BUFFER, TAG_PROGRAM, TAG_PROGRAMDATA = 0, 1, 2, 3
STATE_NAMES = {0: 'uninitialized', 1: 'buffer', 2: 'program', 3: 'programdata'}

IX_INITIALIZE_BUFFER, IX_WRITE, IX_DEPLOY, IX_UPGRADE = 0, 1, 2, 3
IX_SET_AUTHORITY, IX_CLOSE, IX_EXTEND = 4, 5, 6

ELF_MAGIC = b'\x7fELF'
EM_BPF, EM_SBPF = 247, 263
BUFFER_SEED_DOMAIN = b'x402.runbook/solana_program/buffer/v1'


class LoaderError(ValueError):
    """Bad input (a keypair file, an ELF, an account's data) or a missing library.
    The message names the file, account or value and what is wrong with it."""


# --------------------------------------------------------------------------- base58

_B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
_B58_INDEX = dict((c, i) for i, c in enumerate(_B58))


def b58encode(data):
    data = bytes(data)
    number = int.from_bytes(data, 'big')
    text = ''
    while number:
        number, rest = divmod(number, 58)
        text = _B58[rest] + text
    pad = len(data) - len(data.lstrip(b'\0'))
    return '1' * pad + text


def b58decode(text):
    if not isinstance(text, str):
        raise LoaderError('%r is not a base58 string' % (text,))
    number = 0
    for char in text:
        if char not in _B58_INDEX:
            raise LoaderError('%r is not base58: character %r is not allowed' % (text, char))
        number = number * 58 + _B58_INDEX[char]
    pad = len(text) - len(text.lstrip('1'))
    body = number.to_bytes((number.bit_length() + 7) // 8, 'big') if number else b''
    return b'\0' * pad + body


def check_pubkey(text, what='public key'):
    """A base58 public key (32 bytes) -> the same string; LoaderError naming `what` otherwise."""
    try:
        raw = b58decode(str(text).strip())
    except LoaderError as exc:
        raise LoaderError('%s %r is not a Solana address: %s' % (what, text, exc))
    if len(raw) != 32:
        raise LoaderError('%s %r is not a Solana address: it decodes to %d bytes, not 32'
                          % (what, text, len(raw)))
    return str(text).strip()


# --------------------------------------------------------------------------- numbers

def sol(lamports):
    """Lamports -> '1.41 SOL' text (exact, no float noise, trailing zeros dropped)."""
    lamports = int(lamports)
    sign = '-' if lamports < 0 else ''
    whole, frac = divmod(abs(lamports), LAMPORTS_PER_SOL)
    text = '%s%d' % (sign, whole)
    if frac:
        text += ('.%09d' % frac).rstrip('0')
    return text + ' SOL'


def sol_to_lamports(value):
    """SOL (number or numeric string, e.g. 9.999999999) -> lamports, exactly (no float rounding
    of the 9th decimal). Raises LoaderError for a negative, non-finite or sub-lamport value."""
    import decimal
    if isinstance(value, bool):
        raise LoaderError('%r is not an amount of SOL' % (value,))
    try:
        amount = decimal.Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except (decimal.InvalidOperation, ValueError):
        raise LoaderError('%r is not an amount of SOL' % (value,))
    if not amount.is_finite() or amount < 0:
        raise LoaderError('%r is not a non-negative amount of SOL' % (value,))
    lamports = amount * LAMPORTS_PER_SOL
    if lamports != lamports.to_integral_value():
        raise LoaderError('%s SOL is not a whole number of lamports (1 lamport = 0.000000001 SOL)' % (value,))
    return int(lamports)


# --------------------------------------------------------------------------- hashes

def strip_trailing_zeros(data):
    return bytes(data).rstrip(b'\0')


def binary_hash(data):
    """sha256 of a program as ``solana-verify`` computes it: trailing zero bytes stripped
    (an SBF ELF ends in zeros, and programdata pads the ELF with zeros)."""
    return hashlib.sha256(strip_trailing_zeros(data)).hexdigest()


def programdata_hash(account_data):
    """The ``solana-verify`` hash of a programdata account's data (header skipped)."""
    return binary_hash(bytes(account_data)[PROGRAMDATA_METADATA_SIZE:])


# --------------------------------------------------------------------------- accounts

def _option_pubkey(data, offset, what):
    flag = data[offset]
    if flag == 0:
        return None
    if flag != 1:
        raise LoaderError('%s: Option<Pubkey> flag is %d, not 0 or 1' % (what, flag))
    return b58encode(data[offset + 1:offset + 33])


def parse_state(data, what='account'):
    """The data of an account owned by the upgradeable loader -> dict with `state`
    (uninitialized, buffer, program, programdata) and its fields:
    buffer: authority; program: programdata_address; programdata: slot, upgrade_authority,
    program_length (bytes after the header). LoaderError on data it cannot read."""
    data = bytes(data)
    if len(data) < 4:
        raise LoaderError('%s: %d bytes of data is too short for a loader-v3 account' % (what, len(data)))
    tag = struct.unpack_from('<I', data, 0)[0]
    if tag == TAG_UNINITIALIZED:
        return {'state': 'uninitialized'}
    if tag == TAG_BUFFER:
        if len(data) < BUFFER_METADATA_SIZE:
            raise LoaderError('%s: buffer of %d bytes is shorter than its %d-byte header'
                              % (what, len(data), BUFFER_METADATA_SIZE))
        return {'state': 'buffer', 'authority': _option_pubkey(data, 4, what),
                'program_length': len(data) - BUFFER_METADATA_SIZE}
    if tag == TAG_PROGRAM:
        if len(data) < PROGRAM_ACCOUNT_SIZE:
            raise LoaderError('%s: program account of %d bytes is shorter than %d'
                              % (what, len(data), PROGRAM_ACCOUNT_SIZE))
        return {'state': 'program', 'programdata_address': b58encode(data[4:36])}
    if tag == TAG_PROGRAMDATA:
        if len(data) < PROGRAMDATA_METADATA_SIZE:
            raise LoaderError('%s: programdata of %d bytes is shorter than its %d-byte header'
                              % (what, len(data), PROGRAMDATA_METADATA_SIZE))
        return {'state': 'programdata', 'slot': struct.unpack_from('<Q', data, 4)[0],
                'upgrade_authority': _option_pubkey(data, 12, what),
                'program_length': len(data) - PROGRAMDATA_METADATA_SIZE}
    raise LoaderError('%s: state tag %d is not a loader-v3 account state (0-3)' % (what, tag))


def encode_buffer_state(authority):
    """The 37-byte header of a buffer (for tests and the local endpoint)."""
    if authority is None:
        return struct.pack('<IB', TAG_BUFFER, 0) + bytes(32)
    return struct.pack('<IB', TAG_BUFFER, 1) + b58decode(authority)


def encode_programdata_state(slot, authority):
    """The 45-byte header of a programdata account."""
    if authority is None:
        return struct.pack('<IQB', TAG_PROGRAMDATA, slot, 0) + bytes(32)
    return struct.pack('<IQB', TAG_PROGRAMDATA, slot, 1) + b58decode(authority)


# --------------------------------------------------------------------------- instruction data

def ix_initialize_buffer():
    return struct.pack('<I', IX_INITIALIZE_BUFFER)


def ix_write(offset, chunk):
    chunk = bytes(chunk)
    return struct.pack('<IIQ', IX_WRITE, offset, len(chunk)) + chunk


def ix_deploy_with_max_data_len(max_data_len):
    return struct.pack('<IQ', IX_DEPLOY, max_data_len)


def ix_upgrade():
    return struct.pack('<I', IX_UPGRADE)


def ix_set_authority():
    return struct.pack('<I', IX_SET_AUTHORITY)


def ix_close():
    return struct.pack('<I', IX_CLOSE)


def ix_extend_program(additional_bytes):
    return struct.pack('<II', IX_EXTEND, additional_bytes)


def _compact_u16_len(value):
    return 1 if value < 0x80 else (2 if value < 0x4000 else 3)


def write_chunk_size(signers=1):
    """The largest Write chunk that fits one transaction (PACKET_DATA_SIZE).

    A Write transaction carries `signers` signatures (1 when the payer is the buffer
    authority, 2 otherwise) and the accounts payer[/authority], buffer, loader:
      signatures: compact-u16 + 64 x signers; message: 3-byte header, compact-u16 + 32 x keys,
      32-byte blockhash, compact-u16 instruction count, then program index, compact-u16 + 2
      account indexes, compact-u16 data length + WRITE_HEADER_SIZE + chunk."""
    keys = signers + 2
    fixed = (1 + 64 * signers) + 3 + (1 + 32 * keys) + 32 + 1 + 1 + (1 + 2) + WRITE_HEADER_SIZE
    size = PACKET_DATA_SIZE - fixed - 1
    while size > 0 and fixed + _compact_u16_len(WRITE_HEADER_SIZE + size) + size > PACKET_DATA_SIZE:
        size -= 1
    return size


# --------------------------------------------------------------------------- files

def load_keypair_file(path, what='keypair'):
    """A Solana CLI keypair file (JSON array of 64 numbers 0-255: secret key, then public key)
    -> 64 bytes. LoaderError naming the file and what is wrong; the key bytes never appear
    in a message."""
    try:
        with open(path, 'rb') as handle:
            raw = handle.read(65536)
    except (IOError, OSError) as exc:
        raise LoaderError('%s file %s cannot be read: %s' % (what, path, exc.strerror or exc))
    try:
        numbers = json.loads(raw.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        raise LoaderError('%s file %s is not a Solana keypair file: expected a JSON array of 64 bytes '
                          '(as `solana-keygen new -o FILE` writes)' % (what, path))
    if not isinstance(numbers, list) or len(numbers) != 64:
        raise LoaderError('%s file %s is not a Solana keypair file: expected a JSON array of 64 bytes, '
                          'got %s' % (what, path, ('an array of %d elements' % len(numbers))
                                      if isinstance(numbers, list) else 'a JSON %s' % type(numbers).__name__))
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 255:
            raise LoaderError('%s file %s is not a Solana keypair file: every element must be an integer '
                              '0-255' % (what, path))
    return bytes(numbers)


def read_program_file(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise LoaderError('program file %s cannot be read: %s' % (path, exc.strerror or exc))


def check_elf(data, path='program'):
    """Refuse what is surely not a deployable SBF program: not an ELF, not 64-bit
    little-endian, not for the BPF/SBF machine, or with headers that point past the end
    of the file (a truncated file). The loader's verifier still has the last word."""
    data = bytes(data)
    size = len(data)
    if size < 64:
        raise LoaderError('%s is not an SBF ELF: %d bytes is shorter than an ELF header (64 bytes)' % (path, size))
    if data[:4] != ELF_MAGIC:
        raise LoaderError('%s is not an SBF ELF: it starts with %s, not the ELF magic 7f454c46'
                          % (path, data[:4].hex()))
    if data[4] != 2:
        raise LoaderError('%s is not an SBF ELF: ELF class %d, an SBF program is 64-bit (class 2)' % (path, data[4]))
    if data[5] != 1:
        raise LoaderError('%s is not an SBF ELF: ELF data encoding %d, an SBF program is little-endian (1)'
                          % (path, data[5]))
    (e_type, e_machine, _version, _entry, e_phoff, e_shoff, _flags, e_ehsize, e_phentsize, e_phnum,
     e_shentsize, e_shnum, _shstrndx) = struct.unpack_from('<HHIQQQIHHHHHH', data, 16)
    if e_machine not in (EM_BPF, EM_SBPF):
        raise LoaderError('%s is not an SBF ELF: machine %d, expected BPF (%d) or SBF (%d)'
                          % (path, e_machine, EM_BPF, EM_SBPF))
    if e_ehsize != 64:
        raise LoaderError('%s is a corrupt ELF: header size %d, expected 64' % (path, e_ehsize))
    if e_phnum and e_phoff + e_phnum * e_phentsize > size:
        raise LoaderError('%s is a corrupt or truncated ELF: its %d program headers end at byte %d, '
                          'past the end of the %d-byte file' % (path, e_phnum, e_phoff + e_phnum * e_phentsize, size))
    if e_shnum and e_shoff + e_shnum * e_shentsize > size:
        raise LoaderError('%s is a corrupt or truncated ELF: its %d section headers end at byte %d, '
                          'past the end of the %d-byte file' % (path, e_shnum, e_shoff + e_shnum * e_shentsize, size))
    return {'type': e_type, 'machine': e_machine}


# --------------------------------------------------------------------------- cost

def transactions_for(program_length, chunk_size, action, extend=False, chunks=None):
    """How many transactions a deploy/upgrade sends: create buffer, the Writes,
    (extend), deploy/upgrade. `chunks` overrides the number of Writes (a reused buffer)."""
    if action == 'none':
        return 0
    writes = int(math.ceil(program_length / float(chunk_size))) if chunks is None else chunks
    return 1 + writes + (1 if extend else 0) + 1


def plan_extension(current_max_data_len, program_length, wanted_max_data_len=None):
    """Bytes an upgrade must add to the program's data area: 0 when the program fits;
    else enough for max(program, wanted), at least MIN_EXTEND_BYTES (the loader's minimum,
    unless that passes the account size limit). LoaderError when it cannot fit at all."""
    if program_length <= current_max_data_len:
        return 0
    target = max(program_length, wanted_max_data_len or 0)
    room = MAX_PERMITTED_DATA_LENGTH - PROGRAMDATA_METADATA_SIZE - current_max_data_len
    extend = min(max(target - current_max_data_len, MIN_EXTEND_BYTES), room)
    if current_max_data_len + extend < program_length:
        raise LoaderError('a program of %d bytes cannot fit: the data area of %d bytes can grow by at most %d bytes'
                          % (program_length, current_max_data_len, room))
    return extend


def estimate_cost(action, program_length, max_data_len, rent, fee_per_signature, separate_authority,
                  payer_minimum, chunk_size, current_max_data_len=None, buffer_exists=False, chunks=None):
    """Lamports a deploy or an upgrade needs and spends.

    max_data_len: the data area after the run (an upgrade that grows it past
    current_max_data_len sends ExtendProgram, see plan_extension).

    rent(size) -> lamports (getMinimumBalanceForRentExemption). Returns a dict:
      transactions, signatures, fees_lamports, rent_lamports (kept by the new accounts),
      buffer_rent_lamports (held during the writes, refunded at the end),
      extend_bytes, cost_lamports (what the payer's balance drops by) and
      required_lamports (the balance the payer needs before starting: the peak outlay plus
      its own rent-exempt minimum, `payer_minimum`).
    A deploy drains the buffer into the payer before it pays for the programdata, so its
    peak is program + programdata rent; an upgrade refunds the buffer to the payer (spill)."""
    extra = 1 if separate_authority else 0
    result = {'transactions': 0, 'signatures': 0, 'fees_lamports': 0, 'rent_lamports': 0,
              'buffer_rent_lamports': 0, 'extend_bytes': 0, 'cost_lamports': 0,
              'required_lamports': 0}
    if action == 'none':
        return result
    writes = int(math.ceil(program_length / float(chunk_size))) if chunks is None else int(chunks)
    buffer_rent = rent(BUFFER_METADATA_SIZE + program_length)
    signatures = (0 if buffer_exists else 2) + writes * (1 + extra)
    if action == 'deploy':
        signatures += 2 + extra                         # payer, program keypair, authority
        transactions = (0 if buffer_exists else 1) + writes + 1
        kept = rent(PROGRAM_ACCOUNT_SIZE) + rent(PROGRAMDATA_METADATA_SIZE + max_data_len)
        fees = signatures * fee_per_signature
        held = 0 if buffer_exists else buffer_rent
        peak = max(held + fees, kept + fees)
        cost = kept + fees
    else:
        current = current_max_data_len if current_max_data_len is not None else program_length
        extend = max(0, max_data_len - current)
        transactions = (0 if buffer_exists else 1) + writes + (1 if extend else 0) + 1
        signatures += (1 if extend else 0) + 1 + extra     # ExtendProgram: payer; Upgrade: payer, authority
        kept = (rent(PROGRAMDATA_METADATA_SIZE + current + extend) - rent(PROGRAMDATA_METADATA_SIZE + current)
                if extend else 0)
        fees = signatures * fee_per_signature
        held = 0 if buffer_exists else buffer_rent
        peak = held + kept + fees
        cost = kept + fees
        result['extend_bytes'] = extend
    result.update({'transactions': transactions, 'signatures': signatures, 'fees_lamports': fees,
                   'rent_lamports': kept, 'buffer_rent_lamports': buffer_rent,
                   'cost_lamports': cost, 'required_lamports': peak + payer_minimum})
    return result


# --------------------------------------------------------------------------- solders helpers

def require_solders():
    if not HAS_SOLDERS:
        raise LoaderError('the Python library solders is required (pip install solders): %s'
                          % (SOLDERS_IMPORT_ERROR,))


def keypair_from_file(path, what='keypair'):
    """A solders Keypair from a Solana CLI keypair file; LoaderError when the file is not one or
    its public half does not belong to its secret half."""
    require_solders()
    raw = load_keypair_file(path, what)
    try:
        return Keypair.from_bytes(raw)
    except (ValueError, TypeError):
        raise LoaderError('%s file %s is not a valid keypair: its last 32 bytes are not the public key '
                          'of its first 32' % (what, path))


def pubkey(text):
    require_solders()
    return Pubkey.from_string(check_pubkey(text))


def programdata_address(program_id):
    """The programdata address of a loader-v3 program: PDA of [program_id] under the loader."""
    require_solders()
    return str(Pubkey.find_program_address([bytes(pubkey(program_id))], Pubkey.from_string(LOADER_V3))[0])


def derive_buffer_keypair(authority_keypair, program_id):
    """The buffer keypair of (authority, program): deterministic, so that a run that was
    interrupted after creating its buffer finds it again and reuses or closes it; only the
    holder of the authority's secret can derive it."""
    require_solders()
    seed = hashlib.sha256(BUFFER_SEED_DOMAIN + bytes(authority_keypair)[:32]
                          + bytes(pubkey(program_id))).digest()
    return Keypair.from_seed(seed)


def _meta(key, signer=False, writable=False):
    return AccountMeta(key if isinstance(key, Pubkey) else pubkey(key), signer, writable)


def instruction(data, metas):
    require_solders()
    return Instruction(Pubkey.from_string(LOADER_V3), bytes(data), metas)


def create_account_instruction(payer, new_account, lamports, space, owner):
    require_solders()
    data = struct.pack('<IQQ', 0, lamports, space) + bytes(pubkey(owner))
    return Instruction(Pubkey.from_string(SYSTEM_PROGRAM), data,
                       [_meta(payer, True, True), _meta(new_account, True, True)])


def initialize_buffer_instructions(payer, buffer, authority, lamports, program_length):
    return [create_account_instruction(payer, buffer, lamports, BUFFER_METADATA_SIZE + program_length, LOADER_V3),
            instruction(ix_initialize_buffer(), [_meta(buffer, writable=True), _meta(authority)])]


def write_instruction(buffer, authority, offset, chunk):
    return instruction(ix_write(offset, chunk), [_meta(buffer, writable=True), _meta(authority, signer=True)])


def deploy_instructions(payer, program, authority, buffer, program_lamports, max_data_len):
    """create the 36-byte program account + DeployWithMaxDataLen (the Solana CLI's deploy)."""
    programdata = programdata_address(str(program))
    return [create_account_instruction(payer, program, program_lamports, PROGRAM_ACCOUNT_SIZE, LOADER_V3),
            instruction(ix_deploy_with_max_data_len(max_data_len), [
                _meta(payer, True, True), _meta(programdata, writable=True), _meta(program, writable=True),
                _meta(buffer, writable=True), _meta(SYSVAR_RENT), _meta(SYSVAR_CLOCK),
                _meta(SYSTEM_PROGRAM), _meta(authority, signer=True)])]


def upgrade_instruction(program, buffer, authority, spill):
    programdata = programdata_address(str(program))
    return instruction(ix_upgrade(), [
        _meta(programdata, writable=True), _meta(program, writable=True), _meta(buffer, writable=True),
        _meta(spill, writable=True), _meta(SYSVAR_RENT), _meta(SYSVAR_CLOCK), _meta(authority, signer=True)])


def extend_program_instruction(program, payer, additional_bytes):
    programdata = programdata_address(str(program))
    return instruction(ix_extend_program(additional_bytes), [
        _meta(programdata, writable=True), _meta(program, writable=True), _meta(SYSTEM_PROGRAM),
        _meta(payer, True, True)])


def close_buffer_instruction(buffer, recipient, authority):
    return instruction(ix_close(), [_meta(buffer, writable=True), _meta(recipient, writable=True),
                                    _meta(authority, signer=True)])


def set_authority_instruction(account, current_authority, new_authority=None):
    metas = [_meta(account, writable=True), _meta(current_authority, signer=True)]
    if new_authority is not None:
        metas.append(_meta(new_authority))
    return instruction(ix_set_authority(), metas)


def signed_transaction(instructions, payer, signers, blockhash):
    """Sign `instructions` (payer first) -> (bytes, signature). Of `signers`, exactly those the
    message requires sign (solders panics on a signer the message does not need); a required
    signer that is missing is a LoaderError."""
    require_solders()
    recent = blockhash if isinstance(blockhash, Hash) else Hash.from_string(blockhash)
    message = Message.new_with_blockhash(list(instructions), payer.pubkey(), recent)
    required = [str(key) for key in message.account_keys[:message.header.num_required_signatures]]
    available = {}
    for signer in [payer] + list(signers):
        available.setdefault(str(signer.pubkey()), signer)
    missing = [key for key in required if key not in available]
    if missing:
        raise LoaderError('the transaction needs the signature of %s, whose keypair was not given' % ', '.join(missing))
    tx = Transaction([available[key] for key in required], message, recent)
    raw = bytes(tx)
    if len(raw) > PACKET_DATA_SIZE:
        raise LoaderError('transaction of %d bytes exceeds the %d-byte limit' % (len(raw), PACKET_DATA_SIZE))
    return raw, str(tx.signatures[0])


def message_bytes(instructions, payer_pubkey, blockhash):
    """A compiled message (for getFeeForMessage)."""
    require_solders()
    recent = blockhash if isinstance(blockhash, Hash) else Hash.from_string(blockhash)
    return bytes(Message.new_with_blockhash(list(instructions), payer_pubkey, recent))


def file_size(path):
    return os.path.getsize(path)
