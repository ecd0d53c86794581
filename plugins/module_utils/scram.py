# -*- coding: utf-8 -*-
# Copyright (c) x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SCRAM-SHA-256 password verifiers in PostgreSQL's format (RFC 5802, RFC 7677).

A role whose password is set from a verifier never sends the password itself to the server,
so it cannot reach the server log (pgaudit logs role statements verbatim). Pure standard
library, shared by the filter x402.runbook.scram_sha256 and the tests.
"""

from __future__ import absolute_import, division, print_function

import base64
import binascii
import hashlib
import hmac
import os
import re

__all__ = ['ScramError', 'VERIFIER_RE', 'DEFAULT_ITERATIONS', 'SALT_BYTES', 'verifier', 'parse', 'matches', 'ensure']

# PostgreSQL's defaults (scram_iterations of PostgreSQL 16; fixed in 15), salt length of its own verifiers.
DEFAULT_ITERATIONS = 4096
SALT_BYTES = 16
VERIFIER_RE = re.compile(r'^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$')


class ScramError(ValueError):
    """A bad password, salt, iteration count or verifier; the message never contains a password."""


def _password_bytes(password):
    if not isinstance(password, str) or password == '':
        raise ScramError('the password must be a non-empty string (got %s)'
                         % ('an empty string' if password == '' else type(password).__name__))
    # PostgreSQL applies SASLprep to non-ASCII passwords only; ASCII passes unchanged.
    if not all(ord(char) < 128 for char in password):
        raise ScramError('the password must be ASCII: SASLprep normalisation of other characters is not implemented')
    return password.encode('ascii')


def _decode_salt(salt):
    raw = None
    try:
        raw = base64.b64decode(salt, validate=True)
    except (binascii.Error, TypeError, ValueError):
        pass
    if raw is None:
        raise ScramError('salt %r: not base64' % (salt,))
    if not raw:
        raise ScramError('salt %r: empty' % (salt,))
    return raw


def _b64(raw):
    return base64.b64encode(raw).decode('ascii')


def verifier(password, salt=None, iterations=DEFAULT_ITERATIONS):
    """SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> of a password; salt is base64 (random if None)."""
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ScramError('iterations %r: must be a positive integer' % (iterations,))
    raw_salt = os.urandom(SALT_BYTES) if salt is None else _decode_salt(salt)
    salted = hashlib.pbkdf2_hmac('sha256', _password_bytes(password), raw_salt, iterations)
    client_key = hmac.new(salted, b'Client Key', hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b'Server Key', hashlib.sha256).digest()
    return 'SCRAM-SHA-256$%d:%s$%s:%s' % (iterations, _b64(raw_salt), _b64(stored_key), _b64(server_key))


def parse(text):
    """(iterations, salt) of a verifier, or None when text is not a SCRAM-SHA-256 verifier."""
    match = VERIFIER_RE.match(text or '')
    if not match:
        return None
    return int(match.group(1)), match.group(2)


def matches(password, current):
    """Whether current (a stored verifier, or None) is the verifier of password."""
    params = parse(current)
    if params is None:
        return False
    return hmac.compare_digest(verifier(password, salt=params[1], iterations=params[0]), current)


def ensure(password, current=None, iterations=DEFAULT_ITERATIONS):
    """current if it already verifies password (idempotent), else a new verifier with a fresh salt."""
    if matches(password, current):
        return current
    return verifier(password, iterations=iterations)
