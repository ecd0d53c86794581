#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: api_key
short_description: Generate, check, rotate, revoke and expire the x402 API keys, with an audit log
version_added: 0.1.0
description:
  - Keeps one API key per O(name) in O(store_dir) as C(<name>.key), mode C(0600), next to its metadata
    C(<name>.json) (creation and rotation times, rate limit, a short SHA-256 fingerprint; never the key).
  - A new key is O(length) characters from the operating system's CSPRNG (Python C(secrets)).
    A key given in O(key) (production keys from a vault) is imported instead; placeholders
    (C(changeme), C(your-api-key), C(xxxx...), one repeated character, ...) are refused.
  - The key length is checked against O(length_rule) (the checklist's C(pre_deployment.configuration.2),
    at least 32 characters) and the key age against O(max_age_rule) (C(security_hardening.api_security.2),
    at most 90 days) with the collection's threshold engine; a key older than the rule is rotated
    (O(rotate_when_old=true)) or reported as failing.
  - A rotated or revoked key stays valid for O(grace_period) as C(<name>.previous.key); a later run
    after the grace period deletes it (expiry).
  - Every creation, import, rotation, revocation and expiry is appended to O(audit_log) as one JSON line
    holding the time, event, key id, actor and fingerprint. The key itself is never logged, returned or shown in a diff.
author:
  - x402.runbook developers (@x402)
attributes:
  check_mode:
    support: full
    description: In check mode the module reports what it would do and writes nothing.
  diff_mode:
    support: none
    description: Keys are secrets; the module never shows them in a diff.
options:
  name:
    description: The key id (not secret), for example the client it belongs to. Letters, digits, C(.), C(_) and C(-).
    type: str
    required: true
  state:
    description:
      - V(present) creates the key if missing and rotates it when it is older than O(max_age_rule) (or O(rotate=true)).
      - V(revoked) stops the key at once; its file moves to C(<name>.previous.key) until O(grace_period) has passed.
    type: str
    choices: [present, revoked]
    default: present
  store_dir:
    description: Directory of the keys (created with mode C(0700)).
    type: path
    required: true
  key:
    description: A key to import instead of generating one (for example from Ansible Vault). Never logged.
    type: str
  length:
    description: Length of a generated key (URL-safe alphabet).
    type: int
    default: 48
  length_rule:
    description: The rule of the minimum key length, normally C(x402_rules['pre_deployment.configuration.2']).
    type: dict
    required: true
  max_age_rule:
    description: The rule of the maximum key age in seconds, normally C(x402_rules['security_hardening.api_security.2']).
    type: dict
    required: true
  rotate:
    description: Rotate now, whatever the key's age.
    type: bool
    default: false
  rotate_when_old:
    description: Rotate a key older than O(max_age_rule); if V(false) such a key fails the task.
    type: bool
    default: true
  grace_period:
    description: How long a rotated or revoked key stays valid (seconds or a duration such as V(7d)).
    type: raw
    default: 7d
  rate_limit:
    description: The key's own request rate, in nginx C(limit_req) form (V(10r/s), V(600r/m)); stored in the metadata.
    type: str
    default: 10r/s
  audit_log:
    description: The audit log (JSON lines, mode C(0600)).
    type: path
    required: true
  actor:
    description: Who acts, for the audit log; by default the user the module runs as (or C(SUDO_USER)).
    type: str
  now:
    description: The current time (Unix seconds); for tests and reproducible runs.
    type: float
seealso:
  - plugin: x402.runbook.threshold_check
    plugin_type: filter
notes:
  - Use C(no_log) on tasks that pass O(key). The module's own output never contains a key.
"""

EXAMPLES = r"""
- name: Make sure the client key exists and is younger than 90 days
  x402.runbook.api_key:
    name: client-acme
    store_dir: /etc/x402/api_keys
    audit_log: /var/log/x402/api_keys.audit.jsonl
    length_rule: "{{ x402_rules['pre_deployment.configuration.2'] }}"
    max_age_rule: "{{ x402_rules['security_hardening.api_security.2'] }}"
    rate_limit: 20r/s

- name: Import a production key from the vault
  x402.runbook.api_key:
    name: client-bank
    key: "{{ vault_client_bank_api_key }}"
    store_dir: /etc/x402/api_keys
    audit_log: /var/log/x402/api_keys.audit.jsonl
    length_rule: "{{ x402_rules['pre_deployment.configuration.2'] }}"
    max_age_rule: "{{ x402_rules['security_hardening.api_security.2'] }}"
  no_log: true

- name: Revoke a key (valid for one more day)
  x402.runbook.api_key:
    name: client-old
    state: revoked
    grace_period: 1d
    store_dir: /etc/x402/api_keys
    audit_log: /var/log/x402/api_keys.audit.jsonl
    length_rule: "{{ x402_rules['pre_deployment.configuration.2'] }}"
    max_age_rule: "{{ x402_rules['security_hardening.api_security.2'] }}"
"""

RETURN = r"""
name:
  description: The key id.
  returned: always
  type: str
action:
  description: What happened - V(created), V(imported), V(rotated), V(unchanged), V(revoked) or V(absent).
  returned: always
  type: str
expired:
  description: Whether a previous key whose grace period had passed was deleted.
  returned: always
  type: bool
fingerprint:
  description: First 16 hex digits of the SHA-256 of the current key (identifies it in logs; not the key).
  returned: when a current key exists
  type: str
age_check:
  description: The threshold engine's result of the key age against O(max_age_rule).
  returned: when a current key exists
  type: dict
length_check:
  description: The threshold engine's result of the key length against O(length_rule).
  returned: when a current key exists
  type: dict
key_file:
  description: Path of the current key file (mode 0600).
  returned: always
  type: str
rate_limit:
  description: The key's own rate limit.
  returned: always
  type: str
"""

import getpass
import hashlib
import json
import os
import re
import secrets
import string
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.x402.runbook.plugins.module_utils.thresholds import ThresholdError, evaluate, to_seconds

ALPHABET = string.ascii_letters + string.digits + '-_'
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
RATE_RE = re.compile(r'^[1-9][0-9]*r/[sm]$')
PLACEHOLDER_RE = re.compile(
    r'(change[-_ ]?me|your[-_ ]?(api[-_ ]?)?key|placeholder|example|replace[-_ ]?me|<.*>|^x+$|^(test|dummy|secret|password)\b|todo)',
    re.IGNORECASE)


def fingerprint(key):
    return hashlib.sha256(key.encode('utf-8')).hexdigest()[:16]


def placeholder_reason(key):
    """Why a key is a placeholder or trivially weak; None if it is not."""
    if PLACEHOLDER_RE.search(key):
        return 'it looks like a placeholder'
    if len(set(key)) < 8:
        return 'it uses fewer than 8 distinct characters'
    return None


def generate(length):
    return ''.join(secrets.choice(ALPHABET) for dummy in range(length))


def write_private(path, text):
    """Write text atomically to a 0600 file."""
    tmp = '%s.tmp.%d' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_json(path):
    if not os.path.exists(path):
        return {}
    with open(path) as handle:
        return json.load(handle)


class KeyStore(object):
    def __init__(self, module, params, now):
        self.module = module
        self.p = params
        self.now = now
        self.base = os.path.join(params['store_dir'], params['name'])
        self.key_file = self.base + '.key'
        self.prev_file = self.base + '.previous.key'
        self.meta_file = self.base + '.json'
        self.events = []

    def audit(self, event, key=None, **extra):
        entry = {'time': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.now)), 'event': event,
                 'key_id': self.p['name'], 'actor': self.p['actor']}
        if key is not None:
            entry['fingerprint'] = fingerprint(key)
        entry.update(extra)
        self.events.append(entry)

    def flush(self):
        if not self.events or self.module.check_mode:
            return
        log = self.p['audit_log']
        directory = os.path.dirname(log)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, 'a') as handle:
            for entry in self.events:
                handle.write(json.dumps(entry, sort_keys=True) + '\n')

    def read_key(self, path):
        if not os.path.exists(path):
            return None
        with open(path) as handle:
            return handle.read().strip()


def run(module):
    p = dict(module.params)
    p['actor'] = p['actor'] or os.environ.get('SUDO_USER') or getpass.getuser()
    now = p['now'] if p['now'] is not None else time.time()
    if not NAME_RE.match(p['name']):
        module.fail_json(msg="name %r: use 1-64 letters, digits, '.', '_' or '-' (it names files)" % p['name'])
    if not RATE_RE.match(p['rate_limit']):
        module.fail_json(msg="rate_limit %r: use nginx limit_req form such as '10r/s' or '600r/m'" % p['rate_limit'])
    try:
        grace = to_seconds(p['grace_period'])
    except ThresholdError as exc:
        module.fail_json(msg='grace_period: %s' % exc)

    def check(observed, rule, what):
        try:
            return evaluate(observed, rule, now=None)
        except ThresholdError as exc:
            module.fail_json(msg='%s: %s' % (what, exc))

    # The rule must hold for the generated length too: refuse a length the rule would fail.
    if p['key'] is None and check(p['length'], p['length_rule'], 'length_rule')['breached']:
        module.fail_json(msg='length %d is below the rule: %s'
                         % (p['length'], check(p['length'], p['length_rule'], 'length_rule')['detail']))
    if p['key'] is not None:
        reason = placeholder_reason(p['key'])
        if reason:
            module.fail_json(msg='the key given for %s is refused: %s' % (p['name'], reason))
        result = check(len(p['key']), p['length_rule'], 'length_rule')
        if result['breached']:
            module.fail_json(msg='the key given for %s is refused: %s' % (p['name'], result['detail']))

    store = KeyStore(module, p, now)
    if not os.path.isdir(p['store_dir']) and not module.check_mode:
        os.makedirs(p['store_dir'], 0o700)
    meta = read_json(store.meta_file)
    current = store.read_key(store.key_file)
    changed = False
    expired = False
    action = 'unchanged'

    # Expiry of a previous key whose grace period has passed.
    if os.path.exists(store.prev_file) and meta.get('previous_valid_until', 0) <= now:
        old = store.read_key(store.prev_file)
        store.audit('expired', old)
        if not module.check_mode:
            os.unlink(store.prev_file)
        meta.pop('previous_valid_until', None)
        meta.pop('previous_fingerprint', None)
        changed = expired = True

    def retire(key):
        """Keep the outgoing key valid for the grace period."""
        meta['previous_valid_until'] = now + grace
        meta['previous_fingerprint'] = fingerprint(key)
        if not module.check_mode:
            write_private(store.prev_file, key + '\n')

    if p['state'] == 'revoked':
        if current is not None:
            store.audit('revoked', current, valid_until=now + grace)
            retire(current)
            if not module.check_mode:
                os.unlink(store.key_file)
            meta['revoked_at'] = now
            current = None
            changed = True
            action = 'revoked'
        else:
            action = 'absent'
    else:
        new = None
        age = now - meta.get('rotated_at', meta.get('created_at', now)) if current is not None else None
        age_result = check(age, p['max_age_rule'], 'max_age_rule') if current is not None else None
        if current is None:
            new = p['key'] if p['key'] is not None else generate(p['length'])
            action = 'imported' if p['key'] is not None else 'created'
            store.audit(action, new, rate_limit=p['rate_limit'])
            meta = {'created_at': now, 'rotated_at': now, 'length': len(new)}
        elif p['key'] is not None and p['key'] != current:
            new = p['key']
            action = 'rotated'
            store.audit('rotated', new, replaces=fingerprint(current), reason='new key given')
            retire(current)
        elif p['rotate'] or (age_result['breached'] and p['rotate_when_old']):
            new = p['key'] if p['key'] is not None and p['key'] != current else generate(p['length'])
            action = 'rotated'
            store.audit('rotated', new, replaces=fingerprint(current),
                        reason='requested' if p['rotate'] else age_result['detail'])
            retire(current)
        elif age_result['breached']:
            store.flush()
            module.fail_json(msg='API key %s is too old: %s' % (p['name'], age_result['detail']),
                             age_check=age_result, name=p['name'])
        if new is not None:
            meta['rotated_at'] = now
            meta['length'] = len(new)
            meta.pop('revoked_at', None)
            current = new
            changed = True
            if not module.check_mode:
                write_private(store.key_file, new + '\n')

    if current is not None:
        meta['fingerprint'] = fingerprint(current)
    if meta.get('rate_limit') != p['rate_limit'] and (current is not None or meta):
        meta['rate_limit'] = p['rate_limit']
        changed = True
    if changed and not module.check_mode:
        write_private(store.meta_file, json.dumps(meta, sort_keys=True, indent=2) + '\n')
    store.flush()

    out = dict(changed=changed, name=p['name'], action=action, expired=expired,
               key_file=store.key_file, rate_limit=p['rate_limit'])
    if current is not None:
        created = meta.get('rotated_at', now)
        out['fingerprint'] = fingerprint(current)
        out['age_check'] = check(now - created, p['max_age_rule'], 'max_age_rule')
        out['length_check'] = check(len(current), p['length_rule'], 'length_rule')
    module.exit_json(**out)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'revoked']),
            store_dir=dict(type='path', required=True),
            key=dict(type='str', no_log=True),
            length=dict(type='int', default=48),
            length_rule=dict(type='dict', required=True),
            max_age_rule=dict(type='dict', required=True),
            rotate=dict(type='bool', default=False),
            rotate_when_old=dict(type='bool', default=True),
            grace_period=dict(type='raw', default='7d'),
            rate_limit=dict(type='str', default='10r/s'),
            audit_log=dict(type='path', required=True),
            actor=dict(type='str'),
            now=dict(type='float'),
        ),
        supports_check_mode=True,
    )
    try:
        run(module)
    except (OSError, ValueError) as exc:
        module.fail_json(msg='api_key %s: %s' % (module.params['name'], exc))


if __name__ == '__main__':
    main()
