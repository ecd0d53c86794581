# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local Solana JSON-RPC endpoint backed by LiteSVM (``solders.litesvm``).

For tests and for the local sandbox of x402.runbook: real signed transactions run
through a real SVM (the upgradeable BPF loader included, signature verification
on), behind the standard JSON-RPC methods that the collection's modules and the
usual clients use. It listens on 127.0.0.1 only unless told otherwise, keeps its
state in memory (a restart is a new chain) and needs nothing but the Python
standard library and ``solders``.

Subcommands:
  serve           run the server in the foreground (Ctrl-C / SIGTERM stop it)
  start           start it in the background; returns once it answers getHealth;
                  prints "started" or "already running" (idempotent)
  stop            stop the server of a pid file; prints "stopped" or "not running"
  keygen          write a Solana CLI keypair file if it does not exist yet
  pubkey          print the public key of a keypair file
  fund            top a keypair's balance up to at least N lamports (requestAirdrop)
  export-program  write the ELF of one of LiteSVM's preloaded programs (a real SBF
                  program to deploy: spl_token, ata, address_lookup_table, stake, memo)

How it behaves like a cluster:
  * every landed transaction is a new slot and a new blockhash; a blockhash stays valid
    for 150 slots (getLatestBlockhash's lastValidBlockHeight; block height == slot);
  * sendTransaction runs the preflight simulation unless skipPreflight, and answers
    -32002 "Transaction simulation failed: ..." with the err and the logs; a
    transaction with an unknown or expired blockhash is refused in preflight, and
    silently dropped with skipPreflight (as a real node drops it);
  * a transaction that already landed is "already processed";
  * getSignatureStatuses reports landed transactions as finalized.
Methods: getHealth getVersion getGenesisHash getSlot getBlockHeight getEpochInfo
getBalance getAccountInfo getMultipleAccounts getProgramAccounts getLatestBlockhash
isBlockhashValid getFeeForMessage getMinimumBalanceForRentExemption sendTransaction
simulateTransaction getSignatureStatuses getTransactionCount requestAirdrop.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

try:
    from solders.keypair import Keypair
    from solders.litesvm import LiteSVM
    from solders.pubkey import Pubkey
    from solders.transaction import VersionedTransaction
    HAS_SOLDERS = True
except ImportError:  # reported by main()
    HAS_SOLDERS = False

LOADER_V3 = 'BPFLoaderUpgradeab1e11111111111111111111111'
PRELOADED = {
    # name: (program id, loader-v3?) of the programs a default LiteSVM() carries
    'spl_token': ('TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA', True),
    'ata': ('ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL', False),
    'address_lookup_table': ('AddressLookupTab1e1111111111111111111111111', True),
    'stake': ('Stake11111111111111111111111111111111111111', True),
    'memo': ('MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr', False),
}
PACKET_DATA_SIZE = 1232
BLOCKHASH_VALID_SLOTS = 150
SLOTS_PER_EPOCH = 432000
GENESIS_HASH = '2dZMy1ib1q7CzRgQ26mHG72JBUELFHWU6LV4goa1Uo8p'  # b58(sha256('x402.runbook litesvm localnet genesis')): no public cluster's
MAX_BODY = 8 * 1024 * 1024
_B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'


class RpcFailure(Exception):
    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def b58encode(data):
    number = int.from_bytes(data, 'big')
    text = ''
    while number:
        number, rest = divmod(number, 58)
        text = _B58[rest] + text
    return '1' * (len(data) - len(data.lstrip(b'\0'))) + text


def b58decode(text):
    number = 0
    for char in text:
        index = _B58.find(char)
        if index < 0:
            raise ValueError('invalid base58 character %r' % char)
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, 'big') if number else b''
    return b'\0' * (len(text) - len(text.lstrip('1'))) + body


def error_json(err):
    """A solders TransactionError -> the JSON a real node puts in `err`."""
    if err is None:
        return None
    name = type(err).__name__
    if name.startswith('TransactionError') and name != 'TransactionErrorFieldless':
        key = name[len('TransactionError'):]
        try:
            return {key: json.loads(err.to_json())}
        except Exception:  # pylint: disable=broad-except
            return {key: str(err)}
    return str(err).rsplit('.', 1)[-1]


def error_text(err, logs):
    """'Error processing Instruction 1: invalid account data for instruction' (as a node says it)."""
    detail = error_json(err)
    if isinstance(detail, dict) and 'InstructionError' in detail:
        index = detail['InstructionError'][0]
        reason = None
        for line in reversed(logs or []):
            if ' failed: ' in line:
                reason = line.split(' failed: ', 1)[1]
                break
        return 'Error processing Instruction %s: %s' % (index, reason or detail['InstructionError'][1])
    return str(detail)


def _pubkey(value, what='pubkey'):
    try:
        return Pubkey.from_string(str(value))
    except Exception:  # pylint: disable=broad-except
        raise RpcFailure(-32602, 'Invalid param: %s %r is not a valid public key' % (what, value))


def _config(params, index):
    if len(params) > index and isinstance(params[index], dict):
        return params[index]
    return {}


class Chain:
    """The LiteSVM instance plus what a node adds around it: slots, recent blockhashes,
    signature statuses, a transaction count."""

    def __init__(self):
        self.svm = LiteSVM().with_blockhash_check(False)
        self.recent = collections.OrderedDict()  # blockhash -> slot it was issued at
        self.statuses = {}                       # signature -> (slot, err json)
        self.transaction_count = 0
        self._remember_blockhash()

    # -- time ------------------------------------------------------------------------
    @property
    def slot(self):
        return self.svm.get_clock().slot

    def _remember_blockhash(self):
        self.recent[str(self.svm.latest_blockhash())] = self.slot
        while len(self.recent) > BLOCKHASH_VALID_SLOTS + 1:
            self.recent.popitem(last=False)

    def advance(self):
        """One landed transaction = one new slot, one new blockhash."""
        self.svm.warp_to_slot(self.slot + 1)
        self.svm.expire_blockhash()
        self._remember_blockhash()

    def blockhash_valid(self, blockhash):
        issued = self.recent.get(str(blockhash))
        return issued is not None and self.slot <= issued + BLOCKHASH_VALID_SLOTS

    def context(self):
        return {'slot': self.slot, 'apiVersion': '2.2.0'}

    # -- accounts --------------------------------------------------------------------
    def account_json(self, account, config):
        if account is None:
            return None
        data = bytes(account.data)
        data_slice = config.get('dataSlice')
        if isinstance(data_slice, dict):
            offset = int(data_slice.get('offset', 0))
            data = data[offset:offset + int(data_slice.get('length', 0))]
        encoding = config.get('encoding', 'base64')
        if encoding == 'base58':
            if len(data) > 128:
                raise RpcFailure(-32600, 'Encoded binary (base 58) data should be less than 128 bytes, '
                                 'please use Base64 encoding.')
            encoded = [b58encode(data), 'base58']
        elif encoding in ('base64', 'jsonParsed', 'binary'):
            encoded = [base64.b64encode(data).decode('ascii'), 'base64']
        else:
            raise RpcFailure(-32602, 'Invalid param: unsupported encoding %r (base64, base58)' % encoding)
        return {'data': encoded, 'executable': bool(account.executable), 'lamports': int(account.lamports),
                'owner': str(account.owner), 'rentEpoch': int(account.rent_epoch),
                'space': len(bytes(account.data))}

    @staticmethod
    def _matches(data, filters):
        for item in filters or []:
            if 'dataSize' in item:
                if len(data) != int(item['dataSize']):
                    return False
            elif 'memcmp' in item:
                memcmp = item['memcmp']
                raw = memcmp.get('bytes', '')
                wanted = (base64.b64decode(raw) if memcmp.get('encoding') == 'base64' else b58decode(raw))
                offset = int(memcmp.get('offset', 0))
                if data[offset:offset + len(wanted)] != wanted:
                    return False
            else:
                raise RpcFailure(-32602, 'Invalid param: unsupported filter %r' % (item,))
        return True

    # -- transactions ----------------------------------------------------------------
    @staticmethod
    def decode_transaction(params):
        if not params or not isinstance(params[0], str):
            raise RpcFailure(-32602, 'Invalid params: expected a serialized transaction string')
        config = _config(params, 1)
        encoding = config.get('encoding', 'base58')
        try:
            raw = base64.b64decode(params[0], validate=True) if encoding == 'base64' else b58decode(params[0])
        except Exception:  # pylint: disable=broad-except
            raise RpcFailure(-32602, 'invalid transaction: not valid %s' % encoding)
        if len(raw) > PACKET_DATA_SIZE:
            raise RpcFailure(-32602, '%s encoded solana_transaction::versioned::VersionedTransaction too large: '
                             '%d bytes (max: encoded/raw %d/%d)' % (encoding, len(raw), 1644, PACKET_DATA_SIZE))
        try:
            tx = VersionedTransaction.from_bytes(raw)
        except Exception as exc:  # pylint: disable=broad-except
            raise RpcFailure(-32602, 'failed to deserialize solana_transaction::versioned::VersionedTransaction: %s'
                             % exc)
        return tx, config

    def _simulate(self, tx):
        result = self.svm.simulate_transaction(tx)
        err = result.err() if hasattr(result, 'err') else None
        meta = result.meta()
        return err, list(meta.logs()), meta.compute_units_consumed()

    def send(self, params):
        tx, config = self.decode_transaction(params)
        signature = str(tx.signatures[0])
        blockhash = tx.message.recent_blockhash
        if not config.get('skipPreflight', False):
            if signature in self.statuses:
                raise RpcFailure(-32002, 'Transaction simulation failed: This transaction has already been processed',
                                 {'err': 'AlreadyProcessed', 'logs': [], 'accounts': None, 'unitsConsumed': 0})
            if not self.blockhash_valid(blockhash):
                raise RpcFailure(-32002, 'Transaction simulation failed: Blockhash not found',
                                 {'err': 'BlockhashNotFound', 'logs': [], 'accounts': None, 'unitsConsumed': 0})
            err, logs, units = self._simulate(tx)
            if error_json(err) == 'SignatureFailure':
                raise RpcFailure(-32003, 'Transaction signature verification failure')
            if err is not None:
                raise RpcFailure(-32002, 'Transaction simulation failed: %s' % error_text(err, logs),
                                 {'err': error_json(err), 'logs': logs, 'accounts': None, 'unitsConsumed': units})
        elif signature in self.statuses or not self.blockhash_valid(blockhash):
            return signature  # a node drops it: it never lands (again)
        result = self.svm.send_transaction(tx)
        err = result.err() if hasattr(result, 'err') else None
        if error_json(err) == 'AlreadyProcessed':
            return signature
        self.statuses[signature] = (self.slot, error_json(err))
        self.transaction_count += 1
        self.advance()
        return signature

    def simulate(self, params):
        tx, config = self.decode_transaction(params)
        if not config.get('replaceRecentBlockhash') and not self.blockhash_valid(tx.message.recent_blockhash):
            return {'context': self.context(), 'value': {'err': 'BlockhashNotFound', 'logs': [], 'accounts': None,
                                                         'unitsConsumed': 0, 'returnData': None}}
        err, logs, units = self._simulate(tx)
        return {'context': self.context(), 'value': {'err': error_json(err), 'logs': logs, 'accounts': None,
                                                     'unitsConsumed': units, 'returnData': None}}

    def airdrop(self, params):
        if len(params) < 2:
            raise RpcFailure(-32602, 'Invalid params: requestAirdrop needs [pubkey, lamports]')
        key = _pubkey(params[0])
        lamports = params[1]
        if isinstance(lamports, bool) or not isinstance(lamports, int) or lamports <= 0:
            raise RpcFailure(-32602, 'Invalid param: lamports %r must be a positive integer' % (lamports,))
        result = self.svm.airdrop(key, lamports)
        err = result.err() if hasattr(result, 'err') else None
        meta = result.meta() if hasattr(result, 'err') else result
        if err is not None:
            raise RpcFailure(-32600, 'airdrop of %d lamports to %s failed: %s' % (lamports, key, error_json(err)))
        signature = str(meta.signature())
        self.statuses[signature] = (self.slot, None)
        self.transaction_count += 1
        self.advance()
        return signature

    # -- dispatch --------------------------------------------------------------------
    def call(self, method, params):  # noqa: C901 - one branch per method
        if params is None:
            params = []
        if not isinstance(params, list):
            raise RpcFailure(-32602, 'Invalid params: expected an array')
        if method == 'getHealth':
            return 'ok'
        if method == 'getVersion':
            return {'solana-core': '2.2.0-litesvm', 'feature-set': 0}
        if method == 'getGenesisHash':
            return GENESIS_HASH
        if method in ('getSlot', 'getBlockHeight'):
            return self.slot
        if method == 'getEpochInfo':
            slot = self.slot
            return {'absoluteSlot': slot, 'blockHeight': slot, 'epoch': slot // SLOTS_PER_EPOCH,
                    'slotIndex': slot % SLOTS_PER_EPOCH, 'slotsInEpoch': SLOTS_PER_EPOCH,
                    'transactionCount': self.transaction_count}
        if method == 'getTransactionCount':
            return self.transaction_count
        if method == 'getBalance':
            if not params:
                raise RpcFailure(-32602, 'Invalid params: getBalance needs [pubkey]')
            return {'context': self.context(), 'value': int(self.svm.get_balance(_pubkey(params[0])) or 0)}
        if method == 'getAccountInfo':
            if not params:
                raise RpcFailure(-32602, 'Invalid params: getAccountInfo needs [pubkey]')
            account = self.svm.get_account(_pubkey(params[0]))
            return {'context': self.context(), 'value': self.account_json(account, _config(params, 1))}
        if method == 'getMultipleAccounts':
            if not params or not isinstance(params[0], list):
                raise RpcFailure(-32602, 'Invalid params: getMultipleAccounts needs [[pubkey, ...]]')
            if len(params[0]) > 100:
                raise RpcFailure(-32602, 'Too many inputs provided; max 100')
            config = _config(params, 1)
            return {'context': self.context(),
                    'value': [self.account_json(self.svm.get_account(_pubkey(k)), config) for k in params[0]]}
        if method == 'getProgramAccounts':
            if not params:
                raise RpcFailure(-32602, 'Invalid params: getProgramAccounts needs [program id]')
            config = _config(params, 1)
            found = []
            for address, account in self.svm.get_program_accounts(_pubkey(params[0])):
                if self._matches(bytes(account.data), config.get('filters')):
                    found.append({'pubkey': str(address), 'account': self.account_json(account, config)})
            found.sort(key=lambda item: item['pubkey'])
            return {'context': self.context(), 'value': found} if config.get('withContext') else found
        if method == 'getLatestBlockhash':
            blockhash = str(self.svm.latest_blockhash())
            return {'context': self.context(),
                    'value': {'blockhash': blockhash,
                              'lastValidBlockHeight': self.recent[blockhash] + BLOCKHASH_VALID_SLOTS}}
        if method == 'isBlockhashValid':
            if not params:
                raise RpcFailure(-32602, 'Invalid params: isBlockhashValid needs [blockhash]')
            return {'context': self.context(), 'value': self.blockhash_valid(params[0])}
        if method == 'getFeeForMessage':
            if not params:
                raise RpcFailure(-32602, 'Invalid params: getFeeForMessage needs [message]')
            try:
                raw = base64.b64decode(params[0], validate=True)
            except Exception:  # pylint: disable=broad-except
                raise RpcFailure(-32602, 'Invalid param: message is not base64')
            versioned = raw[0] & 0x80
            header = raw[1:] if versioned else raw
            keys_len = header[3]  # single-byte compact-u16: fewer than 128 keys
            offset = 4 + 32 * keys_len
            blockhash = b58encode(header[offset:offset + 32])
            value = 5000 * header[0] if self.blockhash_valid(blockhash) else None
            return {'context': self.context(), 'value': value}
        if method == 'getMinimumBalanceForRentExemption':
            if not params or isinstance(params[0], bool) or not isinstance(params[0], int) or params[0] < 0:
                raise RpcFailure(-32602, 'Invalid params: getMinimumBalanceForRentExemption needs [data length]')
            return int(self.svm.minimum_balance_for_rent_exemption(params[0]))
        if method == 'sendTransaction':
            return self.send(params)
        if method == 'simulateTransaction':
            return self.simulate(params)
        if method == 'getSignatureStatuses':
            if not params or not isinstance(params[0], list):
                raise RpcFailure(-32602, 'Invalid params: getSignatureStatuses needs [[signature, ...]]')
            if len(params[0]) > 256:
                raise RpcFailure(-32602, 'Too many inputs provided; max 256')
            values = []
            for signature in params[0]:
                status = self.statuses.get(str(signature))
                if status is None:
                    values.append(None)
                    continue
                slot, err = status
                values.append({'slot': slot, 'confirmations': None, 'err': err,
                               'status': {'Ok': None} if err is None else {'Err': err},
                               'confirmationStatus': 'finalized'})
            return {'context': self.context(), 'value': values}
        if method == 'requestAirdrop':
            return self.airdrop(params)
        raise RpcFailure(-32601, 'Method not found')


class Handler(BaseHTTPRequestHandler):
    """JSON-RPC 2.0 over HTTP POST (single requests and batches); GET /health."""
    disable_nagle_algorithm = True  # else every answer waits for the client's delayed ACK (~40 ms)
    server_version = 'litesvm-rpc/1'

    def _reply(self, status, body, content_type='application/json'):
        data = body.encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        if self.path.rstrip('/') == '/health':
            self._reply(200, 'ok', 'text/plain')
        else:
            self._reply(405, 'use POST with a JSON-RPC request', 'text/plain')

    def _one(self, request):
        if not isinstance(request, dict) or request.get('jsonrpc') != '2.0' or not isinstance(request.get('method'), str):
            return {'jsonrpc': '2.0', 'id': None, 'error': {'code': -32600, 'message': 'Invalid request'}}
        rid = request.get('id')
        try:
            result = self.server.chain.call(request['method'], request.get('params'))
            return {'jsonrpc': '2.0', 'id': rid, 'result': result}
        except RpcFailure as exc:
            error = {'code': exc.code, 'message': exc.message}
            if exc.data is not None:
                error['data'] = exc.data
            return {'jsonrpc': '2.0', 'id': rid, 'error': error}
        except Exception as exc:  # pylint: disable=broad-except
            self.log_message('internal error in %s: %r', request.get('method'), exc)
            return {'jsonrpc': '2.0', 'id': rid, 'error': {'code': -32603, 'message': 'Internal error: %s' % exc}}

    def do_POST(self):  # noqa: N802
        try:
            length = int(self.headers.get('Content-Length') or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._reply(413, json.dumps({'jsonrpc': '2.0', 'id': None,
                                         'error': {'code': -32600, 'message': 'request too large'}}))
            return
        try:
            request = json.loads(self.rfile.read(length).decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            self._reply(200, json.dumps({'jsonrpc': '2.0', 'id': None,
                                         'error': {'code': -32700, 'message': 'Parse error'}}))
            return
        if isinstance(request, list):
            answer = [self._one(item) for item in request] if request else {
                'jsonrpc': '2.0', 'id': None, 'error': {'code': -32600, 'message': 'Invalid request'}}
        else:
            answer = self._one(request)
        self._reply(200, json.dumps(answer))

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if self.server.verbose:
            sys.stderr.write('%s %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%S'), format % args))


class Server(HTTPServer):
    # One request at a time: LiteSVM is not shared across threads, and a cluster
    # processes transactions in order anyway. Clients close after each request.
    allow_reuse_address = True

    def __init__(self, address, verbose=False):
        self.chain = Chain()
        self.verbose = verbose
        super().__init__(address, Handler)


# ------------------------------------------------------------------------------ helpers

def rpc(url, method, params=None, timeout=5):
    body = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': method, 'params': params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={'Content-Type': 'application/json'})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never a proxy
    with opener.open(request, timeout=timeout) as response:
        answer = json.loads(response.read().decode())
    if 'error' in answer:
        raise RuntimeError('%s: %s' % (method, answer['error'].get('message')))
    return answer['result']


def healthy(url, timeout=2):
    try:
        return rpc(url, 'getHealth', timeout=timeout) == 'ok'
    except (OSError, ValueError, RuntimeError, urllib.error.URLError):
        return False


def read_pid(pid_file):
    try:
        with open(pid_file) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def is_our_process(pid):
    """True when pid is alive and is this script (not a recycled pid)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False  # gone, or another user's process (EPERM): not ours
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return os.path.basename(__file__).encode() in handle.read()
    except OSError:
        return True  # no /proc: trust the pid file


def url_of(args):
    return 'http://%s:%d' % (args.host, args.port)


def serve(args):
    try:
        server = Server((args.host, args.port), verbose=args.verbose)
    except OSError as exc:
        sys.stderr.write('cannot listen on %s:%d: %s\n' % (args.host, args.port, exc.strerror or exc))
        return 2

    def stop(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    if args.pid_file:
        with open(args.pid_file, 'w') as handle:
            handle.write('%d\n' % os.getpid())
    sys.stderr.write('litesvm-rpc listening on %s (pid %d)\n' % (url_of(args), os.getpid()))
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if args.pid_file and read_pid(args.pid_file) == os.getpid():
            try:
                os.unlink(args.pid_file)
            except OSError:
                pass
    return 0


def start(args):
    url = url_of(args)
    pid = read_pid(args.pid_file)
    if pid and is_our_process(pid):
        if healthy(url):
            print('already running: pid %d on %s' % (pid, url))
            return 0
        sys.stderr.write('pid %d of %s is running but %s does not answer getHealth\n' % (pid, args.pid_file, url))
        return 1
    if healthy(url):
        sys.stderr.write('%s already answers, but not a server of pid file %s: refusing to start a second one\n'
                         % (url, args.pid_file))
        return 1
    log = open(args.log_file or os.devnull, 'ab')
    child = os.fork()
    if child == 0:  # first child: new session, then fork the daemon
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        os.chdir('/')
        code = 1
        try:
            code = serve(args)
        finally:
            os._exit(code)
    os.waitpid(child, 0)
    log.close()
    deadline = time.monotonic() + args.ready_timeout
    while time.monotonic() < deadline:
        pid = read_pid(args.pid_file)
        if pid and healthy(url):
            print('started: pid %d on %s' % (pid, url))
            return 0
        time.sleep(0.05)
    sys.stderr.write('the server did not answer getHealth on %s within %ss; see %s\n'
                     % (url, args.ready_timeout, args.log_file or 'its log'))
    return 1


def stop_server(args):
    pid = read_pid(args.pid_file)
    if not pid or not is_our_process(pid):
        if os.path.exists(args.pid_file):
            os.unlink(args.pid_file)
        print('not running')
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    if os.path.exists(args.pid_file):
        os.unlink(args.pid_file)
    print('stopped: pid %d' % pid)
    return 0


def keygen(args):
    if os.path.exists(args.outfile):
        with open(args.outfile) as handle:
            keypair = Keypair.from_bytes(bytes(json.load(handle)))
        print('exists: %s' % keypair.pubkey())
        return 0
    keypair = Keypair()
    os.makedirs(os.path.dirname(os.path.abspath(args.outfile)), mode=0o700, exist_ok=True)
    fd = os.open(args.outfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(list(bytes(keypair)), handle)
    print('created: %s' % keypair.pubkey())
    return 0


def load_pubkey(path):
    with open(path) as handle:
        return Keypair.from_bytes(bytes(json.load(handle))).pubkey()


def pubkey_cmd(args):
    print(load_pubkey(args.keypair))
    return 0


def fund(args):
    target = str(load_pubkey(args.keypair)) if args.keypair else args.pubkey
    url = args.url
    balance = rpc(url, 'getBalance', [target])['value']
    if balance >= args.lamports:
        print('already funded: %s has %d lamports' % (target, balance))
        return 0
    rpc(url, 'requestAirdrop', [target, args.lamports - balance])
    balance = rpc(url, 'getBalance', [target])['value']
    print('funded: %s has %d lamports' % (target, balance))
    return 0 if balance >= args.lamports else 1


def preloaded_elf(name, svm=None):
    """The ELF bytes of a program a default LiteSVM() preloads (a real SBF program)."""
    if name not in PRELOADED:
        raise KeyError('unknown program %r; one of %s' % (name, ', '.join(sorted(PRELOADED))))
    program_id, upgradeable = PRELOADED[name]
    svm = svm or LiteSVM()
    account = svm.get_account(Pubkey.from_string(program_id))
    data = bytes(account.data)
    if not upgradeable:
        return data
    programdata = svm.get_account(Pubkey.from_bytes(data[4:36]))
    return bytes(programdata.data)[45:]


def export_program(args):
    data = preloaded_elf(args.name)
    if args.size:
        if args.size < len(data.rstrip(b'\0')):
            sys.stderr.write('%s is %d bytes; cannot cut it to %d\n' % (args.name, len(data), args.size))
            return 1
        data = data[:args.size] + b'\0' * max(0, args.size - len(data))
    if os.path.exists(args.outfile):
        with open(args.outfile, 'rb') as handle:
            if handle.read() == data:
                digest = hashlib.sha256(data.rstrip(b'\0')).hexdigest()
                print('unchanged: %s (%d bytes, sha256 %s)' % (args.outfile, len(data), digest))
                return 0
    tmp = args.outfile + '.tmp'
    os.makedirs(os.path.dirname(os.path.abspath(args.outfile)), mode=0o755, exist_ok=True)
    with open(tmp, 'wb') as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, args.outfile)
    print('written: %s (%d bytes, sha256 %s)' % (args.outfile, len(data), hashlib.sha256(data.rstrip(b'\0')).hexdigest()))
    return 0


def parser():
    top = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    sub = top.add_subparsers(dest='command', required=True)

    def listen(p):
        p.add_argument('--host', default='127.0.0.1', help='address to listen on (default 127.0.0.1)')
        p.add_argument('--port', type=int, default=8899, help='port (default 8899)')
        p.add_argument('--pid-file', help='write the server pid here')
        p.add_argument('--verbose', action='store_true', help='log every request to stderr')

    p = sub.add_parser('serve', help='run in the foreground')
    listen(p)
    p = sub.add_parser('start', help='start in the background (idempotent)')
    listen(p)
    p.add_argument('--log-file', help='the daemon writes its stderr here')
    p.add_argument('--ready-timeout', type=float, default=30, help='seconds to wait for getHealth')
    p.set_defaults(pid_required=True)
    p = sub.add_parser('stop', help='stop the server of a pid file')
    p.add_argument('--pid-file', required=True)
    p.add_argument('--timeout', type=float, default=10, help='seconds before SIGKILL')
    p = sub.add_parser('keygen', help='write a keypair file if it does not exist')
    p.add_argument('--outfile', required=True)
    p = sub.add_parser('pubkey', help='print the public key of a keypair file')
    p.add_argument('keypair')
    p = sub.add_parser('fund', help='top a balance up to at least --lamports')
    p.add_argument('--url', default='http://127.0.0.1:8899')
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument('--keypair')
    who.add_argument('--pubkey')
    p.add_argument('--lamports', type=int, required=True)
    p = sub.add_parser('export-program', help="write a preloaded program's ELF")
    p.add_argument('--name', required=True, choices=sorted(PRELOADED))
    p.add_argument('--outfile', required=True)
    p.add_argument('--size', type=int, help='pad with zero bytes to this size')
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    if not HAS_SOLDERS:
        sys.stderr.write('the Python library solders is required: %s -m pip install solders\n' % sys.executable)
        return 2
    if args.command == 'start' and not args.pid_file:
        sys.stderr.write('start needs --pid-file\n')
        return 2
    commands = {'serve': serve, 'start': start, 'stop': stop_server, 'keygen': keygen, 'pubkey': pubkey_cmd,
                'fund': fund, 'export-program': export_program}
    try:
        return commands[args.command](args)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        sys.stderr.write('%s: %s\n' % (args.command, exc))
        return 1


if __name__ == '__main__':
    sys.exit(main())
