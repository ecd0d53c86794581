# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Solana JSON-RPC client on ansible-core's ``open_url``.

Only the standard methods the collection needs (balances, accounts, blockhashes,
rent, fees, sending and confirming transactions, airdrops on test clusters).
Network failures and overloaded nodes (connection refused or reset, timeouts,
HTTP 429 and 5xx, JSON-RPC -32005 "node is behind") are retried with exponential
backoff (honouring Retry-After), a bounded number of times. Every failure raises
:class:`RpcError` whose message names the method, the URL (API keys redacted)
and the node's own error; a node's ``data`` (e.g. the program logs of a failed
preflight simulation) is kept on the exception.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import re
import socket
import ssl
import time as _time
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request, make_context

COMMITMENTS = ('processed', 'confirmed', 'finalized')
RETRYABLE_HTTP = (408, 425, 429, 500, 502, 503, 504)
RETRYABLE_RPC = (-32005, -32004, -32007, -32014)  # node behind, block not available, ...
_SECRET_SEGMENT = re.compile(r'^[A-Za-z0-9_-]{20,}$')


class RpcError(Exception):
    """A JSON-RPC call failed.

    kind: 'connection' | 'timeout' | 'http' | 'rpc' | 'invalid_response';
    code/data: the node's JSON-RPC error code and data (kind 'rpc');
    status: the HTTP status (kind 'http'); attempts: how many times it was tried."""

    def __init__(self, message, kind, method=None, url=None, code=None, data=None, status=None, attempts=1):
        super(RpcError, self).__init__(message)
        self.message = message
        self.kind = kind
        self.method = method
        self.url = url
        self.code = code
        self.data = data
        self.status = status
        self.attempts = attempts
        self.node_message = message

    def __str__(self):
        return self.message

    @property
    def logs(self):
        if isinstance(self.data, dict) and isinstance(self.data.get('logs'), list):
            return [str(line) for line in self.data['logs']]
        return []


def redact_url(url):
    """The URL without what commonly carries an RPC provider's API key: user info, query
    values, and long opaque path segments (https://x.quiknode.pro/<token>/)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return '<invalid URL>'
    host = parts.hostname or ''
    if ':' in host:
        host = '[%s]' % host
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = ('***@' if parts.username or parts.password else '') + host + (':%d' % port if port else '')
    path = '/'.join('***' if _SECRET_SEGMENT.match(seg) else seg for seg in parts.path.split('/'))
    query = urlencode([(key, '***') for key, _value in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, path, query, ''))


def commitment_rank(name):
    return COMMITMENTS.index(name) if name in COMMITMENTS else -1


class SolanaRpc:
    """JSON-RPC client. `sleep` and `opener` are injectable for tests."""

    def __init__(self, url, timeout=30, retries=4, backoff=0.5, max_backoff=8.0, validate_certs=True,
                 headers=None, sleep=None, opener=None):
        if not isinstance(url, str) or not re.match(r'^https?://[^/]+', url.strip()):
            raise RpcError('rpc_url %r is not an http:// or https:// URL' % (redact_url(str(url)),),
                           'invalid_response', url=redact_url(str(url)))
        self.url = url.strip()
        self.shown_url = redact_url(self.url)
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.validate_certs = validate_certs
        self.headers = dict(headers or {})
        self.sleep = sleep or _time.sleep
        self.opener = opener or self._open
        self._context = None
        self.requests = 0
        self._id = 0

    # -- transport ---------------------------------------------------------------------
    def _open(self, url, data=None, headers=None, method='POST', timeout=30, validate_certs=True, http_agent=None,
              follow_redirects='safe'):
        """open_url, but with ONE TLS context for the client's life: open_url builds a new one (and
        loads the system's CA certificates, ~50 ms) for every request, and a deploy makes hundreds."""
        if self._context is None:
            self._context = make_context(validate_certs=validate_certs)
        return Request().open(method, url, data=data, headers=headers, timeout=timeout,
                              validate_certs=validate_certs, http_agent=http_agent,
                              follow_redirects=follow_redirects, context=self._context)

    def _delay(self, attempt, retry_after=None):
        delay = min(self.backoff * (2 ** attempt), self.max_backoff)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff * 4))
        return delay

    def _post_once(self, method, body):
        """One HTTP exchange -> decoded JSON; RpcError(kind, retryable flag on .retry)."""
        headers = {'Content-Type': 'application/json', 'Accept': 'application/json'}
        headers.update(self.headers)
        self.requests += 1
        try:
            response = self.opener(self.url, data=body, headers=headers, method='POST', timeout=self.timeout,
                                   validate_certs=self.validate_certs, http_agent='x402.runbook-solana-rpc',
                                   follow_redirects='safe')
            raw = response.read()
        except HTTPError as exc:
            status = exc.code
            try:
                text = exc.read().decode('utf-8', 'replace')[:300]
            except Exception:  # pylint: disable=broad-except
                text = ''
            # A JSON-RPC error may come with a non-200 status from some providers.
            try:
                answer = json.loads(text)
                if isinstance(answer, dict) and isinstance(answer.get('error'), dict) and status not in RETRYABLE_HTTP:
                    return answer
            except ValueError:
                pass
            error = RpcError('Solana RPC %s (%s) answered HTTP %d%s' % (self.shown_url, method, status,
                                                                        ': %s' % text.strip() if text.strip() else ''),
                             'http', method, self.shown_url, status=status)
            error.retry = status in RETRYABLE_HTTP
            retry_after = exc.headers.get('Retry-After') if exc.headers else None
            try:
                error.retry_after = float(retry_after) if retry_after else None
            except ValueError:
                error.retry_after = None
            raise error
        except (socket.timeout, TimeoutError) as exc:
            error = RpcError('Solana RPC %s (%s) did not answer within %ss' % (self.shown_url, method, self.timeout),
                             'timeout', method, self.shown_url)
            error.retry = True
            raise error
        except (URLError, UrlsConnectionError, ConnectionError, ssl.SSLError, socket.error, OSError) as exc:
            reason = getattr(exc, 'reason', None) or exc
            if isinstance(reason, (socket.timeout, TimeoutError)):
                error = RpcError('Solana RPC %s (%s) did not answer within %ss' % (self.shown_url, method, self.timeout),
                                 'timeout', method, self.shown_url)
            else:
                error = RpcError('Solana RPC %s (%s) is unreachable: %s' % (self.shown_url, method, reason),
                                 'connection', method, self.shown_url)
            # A certificate problem does not heal by retrying.
            error.retry = not isinstance(reason, ssl.SSLError) and 'CERTIFICATE' not in str(reason).upper()
            raise error
        try:
            return json.loads(raw.decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            excerpt = raw[:120].decode('utf-8', 'replace')
            error = RpcError('Solana RPC %s (%s) answered something that is not JSON: %r'
                             % (self.shown_url, method, excerpt), 'invalid_response', method, self.shown_url)
            error.retry = False
            raise error

    def call(self, method, params=None, retry=True):
        """Call one method; return its `result`. Retries what may heal (see the module doc)."""
        self._id += 1
        body = json.dumps({'jsonrpc': '2.0', 'id': self._id, 'method': method,
                           'params': params if params is not None else []}).encode('utf-8')
        attempts = (self.retries + 1) if retry else 1
        started = _time.time()
        last = None
        for attempt in range(attempts):
            try:
                answer = self._post_once(method, body)
            except RpcError as exc:
                last = exc
                if not getattr(exc, 'retry', False) or attempt == attempts - 1:
                    break
                self.sleep(self._delay(attempt, getattr(exc, 'retry_after', None)))
                continue
            if not isinstance(answer, dict) or ('result' not in answer and 'error' not in answer):
                last = RpcError('Solana RPC %s (%s) answered JSON that is not a JSON-RPC response: %s'
                                % (self.shown_url, method, json.dumps(answer)[:120]),
                                'invalid_response', method, self.shown_url)
                break
            error = answer.get('error')
            if error is not None:
                code = error.get('code') if isinstance(error, dict) else None
                message = error.get('message') if isinstance(error, dict) else str(error)
                last = RpcError('Solana RPC %s (%s) returned error %s: %s' % (self.shown_url, method, code, message),
                                'rpc', method, self.shown_url, code=code,
                                data=error.get('data') if isinstance(error, dict) else None)
                last.node_message = 'error %s: %s' % (code, message)
                if code in RETRYABLE_RPC and attempt < attempts - 1:
                    self.sleep(self._delay(attempt))
                    continue
                break
            return answer['result']
        last.attempts = attempt + 1
        if last.attempts > 1 and last.kind != 'rpc':
            last.message += ' (after %d attempts over %.1f s)' % (last.attempts, _time.time() - started)
        raise last

    # -- methods -----------------------------------------------------------------------
    @staticmethod
    def _value(result):
        if isinstance(result, dict) and 'value' in result:
            return result['value']
        return result

    def get_health(self):
        return self.call('getHealth', retry=False)

    def get_version(self):
        return self.call('getVersion')

    def get_genesis_hash(self):
        return self.call('getGenesisHash')

    def get_slot(self, commitment='confirmed'):
        return int(self.call('getSlot', [{'commitment': commitment}]))

    def get_block_height(self, commitment='confirmed'):
        return int(self.call('getBlockHeight', [{'commitment': commitment}]))

    def get_balance(self, pubkey, commitment='confirmed'):
        value = self._value(self.call('getBalance', [str(pubkey), {'commitment': commitment}]))
        if isinstance(value, bool) or not isinstance(value, int):
            raise RpcError('Solana RPC %s (getBalance) returned %r, not a number of lamports'
                           % (self.shown_url, value), 'invalid_response', 'getBalance', self.shown_url)
        return value

    @staticmethod
    def _account(value, method, url):
        if value is None:
            return None
        try:
            data = value['data']
            if isinstance(data, list):
                raw = base64.b64decode(data[0]) if data[1] == 'base64' else None
            else:
                raw = None
            if raw is None:
                raise ValueError('data is not base64')
            return {'lamports': int(value['lamports']), 'owner': str(value['owner']),
                    'executable': bool(value['executable']), 'data': raw,
                    'rent_epoch': value.get('rentEpoch'), 'space': value.get('space', len(raw))}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise RpcError('Solana RPC %s (%s) returned an account that cannot be read (%s): %s'
                           % (url, method, exc, json.dumps(value)[:120]), 'invalid_response', method, url)

    def get_account_info(self, pubkey, commitment='confirmed', data_slice=None):
        """-> {lamports, owner, executable, data (bytes), rent_epoch, space} or None."""
        config = {'encoding': 'base64', 'commitment': commitment}
        if data_slice is not None:
            config['dataSlice'] = {'offset': data_slice[0], 'length': data_slice[1]}
        value = self._value(self.call('getAccountInfo', [str(pubkey), config]))
        return self._account(value, 'getAccountInfo', self.shown_url)

    def get_multiple_accounts(self, pubkeys, commitment='confirmed'):
        accounts = []
        keys = [str(k) for k in pubkeys]
        for start in range(0, len(keys), 100):
            params = [keys[start:start + 100], {'encoding': 'base64', 'commitment': commitment}]
            value = self._value(self.call('getMultipleAccounts', params))
            accounts.extend(self._account(v, 'getMultipleAccounts', self.shown_url) for v in value)
        return accounts

    def get_program_accounts(self, program_id, filters=None, commitment='confirmed', data_slice=None):
        config = {'encoding': 'base64', 'commitment': commitment, 'filters': filters or []}
        if data_slice is not None:
            config['dataSlice'] = {'offset': data_slice[0], 'length': data_slice[1]}
        result = self._value(self.call('getProgramAccounts', [str(program_id), config]))
        return [(item['pubkey'], self._account(item['account'], 'getProgramAccounts', self.shown_url))
                for item in result]

    def get_latest_blockhash(self, commitment='confirmed'):
        """-> (blockhash, last valid block height)."""
        value = self._value(self.call('getLatestBlockhash', [{'commitment': commitment}]))
        try:
            return str(value['blockhash']), int(value['lastValidBlockHeight'])
        except (KeyError, TypeError, ValueError):
            raise RpcError('Solana RPC %s (getLatestBlockhash) returned %s' % (self.shown_url, json.dumps(value)[:120]),
                           'invalid_response', 'getLatestBlockhash', self.shown_url)

    def get_minimum_balance_for_rent_exemption(self, size, commitment='confirmed'):
        return int(self.call('getMinimumBalanceForRentExemption', [int(size), {'commitment': commitment}]))

    def get_fee_for_message(self, message, commitment='confirmed'):
        """Fee in lamports of a compiled message (bytes); None when its blockhash expired."""
        encoded = base64.b64encode(bytes(message)).decode('ascii')
        value = self._value(self.call('getFeeForMessage', [encoded, {'commitment': commitment}]))
        return None if value is None else int(value)

    def send_transaction(self, raw, preflight_commitment='confirmed', skip_preflight=False):
        """Send a signed transaction (bytes); -> its signature. A retry of a transaction
        that already landed answers 'already processed': the caller confirms it."""
        encoded = base64.b64encode(bytes(raw)).decode('ascii')
        return str(self.call('sendTransaction', [encoded, {
            'encoding': 'base64', 'skipPreflight': bool(skip_preflight),
            'preflightCommitment': preflight_commitment, 'maxRetries': 0}]))

    def get_signature_statuses(self, signatures):
        statuses = []
        sigs = [str(s) for s in signatures]
        for start in range(0, len(sigs), 256):
            params = [sigs[start:start + 256], {'searchTransactionHistory': False}]
            value = self._value(self.call('getSignatureStatuses', params))
            statuses.extend(value)
        return statuses

    def request_airdrop(self, pubkey, lamports, commitment='confirmed'):
        return str(self.call('requestAirdrop', [str(pubkey), int(lamports), {'commitment': commitment}]))


def is_already_processed(error):
    text = str(error).lower()
    data = error.data if isinstance(error, RpcError) else None
    return 'already been processed' in text or (isinstance(data, dict) and data.get('err') == 'AlreadyProcessed')


def is_blockhash_not_found(error):
    data = error.data if isinstance(error, RpcError) else None
    return 'blockhash not found' in str(error).lower() or (isinstance(data, dict) and data.get('err') == 'BlockhashNotFound')


class TransactionFailed(Exception):
    """A transaction was refused (preflight) or landed with an error, or could not be
    confirmed. `label` says which one (e.g. 'Write 17/100'), `logs` are the program logs."""

    def __init__(self, message, label=None, signature=None, logs=None, err=None, landed=False):
        super(TransactionFailed, self).__init__(message)
        self.message = message
        self.label = label
        self.signature = signature
        self.logs = list(logs or [])
        self.err = err
        self.landed = landed

    def __str__(self):
        return self.message


def describe_logs(logs, limit=6):
    """The informative lines of program logs (the loader's own words, e.g. an ELF error),
    at most `limit` of them."""
    lines = [str(line) for line in logs or []]
    useful = [line for line in lines if not line.startswith(('Program 1111', 'Program log: Instruction'))
              and ' invoke [' not in line and not line.endswith(' success')]
    return useful[-limit:]


class TransactionSender:
    """Send signed transactions and confirm every one of them.

    `send_all(items)` takes (label, build, signatures) tuples where build(blockhash) returns
    (raw bytes, signature). Transactions go out in windows sharing one blockhash; their
    statuses are polled (getSignatureStatuses) until each reaches `commitment`. A window
    whose blockhash expires before all landed is rebuilt with a fresh blockhash and sent
    again (at most `max_resends` times); a retry of a transaction that already landed is
    recognised. A refused or failed transaction raises TransactionFailed at once.
    Landed transactions are counted in `landed` (label, signature, signatures, slot)."""

    def __init__(self, rpc, commitment='confirmed', timeout=60, poll_interval=0.4, window=64,
                 max_resends=5, sleep=None, clock=None):
        self.rpc = rpc
        self.commitment = commitment
        self.timeout = float(timeout)
        self.poll_interval = poll_interval
        self.window = max(1, int(window))
        self.max_resends = max_resends
        self.sleep = sleep or _time.sleep
        self.clock = clock or _time.monotonic
        self.landed = []
        self.sent = 0
        self.resent = 0

    @property
    def signatures_landed(self):
        return sum(item[2] for item in self.landed)

    def _landed(self, status):
        if status is None:
            return False
        level = status.get('confirmationStatus')
        if level is None:  # old nodes: confirmations null means rooted
            return status.get('confirmations') is None or commitment_rank(self.commitment) <= 1
        return commitment_rank(level) >= commitment_rank(self.commitment)

    def _settle(self, inflight, items):
        """Before giving up: count what already landed of the transactions in flight (their fees
        are spent), as far as the node still answers."""
        if not inflight:
            return
        try:
            signatures = list(inflight)
            for signature, status in zip(signatures, self.rpc.get_signature_statuses(signatures)):
                if status is not None:
                    label, _build, count = items[inflight[signature]]
                    self.landed.append((label, signature, count, status.get('slot')))
        except RpcError:
            pass

    def send_one(self, label, build, signatures=1):
        return self.send_all([(label, build, signatures)])[0]

    def _window(self, items, batch, blockhash, last_valid, inflight, results):
        """Send one window of transactions sharing `blockhash`, and confirm them. Returns True when
        the blockhash went stale before all landed (the rest are sent again with a fresh one)."""
        for index in batch:
            label, build, _count = items[index]
            raw, signature = build(blockhash)
            inflight[signature] = index  # before sending: an interruption mid-request may still see it land
            try:
                self.rpc.send_transaction(raw, preflight_commitment=self.commitment)
            except RpcError as exc:
                if is_blockhash_not_found(exc):
                    del inflight[signature]
                    return True  # the blockhash expired under us: a new window with a fresh one
                if not is_already_processed(exc):  # (already processed: an earlier attempt landed)
                    logs = describe_logs(exc.logs)
                    raise TransactionFailed('%s was refused by %s: %s%s' % (
                        label, self.rpc.shown_url, exc.node_message,
                        '; program logs: %s' % ' | '.join(logs) if logs else ''),
                        label=label, signature=signature, logs=exc.logs,
                        err=exc.data.get('err') if isinstance(exc.data, dict) else None)
            self.sent += 1
        deadline = self.clock() + self.timeout
        while inflight:
            signatures = list(inflight)
            for signature, status in zip(signatures, self.rpc.get_signature_statuses(signatures)):
                if status is None:
                    continue
                label, _build, count = items[inflight[signature]]
                if status.get('err') is not None:
                    del inflight[signature]
                    self.landed.append((label, signature, count, status.get('slot')))
                    raise TransactionFailed('%s (%s) landed in slot %s but failed: %s'
                                            % (label, signature, status.get('slot'), json.dumps(status['err'])),
                                            label=label, signature=signature, err=status['err'], landed=True)
                if self._landed(status):
                    self.landed.append((label, signature, count, status.get('slot')))
                    results[inflight.pop(signature)] = {'signature': signature, 'slot': status.get('slot')}
            if not inflight:
                return False
            if self.rpc.get_block_height(self.commitment) > last_valid:
                return True
            if self.clock() > deadline:
                first = list(inflight)[0]
                raise TransactionFailed('%d transaction(s) not %s within %ss; first: %s (%s)' % (
                    len(inflight), self.commitment, format(self.timeout, 'g'), items[inflight[first]][0], first),
                    label=items[inflight[first]][0], signature=first)
            self.sleep(self.poll_interval)
        return False

    def send_all(self, items):
        items = list(items)
        results = [None] * len(items)
        pending = list(range(len(items)))
        stalls = 0
        while pending:
            blockhash, last_valid = self.rpc.get_latest_blockhash(self.commitment)
            batch = pending[:self.window]
            inflight = {}
            try:
                stale = self._window(items, batch, blockhash, last_valid, inflight, results)
            except BaseException:
                # refused, failed, timed out, or interrupted: what landed of the window is spent all the same
                self._settle(inflight, items)
                raise
            progress = any(results[index] is not None for index in batch)
            pending = [index for index in pending if results[index] is None]
            if pending and stale:
                self.resent += 1
                stalls = 0 if progress else stalls + 1
                if stalls > self.max_resends:
                    raise TransactionFailed('%d transaction(s) did not land before their blockhash expired, %d times '
                                            'in a row; first: %s' % (len(pending), stalls, items[pending[0]][0]),
                                            label=items[pending[0]][0])
        return results
