# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deployment-day smoke tests of the prover service (checklist section "Smoke Tests").

Used by the ``x402.runbook.prover_smoke`` module. Every check returns results in the
collection's shape ``{id, name, kind, observed, rule, status, detail}`` (``kind`` lets
``go_no_go`` read them). HTTP goes through ansible-core's ``urls.Request``; Prometheus through
:class:`PrometheusClient`. The API key is sent, never reported: every text this file
produces passes :func:`scrub` first.

Order of the prover calls matters: health, auth, CORS, the proof, and the rate-limit burst
LAST, because the burst empties this client's token bucket.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import inspect
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import tempfile
import time as _time
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request, make_context

from ansible_collections.x402.runbook.plugins.module_utils.prometheus import (
    PrometheusClient,
    PrometheusError,
    format_time,
    redact_url,
    series_of,
)

# Run order. The burst is the last call to the prover; metrics and alert do not touch it.
CHECKS = ('health', 'auth', 'cors', 'proof', 'rate_limit', 'metrics', 'alert')
ITEM = 'deployment_day.smoke_tests.%d'
# Public inputs of the payment circuit (TARGET_SYSTEM.md): the proof must carry the request's values.
PUBLIC_FIELDS = ('minAmount', 'recipientKeyX', 'recipientKeyY', 'maxBlockAge', 'currentTime')
# Contract metrics that exist from the first scrape (counters and gauges without labels, a histogram).
DEFAULT_METRICS = ('proof_generation_total', 'proof_generation_errors_total',
                   'proof_generation_duration_seconds_bucket', 'active_requests', 'circuit_constraints_total')
ALERT_NAME = 'X402SmokeTest'
REDACTED = '********'
_EXCERPT = 200
_METRIC_NAME = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
_ANSI = re.compile(r'\x1b\[[0-9;]*m')
_POLL = 0.25


# An ansible-core whose Request.open takes no context builds one per request (slow, but it works).
try:
    _REQUEST_TAKES_CONTEXT = 'context' in inspect.signature(Request.open).parameters
except (TypeError, ValueError):
    _REQUEST_TAKES_CONTEXT = False


class SmokeError(ValueError):
    """Bad input: the message names the field, the value and the rule."""


class TransportError(Exception):
    """No HTTP answer at all. kind: connection (refused, DNS, TLS), timeout, protocol (a broken answer)."""

    def __init__(self, message, kind):
        super(TransportError, self).__init__(message)
        self.kind = kind


def scrub(text, secret_values):
    """TEXT with every secret replaced by ********."""
    text = '%s' % (text,)
    for value in secret_values:
        if value:
            text = text.replace(value, REDACTED)
    return text


def scrub_value(value, secret_values):
    """A JSON-like VALUE with every secret replaced by ******** in its strings (keys included)."""
    if isinstance(value, dict):
        return dict((scrub(k, secret_values), scrub_value(v, secret_values)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [scrub_value(v, secret_values) for v in value]
    if isinstance(value, str):
        return scrub(value, secret_values)
    return value


def excerpt(text):
    text = (text or '').strip()
    return text[:_EXCERPT] + ('...' if len(text) > _EXCERPT else '') if text else '(empty body)'


def show(value):
    """An observed value as a person reads it in a message (compact JSON)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(', ', ': '), default=str)


def sample_proof_request(now):
    """A valid /generate-proof body with fixed amounts and keys and timestamps relative to NOW."""
    now = int(now)
    return {
        'minAmount': '1000', 'recipientKeyX': '1234567890', 'recipientKeyY': '9876543210',
        'maxBlockAge': '300', 'currentTime': str(now),
        'actualAmount': '1500', 'senderKeyX': '111', 'senderKeyY': '222', 'paymentTime': str(now - 60),
        'signatureR8x': '333', 'signatureR8y': '444', 'signatureS': '555',
    }


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = dict((k.lower(), v) for k, v in (headers or {}).items())
        self.text = body.decode('utf-8', 'replace') if isinstance(body, bytes) else (body or '')

    def json(self):
        """The body as JSON, or ValueError saying what came instead."""
        try:
            return json.loads(self.text)
        except ValueError:
            raise ValueError('HTTP %s with a body that is not JSON: %s' % (self.status, excerpt(self.text)))


class HttpClient:
    """Requests to one base URL; any HTTP status is an answer, only transport failures raise."""

    def __init__(self, base_url, timeout, validate_certs=True, secret_values=()):
        self.base = base_url.rstrip('/')
        self.display = redact_url(self.base)
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.secret_values = [s for s in secret_values if s]
        # One TLS context for every request: building one per request (open_url does) loads the CA store
        # each time, ~0.2 s, which would let the bucket refill during the rate-limit burst.
        self._http = Request(follow_redirects='none', timeout=timeout, validate_certs=validate_certs)
        self._context = None

    def request(self, method, path, body=None, headers=None):
        where = '%s %s%s' % (method, self.display, path)
        data = None
        hdrs = {'Accept': 'application/json'}
        if body is not None:
            data = json.dumps(body).encode()
            hdrs['Content-Type'] = 'application/json'
        hdrs.update(headers or {})
        try:
            extra = {}
            if _REQUEST_TAKES_CONTEXT:
                if self._context is None:
                    # Plain http never uses the context (redirects are not followed): skip loading the CA store.
                    self._context = (make_context(validate_certs=self.validate_certs)
                                     if self.base.startswith('https:') else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
                extra['context'] = self._context
            response = self._http.open(method, self.base + path, data=data, headers=hdrs, **extra)
            return Response(getattr(response, 'status', None) or response.getcode(),
                            dict(response.headers.items()), response.read())
        except HTTPError as exc:
            try:
                text = exc.read()
            except Exception:  # pylint: disable=broad-except  # the status is the answer; the body is a bonus
                text = b''
            return Response(exc.code, dict(exc.headers.items()) if exc.headers else {}, text)
        except (socket.timeout, TimeoutError) as exc:
            raise self._error('%s: no answer within %s s (%s)' % (where, self.timeout, exc or 'timed out'), 'timeout')
        except URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise self._error('%s: no answer within %s s (%s)' % (where, self.timeout, reason), 'timeout')
            if isinstance(reason, socket.gaierror):
                reason = 'cannot resolve host %r: %s' % (urlsplit(self.base).hostname, reason)
            raise self._error('%s: cannot connect: %s' % (where, reason), 'connection')
        except (http.client.HTTPException, ConnectionResetError) as exc:
            raise self._error('%s: the connection broke without a valid answer (%s: %s)'
                              % (where, type(exc).__name__, exc), 'protocol')
        except (UrlsConnectionError, ssl.SSLError, OSError) as exc:
            raise self._error('%s: cannot connect: %s' % (where, exc), 'connection')
        except ValueError as exc:  # an invalid port or URL
            raise self._error('%s: invalid URL: %s' % (where, exc), 'connection')

    def _error(self, message, kind):
        return TransportError(scrub(message, self.secret_values), kind)


def result(check, number, name, status, observed, rule, detail, kind='gate'):
    return {'id': ITEM % number, 'check': check, 'name': name, 'kind': kind, 'observed': observed,
            'rule': rule, 'status': status, 'detail': detail}


def blocking(entry):
    """A gate that failed or has no data blocks (fail closed); expectations only warn."""
    return entry['kind'] == 'gate' and entry['status'] in ('fail', 'no_data')


def _is_url(value):
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ('http', 'https') and bool(parts.hostname)


def select_checks(params):
    """The checks to run, in run order: the requested ones (each must have its inputs) or, by default,
    every check whose inputs are given. Raises SmokeError naming the missing field."""
    needs = {
        'health': (),
        'auth': ('api_key',),
        'cors': ('allowed_origin',),
        'proof': ('api_key', 'verification_key'),
        'rate_limit': ('rate_limit_burst',),
        'metrics': ('prometheus_url',),
        'alert': ('alertmanager_url',),
    }
    requested = params.get('checks')
    if requested is None:
        return [c for c in CHECKS if all(params.get(f) not in (None, '') for f in needs[c])]
    if not requested:
        raise SmokeError('checks: [] selects nothing: name at least one of %s, or leave it unset for every check '
                         'whose inputs are given' % ', '.join(CHECKS))
    for check in requested:
        if check not in needs:
            raise SmokeError('checks: %r is not a check: choose from %s' % (check, ', '.join(CHECKS)))
        for field in needs[check]:
            if params.get(field) in (None, ''):
                raise SmokeError('%s: not set, but check %r needs it' % (field, check))
    return [c for c in CHECKS if c in requested]


def validate(params, checks):
    """Input rules that the argument spec cannot express. Raises SmokeError (field, value, rule)."""
    for field in ('url', 'prometheus_url', 'alertmanager_url'):
        value = params.get(field)
        if value and not _is_url(value):
            raise SmokeError('%s: %r is not a URL: it must be http:// or https:// with a host'
                             % (field, redact_url(value)))
    if not params.get('url'):
        raise SmokeError("url: not set: the prover's base URL (through the load balancer) is required")
    if params['timeout'] <= 0:
        raise SmokeError('timeout: %r must be a positive number of seconds' % (params['timeout'],))
    burst = params.get('rate_limit_burst')
    if burst is not None and burst < 1:
        raise SmokeError('rate_limit_burst: %r must be >= 1 (the service\'s RATE_LIMIT_BURST)' % (burst,))
    for field, minimum in (('rate_limit_instances', 1), ('rate_limit_margin', 0)):
        if params.get(field) is not None and params[field] < minimum:
            raise SmokeError('%s: %r must be >= %d' % (field, params[field], minimum))
    if 'cors' in checks:
        if params['allowed_origin'] == params['foreign_origin']:
            raise SmokeError('foreign_origin: %r equals allowed_origin: the foreign origin must be one the service '
                             'does NOT allow' % (params['foreign_origin'],))
    if 'proof' in checks:
        key = params['verification_key']
        try:
            with open(key) as handle:
                vkey = json.load(handle)
        except (OSError, ValueError) as exc:
            raise SmokeError('verification_key: %r cannot be read as JSON: %s' % (key, exc))
        if not isinstance(vkey, dict) or vkey.get('protocol') != 'groth16':
            raise SmokeError('verification_key: %r is not a Groth16 verification key (protocol %r, expected '
                             "'groth16')" % (key, vkey.get('protocol') if isinstance(vkey, dict) else None))
        given = params.get('snarkjs') or 'snarkjs'
        snarkjs = given if os.sep in given else shutil.which(given)  # a bare name is looked up on PATH
        if not snarkjs or not (os.path.isfile(snarkjs) and os.access(snarkjs, os.X_OK)):
            raise SmokeError('snarkjs: %r is not an executable file%s (the snarkjs CLI verifies the proof locally; '
                             'give its path, e.g. node_modules/.bin/snarkjs)'
                             % (given, '' if os.sep in given else ' on PATH'))
        params['snarkjs'] = snarkjs
        if params.get('proof_request') is not None and not isinstance(params['proof_request'], dict):
            raise SmokeError('proof_request: must be a mapping of input name to decimal string')
    for name in params.get('prometheus_metrics') or ():
        if not _METRIC_NAME.match(name or ''):
            raise SmokeError('prometheus_metrics: %r is not a Prometheus metric name' % (name,))


def _label_value(text):
    return text.replace('\\', '\\\\').replace('"', '\\"')


class SmokeTests:
    """Runs the selected checks against the prover (and Prometheus, Alertmanager); see run()."""

    def __init__(self, params, checks, run_command, check_mode=False, clock=_time.time, sleep=_time.sleep):
        self.p = params
        self.checks = checks
        self.run_command = run_command
        self.check_mode = check_mode
        self.clock, self.sleep = clock, sleep
        self.secret_values = [params.get('api_key') or '']
        self.prover = HttpClient(params['url'], params['timeout'], params['validate_certs'], self.secret_values)
        self.unreachable = None   # the first connection failure: later prover checks are not attempted
        self.api_calls = 0        # API requests made before the burst (they took tokens from the bucket)
        self.proof = {}
        self.wrong_key = 'x402-smoke-wrong-key-' + secrets.token_hex(16)

    # -- plumbing ------------------------------------------------------------------------------------
    def _scrub(self, text):
        return scrub(text, self.secret_values)

    def _key_headers(self, key):
        return {self.p['api_key_header']: key}

    def _call(self, method, path, body=None, headers=None, api=False):
        if self.unreachable:
            raise TransportError('not attempted: %s' % self.unreachable, 'connection')
        if api:
            self.api_calls += 1
        try:
            return self.prover.request(method, path, body=body, headers=headers)
        except TransportError as exc:
            if exc.kind == 'connection':
                self.unreachable = str(exc)
            raise

    # -- checks --------------------------------------------------------------------------------------
    def check_health(self):
        expected = self.p.get('expected_version')
        rule = 'GET /health answers 200 with status "healthy"' + (' and version %s' % expected if expected else '')
        name = 'health check passes'
        try:
            resp = self._call('GET', '/health')
        except TransportError as exc:
            return [result('health', 1, name, 'fail', {'error': str(exc)}, rule, self._scrub(exc))]
        observed = {'http_status': resp.status}
        try:
            body = resp.json()
        except ValueError as exc:
            return [result('health', 1, name, 'fail', observed, rule, 'GET /health: %s' % self._scrub(exc))]
        if isinstance(body, dict):
            observed.update(status=body.get('status'), version=body.get('version'))
        problems = []
        if resp.status != 200:
            problems.append('HTTP %s' % resp.status)
        if observed.get('status') != 'healthy':
            problems.append('status %r' % (observed.get('status'),))
        if expected and observed.get('version') != expected:
            problems.append('version %r, expected %r' % (observed.get('version'), expected))
        if problems:
            return [result('health', 1, name, 'fail', observed, rule, 'GET /health: %s' % ', '.join(problems))]
        return [result('health', 1, name, 'pass', observed, rule,
                       'GET /health: 200 healthy, version %s' % observed.get('version'))]

    def check_auth(self):
        rule = ('a valid API key is accepted (GET /cache/stats answers 2xx); POST /generate-proof without a key '
                'and with a wrong key answers 401')
        name = 'authentication works'
        body = self._proof_request()
        cases = (
            ('valid_key', 'GET', '/cache/stats', None, self._key_headers(self.p['api_key'])),
            ('missing_key', 'POST', '/generate-proof', body, {}),
            ('wrong_key', 'POST', '/generate-proof', body, self._key_headers(self.wrong_key)),
        )
        observed, problems = {}, []
        for label, method, path, payload, headers in cases:
            try:
                status = self._call(method, path, body=payload, headers=headers, api=True).status
            except TransportError as exc:
                observed[label] = None
                problems.append('%s: %s' % (label, self._scrub(exc)))
                continue
            observed[label] = status
            if label == 'valid_key' and not 200 <= status < 300:
                problems.append('a valid key got HTTP %s on GET /cache/stats' % status)
            elif label != 'valid_key' and status != 401:
                problems.append('%s got HTTP %s on POST /generate-proof, expected 401'
                                % (label.replace('_', ' '), status))
        if problems:
            return [result('auth', 5, name, 'fail', observed, rule, '; '.join(problems))]
        return [result('auth', 5, name, 'pass', observed, rule,
                       'valid key accepted (HTTP %s), missing and wrong key refused with 401' % observed['valid_key'])]

    def check_cors(self):
        allowed, foreign = self.p['allowed_origin'], self.p['foreign_origin']
        rule = ('a CORS preflight (OPTIONS /generate-proof) from %s gets Access-Control-Allow-Origin for it; one '
                'from %s gets none (nor *)' % (allowed, foreign))
        name = 'CORS restricted to ALLOWED_ORIGINS'
        observed, problems = {}, []
        for label, origin in (('allowed', allowed), ('foreign', foreign)):
            headers = {'Origin': origin, 'Access-Control-Request-Method': 'POST',
                       'Access-Control-Request-Headers': 'content-type, %s' % self.p['api_key_header'].lower()}
            try:
                resp = self._call('OPTIONS', '/generate-proof', headers=headers)
            except TransportError as exc:
                observed[label] = None
                problems.append('%s origin: %s' % (label, self._scrub(exc)))
                continue
            allow = resp.headers.get('access-control-allow-origin')
            observed[label] = {'origin': origin, 'http_status': resp.status, 'allow_origin': allow}
            if label == 'allowed' and allow not in (origin, '*'):
                problems.append('allowed origin %s: Access-Control-Allow-Origin is %s (HTTP %s)'
                                % (origin, 'missing' if allow is None else repr(allow), resp.status))
            if label == 'foreign' and allow in (origin, '*'):
                problems.append('foreign origin %s is allowed: Access-Control-Allow-Origin %r' % (origin, allow))
        if problems:
            return [result('cors', 5, name, 'fail', observed, rule, '; '.join(problems))]
        return [result('cors', 5, name, 'pass', observed, rule,
                       '%s allowed, %s refused (HTTP %s, no Access-Control-Allow-Origin)'
                       % (allowed, foreign, observed['foreign']['http_status']))]

    def _proof_request(self):
        if self.p.get('proof_request'):
            return dict(self.p['proof_request'])
        return sample_proof_request(self.clock())

    def check_proof(self):
        rule2 = ('POST /generate-proof with known inputs answers 200 with a Groth16 proof whose public inputs carry '
                 "the request's %s" % ', '.join(PUBLIC_FIELDS))
        name2 = 'test proof generated with known inputs'
        rule3 = 'the proof verifies against verification_key with snarkjs groth16 verify (locally)'
        name3 = 'proof verified (locally with snarkjs; on-chain needs the verifier program)'
        request = self._proof_request()

        def not_verified(reason):
            return result('proof', 3, name3, 'no_data', None, rule3,
                          'no proof to verify (%s); on-chain verification needs the real verifier program '
                          'and was not done here' % reason)

        try:
            resp = self._call('POST', '/generate-proof', body=request,
                              headers=self._key_headers(self.p['api_key']), api=True)
        except TransportError as exc:
            return [result('proof', 2, name2, 'fail', {'error': self._scrub(exc)}, rule2, self._scrub(exc)),
                    not_verified('generation failed')]
        observed = {'http_status': resp.status}
        try:
            body = resp.json()
        except ValueError as exc:
            body, problem = None, self._scrub(exc)
        else:
            problem = None
        if problem is None and resp.status != 200:
            problem = 'HTTP %s: %s' % (resp.status, excerpt(self._scrub(resp.text)))
        if problem is None and not (isinstance(body, dict) and isinstance(body.get('proof'), dict)
                                    and isinstance(body.get('publicInputs'), list)):
            problem = 'HTTP 200 without "proof" and "publicInputs": %s' % excerpt(self._scrub(resp.text))
        if problem:
            return [result('proof', 2, name2, 'fail', observed, rule2, 'POST /generate-proof: %s' % problem),
                    not_verified('generation failed')]
        public = [str(v) for v in body['publicInputs']]
        observed.update(public_inputs=public, generation_time_ms=body.get('generationTimeMs'),
                        cached=body.get('cached'))
        self.proof = {'public_inputs': public, 'commitment': body.get('commitment'),
                      'generation_time_ms': body.get('generationTimeMs'), 'cached': body.get('cached'),
                      'proof': body['proof']}
        missing = [f for f in PUBLIC_FIELDS if f in request and not _contains(public, request[f])]
        if missing:
            first = result('proof', 2, name2, 'fail', observed, rule2,
                           "the proof's public inputs %s do not carry the request's %s"
                           % (public, ', '.join('%s=%s' % (f, request[f]) for f in missing)))
        else:
            first = result('proof', 2, name2, 'pass', observed, rule2,
                           'proof generated%s in %s ms; public inputs carry the known inputs'
                           % (' (from the cache)' if body.get('cached') else '', body.get('generationTimeMs')))
        return [first, self._verify(body['proof'], public, rule3, name3)]

    def _verify(self, proof, public, rule, name):
        vkey = self.p['verification_key']
        on_chain = ('on-chain verification needs the real verifier program (x402_zk_verifier) on the cluster; '
                    'it was not done here')
        workdir = tempfile.mkdtemp(prefix='x402-smoke-')
        try:
            proof_file, public_file = os.path.join(workdir, 'proof.json'), os.path.join(workdir, 'public.json')
            with open(proof_file, 'w') as handle:
                json.dump(proof, handle)
            with open(public_file, 'w') as handle:
                json.dump(public, handle)
            rc, out, err = self.run_command([self.p['snarkjs'], 'groth16', 'verify', vkey, public_file, proof_file])
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        text = _ANSI.sub('', '%s\n%s' % (out or '', err or '')).strip()
        valid = rc == 0 and 'OK' in text
        observed = {'verifier': 'snarkjs groth16 verify', 'verification_key': vkey, 'valid': valid, 'rc': rc}
        if valid:
            return result('proof', 3, name, 'pass', observed, rule,
                          'the proof verifies against %s (snarkjs, locally); %s' % (vkey, on_chain))
        return result('proof', 3, name, 'fail', observed, rule,
                      'the proof does NOT verify against %s (snarkjs rc %s: %s); %s'
                      % (vkey, rc, excerpt(self._scrub(text)), on_chain))

    def check_rate_limit(self):
        burst = self.p['rate_limit_burst']
        instances = self.p['rate_limit_instances']
        limit = burst * instances + self.p['rate_limit_margin']
        before = self.api_calls
        rule = ('a 429 within %d requests (RATE_LIMIT_BURST %d x %d instance(s) + margin %d), from one client, '
                'with Retry-After' % (limit, burst, instances, self.p['rate_limit_margin']))
        name = 'rate limiting works'
        headers = self._key_headers(self.p['api_key']) if self.p.get('api_key') else {}
        statuses = {}
        refused_at, retry_after, error = None, None, None
        for number in range(1, limit + 1):
            try:
                resp = self._call('POST', '/generate-proof', body={}, headers=headers, api=True)
            except TransportError as exc:
                error = self._scrub(exc)
                break
            statuses[str(resp.status)] = statuses.get(str(resp.status), 0) + 1
            if resp.status == 429:
                refused_at, retry_after = number, resp.headers.get('retry-after')
                break
        sent = sum(statuses.values())
        observed = {'requests': sent, 'first_429_at': refused_at, 'retry_after': retry_after,
                    'answers': statuses, 'api_calls_before': before}
        if error:
            return [result('rate_limit', 4, name, 'fail', observed, rule,
                           'the burst stopped after %d request(s): %s' % (sent, error))]
        if refused_at is None:
            return [result('rate_limit', 4, name, 'fail', observed, rule,
                           'no 429 in %d requests (answers %s): the limit is higher than RATE_LIMIT_BURST %d, or '
                           'rate limiting is off' % (sent, show(statuses), burst))]
        accepted = refused_at - 1
        floor = burst - before
        if accepted < floor:
            return [result('rate_limit', 4, name, 'warn', observed, rule,
                           '429 after only %d accepted request(s), fewer than RATE_LIMIT_BURST %d minus the %d API '
                           'call(s) made before: other traffic from this client, or a lower burst than declared'
                           % (accepted, burst, before), kind='expectation')]
        if not retry_after:
            return [result('rate_limit', 4, name, 'warn', observed, rule,
                           '429 at request %d, but without a Retry-After header' % refused_at, kind='expectation')]
        return [result('rate_limit', 4, name, 'pass', observed, rule,
                       '429 at request %d (after %d accepted), Retry-After %s' % (refused_at, accepted, retry_after))]

    def check_metrics(self):
        job = self.p['prometheus_job']
        names = list(self.p.get('prometheus_metrics') or DEFAULT_METRICS)
        rule = 'every target of job %r has up == 1 and exports %s' % (job, ', '.join(names))
        name = 'monitoring shows data'
        try:
            prom = PrometheusClient(self.p['prometheus_url'], timeout=self.p['timeout'],
                                    validate_certs=self.p['validate_certs'])
            up = series_of(prom.query('up{job="%s"}' % _label_value(job)))
            present = series_of(prom.query('count by (__name__, instance) ({job="%s", __name__=~"%s"})'
                                           % (_label_value(job), '|'.join(names))))
        except PrometheusError as exc:
            return [result('metrics', 6, name, 'fail', {'error': str(exc)}, rule, str(exc))]
        targets = dict((s['labels'].get('instance', '?'), s['value'][1]) for s in up)
        found = {}
        for series in present:
            found.setdefault(series['labels'].get('instance', '?'), set()).add(series['labels'].get('__name__'))
        missing = dict((inst, sorted(set(names) - found.get(inst, set()))) for inst in sorted(targets))
        missing = dict((inst, gone) for inst, gone in missing.items() if gone)
        observed = {'job': job, 'targets': targets, 'missing': missing}
        if not targets:
            return [result('metrics', 6, name, 'fail', observed, rule,
                           'Prometheus has no target of job %r (no up series)' % job)]
        down = sorted(inst for inst, value in targets.items() if value != 1)
        problems = []
        if down:
            problems.append('target(s) down: %s' % ', '.join(down))
        if missing:
            problems.append('metrics missing: %s' % '; '.join('%s: %s' % (i, ', '.join(m)) for i, m in missing.items()))
        if problems:
            return [result('metrics', 6, name, 'fail', observed, rule, '; '.join(problems))]
        return [result('metrics', 6, name, 'pass', observed, rule,
                       '%d target(s) of job %r up, each exporting the %d metrics' % (len(targets), job, len(names)))]

    def check_alert(self):
        rule = ('a test alert %s posted to Alertmanager is listed by GET /api/v2/alerts, then resolved (endsAt now) '
                'and no longer listed' % ALERT_NAME)
        name = 'test alert reaches Alertmanager'
        if self.check_mode:
            return [result('alert', 7, name, 'no_data', None, rule,
                           'not run in check mode: it would post an alert that receivers may notify people of',
                           kind='expectation')]
        client = HttpClient(self.p['alertmanager_url'], self.p['timeout'], self.p['validate_certs'])
        labels = {'alertname': ALERT_NAME, 'severity': 'none', 'source': 'x402.runbook.prover_smoke',
                  'release': self.p['release'], 'run_id': self.p['run_id']}
        started = format_time(self.clock())
        alert = {'labels': labels, 'startsAt': started, 'endsAt': format_time(self.clock() + 300),
                 'annotations': {'summary': 'Deployment smoke test of release %s: no action needed; the runbook '
                                            'resolves it at once' % self.p['release']}}
        query = '?' + urlencode([('filter', 'alertname="%s"' % ALERT_NAME),
                                 ('filter', 'run_id="%s"' % _label_value(self.p['run_id']))])
        observed = {'alertname': ALERT_NAME, 'release': self.p['release'], 'run_id': self.p['run_id'],
                    'posted': False, 'read_back': False, 'resolved': False}
        try:
            posted = client.request('POST', '/api/v2/alerts', body=[alert])
            if not 200 <= posted.status < 300:
                return [result('alert', 7, name, 'fail', observed, rule, 'POST /api/v2/alerts: HTTP %s: %s'
                               % (posted.status, excerpt(posted.text)))]
            observed['posted'] = True
            observed['read_back'] = self._poll_alert(client, query, present=True)
            alert['endsAt'] = format_time(self.clock())
            resolved = client.request('POST', '/api/v2/alerts', body=[alert])
            if not 200 <= resolved.status < 300:
                return [result('alert', 7, name, 'fail', observed, rule, 'resolving: POST /api/v2/alerts: HTTP %s: %s'
                               % (resolved.status, excerpt(resolved.text)))]
            observed['resolved'] = self._poll_alert(client, query, present=False)
        except (TransportError, ValueError) as exc:
            return [result('alert', 7, name, 'fail', observed, rule, 'Alertmanager: %s' % exc)]
        if not observed['read_back']:
            return [result('alert', 7, name, 'fail', observed, rule, 'posted, but GET /api/v2/alerts does not list '
                           'it within %s s' % self.p['timeout'])]
        if not observed['resolved']:
            return [result('alert', 7, name, 'fail', observed, rule, 'read back, but still active %s s after it was '
                           'resolved' % self.p['timeout'])]
        return [result('alert', 7, name, 'pass', observed, rule,
                       'posted, read back and resolved (run_id %s)' % self.p['run_id'])]

    def _poll_alert(self, client, query, present):
        """Whether the alert's listing reached the wanted state (listed or not) within the timeout."""
        deadline = self.clock() + self.p['timeout']
        while True:
            resp = client.request('GET', '/api/v2/alerts' + query)
            if resp.status != 200:
                raise ValueError('GET /api/v2/alerts: HTTP %s: %s' % (resp.status, excerpt(resp.text)))
            listed = resp.json()
            if not isinstance(listed, list):
                raise ValueError('GET /api/v2/alerts answered %s, not a list' % excerpt(resp.text))
            if bool(listed) == present:
                return True
            if self.clock() >= deadline:
                return False
            self.sleep(_POLL)

    # -- all -----------------------------------------------------------------------------------------
    def run(self):
        """{results, failed, proof, msg}; results in run order."""
        results = []
        for check in self.checks:
            results.extend(getattr(self, 'check_' + check)())
        for entry in results:  # defence in depth: no text leaves with the key in it
            entry['detail'] = self._scrub(entry['detail'])
            entry['observed'] = scrub_value(entry['observed'], self.secret_values)
        failed = [r for r in results if blocking(r)]
        warned = [r for r in results if not blocking(r) and r['status'] != 'pass']
        if failed:
            msg = '%d of %d smoke checks failed: %s' % (len(failed), len(results), '; '.join(
                '%s (%s): observed %s: %s' % (r['id'], r['check'], show(r['observed']), r['detail']) for r in failed))
        elif warned:
            msg = 'no smoke check failed; %d of %d passed, %d to look at: %s' % (
                len(results) - len(warned), len(results), len(warned), '; '.join(
                    '%s (%s) %s: %s' % (r['id'], r['check'], r['status'], r['detail']) for r in warned))
        else:
            msg = 'all %d smoke checks passed' % len(results)
        return {'results': results, 'failed': bool(failed), 'proof': self.proof, 'msg': self._scrub(msg)}


def _contains(values, wanted):
    """Whether the decimal WANTED is among VALUES (as numbers: '0300' == '300')."""
    try:
        number = int(str(wanted).strip())
    except ValueError:
        return str(wanted) in values
    for value in values:
        try:
            if int(value) == number:
                return True
        except ValueError:
            continue
    return False
