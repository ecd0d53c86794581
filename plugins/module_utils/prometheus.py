# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client of the Prometheus HTTP API (v1), built on ``open_url``.

It is shared by the modules that read Prometheus (metrics gates, the
post-deployment watch): no ``requests``, only ansible-core's ``open_url``.

Every failure -- connection refused, timeout, DNS, TLS, a non-2xx answer,
``"status": "error"`` (with Prometheus' ``errorType`` and ``error``, e.g. a
PromQL parse error) or a body that is not the expected JSON -- raises
:class:`PrometheusError` with a message a person can act on. Messages name the
URL (credentials embedded in it are redacted) and never carry request headers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import re
import socket
import ssl
import time as _time
from datetime import datetime, timezone
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit, urlunsplit
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

# How much of an unexpected (non-JSON) body to quote in an error message.
_BODY_EXCERPT = 200


class PrometheusError(Exception):
    """A request to Prometheus failed, or Prometheus rejected it.

    Attributes: ``url`` (redacted), ``status`` (HTTP status or None),
    ``error_type`` (Prometheus' errorType, e.g. ``bad_data``, or a local kind:
    ``connection``, ``timeout``, ``http``, ``invalid_json``, ``invalid_response``).
    """

    def __init__(self, message, url=None, status=None, error_type=None):
        super(PrometheusError, self).__init__(message)
        self.message = message
        self.url = url
        self.status = status
        self.error_type = error_type

    def __str__(self):
        return self.message


def redact_url(url):
    """``url`` without a password (or user) embedded in it, for messages and results."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ''
    if ':' in host:  # IPv6 literal
        host = '[%s]' % host
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = '***@%s%s' % (host, ':%d' % port if port else '')
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


_RFC3339 = re.compile(
    r'^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})$')


def parse_time(value):
    """Unix seconds (number or numeric string) or RFC 3339 -> float unix seconds.

    Raises ValueError with a message naming the value.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError('time must be unix seconds or an RFC 3339 timestamp, got %r' % (value,))
    if isinstance(value, (int, float)):
        result = float(value)
    else:
        text = str(value).strip()
        try:
            result = float(text)
        except ValueError:
            match = _RFC3339.match(text)
            if not match:
                raise ValueError(
                    'time must be unix seconds or an RFC 3339 timestamp '
                    '(e.g. 2024-01-01T00:00:00Z), got %r' % (value,))
            year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
            fraction = float(match.group(7) or 0)
            zone = match.group(8)
            try:
                stamp = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
            except ValueError as exc:
                raise ValueError('time %r is not a valid date: %s' % (value, exc))
            offset = 0
            if zone not in ('Z', 'z'):
                sign = -1 if zone[0] == '-' else 1
                digits = zone[1:].replace(':', '')
                offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
            epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
            result = (stamp - epoch).total_seconds() + fraction - offset
    if math.isnan(result) or math.isinf(result):
        raise ValueError('time must be a finite number of unix seconds, got %r' % (value,))
    return result


def format_time(seconds):
    """Unix seconds -> RFC 3339 UTC (milliseconds only when they are not zero)."""
    stamp = datetime.fromtimestamp(float(seconds), tz=timezone.utc)
    if stamp.microsecond:
        return stamp.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (stamp.microsecond // 1000)
    return stamp.strftime('%Y-%m-%dT%H:%M:%SZ')


def _format_param(value):
    """A number for a query parameter: no exponent, no needless decimals."""
    if isinstance(value, float):
        if value.is_integer():
            return '%d' % value
        return ('%.3f' % value).rstrip('0').rstrip('.')
    return str(value)


def sample_value(raw):
    """A Prometheus sample value (a string such as "0.93", "NaN", "+Inf") -> float."""
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise PrometheusError('Prometheus returned a sample value that is not a number: %r' % (raw,),
                              error_type='invalid_response')


def series_of(data):
    """The ``data`` of a query answer as a list of series.

    Instant vector -> ``[{'labels': {...}, 'value': (ts, float)}]``;
    scalar -> one series with empty labels; range matrix ->
    ``[{'labels': {...}, 'values': [(ts, float), ...]}]``. Strings raise.
    """
    if not isinstance(data, dict) or 'resultType' not in data:
        raise PrometheusError('Prometheus answer has no "data.resultType": %r' % (data,),
                              error_type='invalid_response')
    kind = data.get('resultType')
    result = data.get('result')
    try:
        if kind == 'vector':
            return [{'labels': dict(item.get('metric') or {}),
                     'value': (float(item['value'][0]), sample_value(item['value'][1]))}
                    for item in result or []]
        if kind == 'scalar':
            return [{'labels': {}, 'value': (float(result[0]), sample_value(result[1]))}]
        if kind == 'matrix':
            return [{'labels': dict(item.get('metric') or {}),
                     'values': [(float(ts), sample_value(v)) for ts, v in item.get('values') or []]}
                    for item in result or []]
    except (KeyError, IndexError, TypeError) as exc:
        raise PrometheusError('Prometheus answer of type %s is malformed (%s): %r'
                              % (kind, exc, result), error_type='invalid_response')
    raise PrometheusError('the query returned a %s, not a number or a vector of series' % kind,
                          error_type='invalid_response')


class PrometheusClient:
    """Read-only client of one Prometheus server.

    :param url: base URL, e.g. ``http://prometheus:9090`` (a path prefix such
        as ``https://example.com/prometheus`` is kept).
    :param headers: extra request headers (e.g. ``Authorization``); never
        appear in messages.
    """

    def __init__(self, url, timeout=10, validate_certs=True, headers=None,
                 url_username=None, url_password=None, use_proxy=True):
        if not url or not isinstance(url, str):
            raise PrometheusError('the Prometheus URL is empty', error_type='invalid_url')
        parts = urlsplit(url)
        if parts.scheme not in ('http', 'https') or not parts.netloc:
            raise PrometheusError('the Prometheus URL must be http:// or https:// with a host, got %s'
                                  % redact_url(url), url=redact_url(url), error_type='invalid_url')
        self.url = url.rstrip('/')
        self.display_url = redact_url(self.url)
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.headers = dict(headers or {})
        self.url_username = url_username
        self.url_password = url_password
        self.use_proxy = use_proxy

    # -- transport ---------------------------------------------------------

    def _request(self, path, params=None):
        """GET ``path`` and return the ``data`` of a ``status: success`` answer."""
        url = self.url + path
        if params:
            url += '?' + urlencode([(k, _format_param(v)) for k, v in params.items() if v is not None])
        where = '%s%s' % (self.display_url, path)
        headers = {'Accept': 'application/json'}
        headers.update(self.headers)
        status = None
        try:
            response = open_url(
                url, method='GET', headers=headers, timeout=self.timeout,
                validate_certs=self.validate_certs, use_proxy=self.use_proxy,
                url_username=self.url_username, url_password=self.url_password,
                force_basic_auth=bool(self.url_username), follow_redirects='safe')
            status = getattr(response, 'status', None) or response.getcode()
            body = response.read()
        except HTTPError as exc:
            status = exc.code
            try:
                body = exc.read()
            except Exception:  # pylint: disable=broad-except
                body = b''
            self._raise_for_error_body(where, status, body, reason=exc.reason)
        except (socket.timeout, TimeoutError) as exc:
            raise PrometheusError('Prometheus at %s did not answer within %s s (%s)'
                                  % (where, self.timeout, exc or 'timed out'),
                                  url=self.display_url, error_type='timeout')
        except URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise PrometheusError('Prometheus at %s did not answer within %s s (%s)'
                                      % (where, self.timeout, reason or 'timed out'),
                                      url=self.display_url, error_type='timeout')
            if isinstance(reason, socket.gaierror):
                detail = 'cannot resolve host %r: %s' % (urlsplit(self.url).hostname, reason)
            else:
                detail = str(reason)
            raise PrometheusError('cannot reach Prometheus at %s: %s' % (where, detail),
                                  url=self.display_url, error_type='connection')
        except (UrlsConnectionError, ssl.SSLError, socket.error, OSError) as exc:
            raise PrometheusError('cannot reach Prometheus at %s: %s' % (where, exc),
                                  url=self.display_url, error_type='connection')
        except ValueError as exc:  # e.g. an invalid port in the URL
            raise PrometheusError('cannot reach Prometheus at %s: %s' % (where, exc),
                                  url=self.display_url, error_type='invalid_url')
        if not 200 <= (status or 200) < 300:
            self._raise_for_error_body(where, status, body)
        payload = self._decode(where, status, body)
        if payload.get('status') != 'success':
            self._raise_for_payload(where, status, payload)
        if 'data' not in payload:
            raise PrometheusError('Prometheus at %s answered "success" without "data"' % where,
                                  url=self.display_url, status=status, error_type='invalid_response')
        return payload['data']

    def _decode(self, where, status, body):
        text = body.decode('utf-8', errors='replace') if isinstance(body, bytes) else str(body)
        try:
            payload = json.loads(text)
        except ValueError:
            excerpt = text.strip()[:_BODY_EXCERPT] or '(empty body)'
            raise PrometheusError(
                'Prometheus at %s answered HTTP %s with a body that is not JSON (is this '
                'the Prometheus base URL?): %s' % (where, status, excerpt),
                url=self.display_url, status=status, error_type='invalid_json')
        if not isinstance(payload, dict):
            raise PrometheusError('Prometheus at %s answered JSON that is not an object: %s'
                                  % (where, text[:_BODY_EXCERPT]),
                                  url=self.display_url, status=status, error_type='invalid_response')
        return payload

    def _raise_for_payload(self, where, status, payload):
        error_type = payload.get('errorType') or 'unknown'
        error = payload.get('error') or '(no error text)'
        http = ' (HTTP %s)' % status if status and status != 200 else ''
        raise PrometheusError('Prometheus at %s rejected the request%s: %s: %s'
                              % (where, http, error_type, error),
                              url=self.display_url, status=status, error_type=error_type)

    def _raise_for_error_body(self, where, status, body, reason=None):
        """A non-2xx answer: use Prometheus' own error when the body carries one."""
        text = body.decode('utf-8', errors='replace') if isinstance(body, bytes) else str(body or '')
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get('status') == 'error':
            self._raise_for_payload(where, status, payload)
        excerpt = text.strip()[:_BODY_EXCERPT]
        raise PrometheusError(
            'Prometheus at %s answered HTTP %s%s%s' % (
                where, status, ' %s' % reason if reason else '', ': %s' % excerpt if excerpt else ''),
            url=self.display_url, status=status, error_type='http')

    # -- API -----------------------------------------------------------------

    def query(self, query, time=None):
        """Instant query (``/api/v1/query``) at ``time`` (unix seconds; default: now).

        Returns the answer's ``data`` (``resultType`` and ``result``).
        """
        params = {'query': query}
        if time is not None:
            params['time'] = float(time)
        if self.timeout:
            params['timeout'] = '%ds' % max(1, int(self.timeout))
        return self._request('/api/v1/query', params)

    def query_range(self, query, start, end, step):
        """Range query (``/api/v1/query_range``); ``step`` in seconds. Returns ``data``."""
        if float(step) <= 0:
            raise PrometheusError('the range query step must be positive, got %r' % (step,),
                                  url=self.display_url, error_type='bad_data')
        params = {'query': query, 'start': float(start), 'end': float(end), 'step': float(step)}
        if self.timeout:
            params['timeout'] = '%ds' % max(1, int(self.timeout))
        return self._request('/api/v1/query_range', params)

    def targets(self, state=None):
        """Scrape targets (``/api/v1/targets``): ``{'activeTargets': [...], 'droppedTargets': [...]}``."""
        return self._request('/api/v1/targets', {'state': state} if state else None)

    def alerts(self):
        """Active alerts (``/api/v1/alerts``): a list of alerts."""
        data = self._request('/api/v1/alerts')
        if isinstance(data, dict):
            return data.get('alerts') or []
        return data

    def now(self):
        """The local clock in unix seconds (the default evaluation time)."""
        return _time.time()
