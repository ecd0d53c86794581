# -*- coding: utf-8 -*-
# Copyright (c) x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with the origins of ALLOWED_ORIGINS (checklist pre_deployment.configuration.3:
"Configure ALLOWED_ORIGINS with actual domains").

An actual domain is an https origin (scheme, host, optional port; no path, query or
credentials) whose host is a DNS name under a real top-level domain: not a wildcard,
not an IP address, not localhost, not a name reserved for examples and tests (RFC 2606,
RFC 6761) and not the checklist's own placeholder.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# Top-level domains that never resolve on the public internet (RFC 2606, RFC 6761, RFC 6762, RFC 8375).
RESERVED_TLDS = ('example', 'invalid', 'localhost', 'test', 'local', 'internal', 'home.arpa')
# Second-level names reserved for documentation (RFC 2606), and the checklist's placeholder.
PLACEHOLDER_DOMAINS = ('example.com', 'example.net', 'example.org', 'your-domain.com')
LABEL = re.compile(r'^(?!-)[a-z0-9-]{1,63}(?<!-)$')


class OriginError(ValueError):
    """The value is not a list of origins at all."""


def split_origins(value):
    """ALLOWED_ORIGINS as the prover reads it (comma-separated) or a list, as a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(',') if part.strip()]
    if isinstance(value, (list, tuple)):
        if not all(isinstance(part, str) for part in value):
            raise OriginError('ALLOWED_ORIGINS = %r: every origin must be a string' % (value,))
        return [part.strip() for part in value if part.strip()]
    raise OriginError('ALLOWED_ORIGINS = %r: must be a comma-separated string or a list of origins' % (value,))


def _ends_with(host, domains):
    return any(host == domain or host.endswith('.' + domain) for domain in domains)


def origin_problem(origin):
    """Why origin is not an actual domain's https origin, or None."""
    if '*' in origin:
        return 'a wildcard allows every site'
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError as exc:
        return 'not an origin (%s)' % exc
    if parts.scheme != 'https':
        return 'must use https (got %s)' % (parts.scheme or 'no scheme')
    if parts.username or parts.password:
        return 'must not hold credentials'
    if parts.path not in ('', '/') or parts.query or parts.fragment:
        return 'an origin has no path, query or fragment'
    host = (parts.hostname or '').rstrip('.')
    if not host:
        return 'has no host'
    if port == 0:
        return 'port 0 is not a port'
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return 'an IP address is not a domain'
    labels = host.split('.')
    if len(labels) < 2 or not all(LABEL.match(label) for label in labels):
        return 'not a fully qualified domain name'
    if _ends_with(host, RESERVED_TLDS):
        return 'a reserved name that never resolves publicly (RFC 2606/6761)'
    if _ends_with(host, PLACEHOLDER_DOMAINS):
        return 'a placeholder domain'
    return None


def origin_problems(value):
    """['<origin>: <why>', ...] for every origin that is not an actual domain; one entry when there is none."""
    origins = split_origins(value)
    if not origins:
        return ['ALLOWED_ORIGINS is empty: the browsers of the real clients would be refused']
    problems = []
    for origin in origins:
        problem = origin_problem(origin)
        if problem:
            problems.append('%s: %s' % (origin, problem))
    return problems
