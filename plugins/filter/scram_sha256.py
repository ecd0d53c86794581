# -*- coding: utf-8 -*-
# Copyright (c) x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: scram_sha256
short_description: PostgreSQL SCRAM-SHA-256 verifier of a password, computed on the controller
version_added: 0.1.0
author: x402.runbook developers
description:
  - Returns C(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>), the form in which PostgreSQL stores a
    password with C(password_encryption = scram-sha-256) (RFC 5802, RFC 7677).
  - Setting a role's password from its verifier means the password itself never travels to the server, so it
    cannot appear in the server log; pgaudit logs C(ALTER ROLE ... PASSWORD ...) statements as they are.
  - With O(current) (the role's stored C(rolpassword)), the filter returns O(current) unchanged when it already
    verifies the password, so a task that sets it is idempotent; otherwise a new verifier with a fresh random salt.
  - Passwords must be ASCII (PostgreSQL passes ASCII unchanged through SASLprep; other characters are refused).
  - Use C(no_log) on tasks that handle the password. Errors never contain it.
options:
  _input:
    description: The password.
    type: str
    required: true
  current:
    description: The stored verifier of the role (or V(null) when it has none).
    type: str
  salt:
    description: Base64 salt to use instead of a random one (tests, reproducible output). Ignored when O(current) matches.
    type: str
  iterations:
    description: PBKDF2 iteration count.
    type: int
    default: 4096
"""

EXAMPLES = r"""
- name: Set the app role's password without sending it to the server
  community.postgresql.postgresql_user:
    name: x402_app
    password: "{{ postgresql_app_password | x402.runbook.scram_sha256(current=stored.query_result[0].rolpassword | default(none)) }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: The verifier.
  type: str
  sample: SCRAM-SHA-256$4096:8JwnD7MO3gda35qFaMPi8g==$Q578X1S8sIOQx07BkT4VN7eT3WrDGk/BcUEN5i7AvDA=:IXfcoN2Ts/pZX2yS1G8js6JDbfh0YaTv+eDATCnSruM=
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.x402.runbook.plugins.module_utils.scram import DEFAULT_ITERATIONS, ScramError, matches, verifier


def scram_sha256(password, current=None, salt=None, iterations=DEFAULT_ITERATIONS):
    """The SCRAM-SHA-256 verifier of password (current when it already matches)."""
    try:
        if current is not None and matches(password, current):
            return current
        return verifier(password, salt=salt, iterations=iterations)
    except ScramError as exc:
        raise AnsibleFilterError('x402.runbook.scram_sha256: %s' % exc) from None


class FilterModule:
    """x402.runbook.scram_sha256"""

    def filters(self):
        return {'scram_sha256': scram_sha256}
