# -*- coding: utf-8 -*-
"""SCRAM-SHA-256 verifiers (plugins/module_utils/scram.py) against PostgreSQL's own.

The vector was made by PostgreSQL 15 (Debian 12) with password_encryption = scram-sha-256:
CREATE ROLE t LOGIN PASSWORD 'Correct-Horse-1'; SELECT rolpassword FROM pg_authid.
"""

from __future__ import annotations

import base64

import pytest

from ansible_collections.x402.runbook.plugins.module_utils.scram import (
    DEFAULT_ITERATIONS,
    SALT_BYTES,
    ScramError,
    ensure,
    matches,
    parse,
    verifier,
)

PASSWORD = 'Correct-Horse-1'
FROM_POSTGRESQL = ('SCRAM-SHA-256$4096:8JwnD7MO3gda35qFaMPi8g==$Q578X1S8sIOQx07BkT4VN7eT3WrDGk/BcUEN5i7AvDA='
                   ':IXfcoN2Ts/pZX2yS1G8js6JDbfh0YaTv+eDATCnSruM=')


def test_same_verifier_as_postgresql_for_the_same_salt():
    assert verifier(PASSWORD, salt='8JwnD7MO3gda35qFaMPi8g==') == FROM_POSTGRESQL


def test_random_salt_has_postgresqls_length_and_differs_each_time():
    first, second = verifier(PASSWORD), verifier(PASSWORD)
    assert first != second
    iterations, salt = parse(first)
    assert iterations == DEFAULT_ITERATIONS
    assert len(base64.b64decode(salt)) == SALT_BYTES


def test_parse():
    assert parse(FROM_POSTGRESQL) == (4096, '8JwnD7MO3gda35qFaMPi8g==')
    assert parse('md5' + '0' * 32) is None
    assert parse(None) is None
    assert parse('') is None


def test_matches_only_the_right_password():
    assert matches(PASSWORD, FROM_POSTGRESQL)
    assert not matches(PASSWORD + 'x', FROM_POSTGRESQL)
    assert not matches(PASSWORD, None)
    assert not matches(PASSWORD, 'md5' + '0' * 32)


def test_ensure_keeps_a_matching_verifier_and_replaces_a_stale_one():
    assert ensure(PASSWORD, FROM_POSTGRESQL) == FROM_POSTGRESQL
    replaced = ensure('Another-Password-2', FROM_POSTGRESQL)
    assert replaced != FROM_POSTGRESQL and matches('Another-Password-2', replaced)
    assert parse(replaced)[1] != parse(FROM_POSTGRESQL)[1]  # a fresh salt, not the old one
    assert matches(PASSWORD, ensure(PASSWORD, None))


def test_iterations_are_kept_from_the_stored_verifier():
    stored = verifier(PASSWORD, iterations=10000)
    assert matches(PASSWORD, stored)
    assert ensure(PASSWORD, stored) == stored


@pytest.mark.parametrize('password, message', [
    ('', 'the password must be a non-empty string (got an empty string)'),
    (None, 'the password must be a non-empty string (got NoneType)'),
    (12345, 'the password must be a non-empty string (got int)'),
    ('Pässword-1234567', 'the password must be ASCII'),
])
def test_bad_password_messages_never_contain_it(password, message):
    with pytest.raises(ScramError) as exc_info:
        verifier(password)
    assert str(exc_info.value).startswith(message)
    if isinstance(password, str) and password:
        assert password not in str(exc_info.value)


@pytest.mark.parametrize('kwargs, message', [
    ({'salt': 'not base64!'}, "salt 'not base64!': not base64"),
    ({'salt': ''}, "salt '': empty"),
    ({'iterations': 0}, 'iterations 0: must be a positive integer'),
    ({'iterations': '4096'}, "iterations '4096': must be a positive integer"),
    ({'iterations': True}, 'iterations True: must be a positive integer'),
])
def test_bad_salt_and_iterations(kwargs, message):
    with pytest.raises(ScramError) as exc_info:
        verifier(PASSWORD, **kwargs)
    assert str(exc_info.value) == message
