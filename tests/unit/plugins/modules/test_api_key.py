# -*- coding: utf-8 -*-
"""Unit tests of x402.runbook.api_key: generation, placeholder and length refusal with the
threshold engine's boundary (31 refused, 32 accepted), 0600 files, rotation after 90 days,
revocation with a grace period then expiry, the audit log (never the key), check mode."""

from __future__ import annotations

import io
import json
import os
import stat
from contextlib import redirect_stdout

import pytest
import yaml

from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.x402.runbook.plugins.modules import api_key

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
with open(os.path.join(ROOT, 'roles', 'thresholds', 'defaults', 'main.yml')) as _f:
    _RULES = yaml.safe_load(_f)['x402_thresholds']
LENGTH_RULE = dict(_RULES['pre_deployment.configuration.2'], id='pre_deployment.configuration.2')
AGE_RULE = dict(_RULES['security_hardening.api_security.2'], id='security_hardening.api_security.2')
DAY = 86400
T0 = 1_760_000_000.0
GOOD_KEY = 'k7Qm2Zp9Lx4Vb8Nc1Rt6Yw3Hs5Jd0Fg_' + 'AbCdEfGh'  # 41 characters


def run_raw(args, check_mode=False):
    module_warnings._global_warnings.clear()  # pylint: disable=protected-access
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    buffer = io.StringIO()
    with patch_module_args(args), redirect_stdout(buffer):
        with pytest.raises(SystemExit):
            api_key.main()
    raw = buffer.getvalue()
    return json.loads(raw), raw


@pytest.fixture
def base(tmp_path):
    return {'name': 'client-acme', 'store_dir': str(tmp_path / 'keys'), 'audit_log': str(tmp_path / 'audit.jsonl'),
            'length_rule': LENGTH_RULE, 'max_age_rule': AGE_RULE, 'actor': 'unit-test', 'now': T0}


def key_of(args):
    with open(os.path.join(args['store_dir'], args['name'] + '.key')) as handle:
        return handle.read().strip()


def audit(args):
    with open(args['audit_log']) as handle:
        return [json.loads(line) for line in handle]


def test_generates_a_long_random_key_in_a_0600_file(base):
    result, raw = run_raw(base)
    assert result['changed'] and result['action'] == 'created'
    key = key_of(base)
    assert len(key) == 48 and set(key) <= set(api_key.ALPHABET)
    assert key not in raw  # never in the module's output
    for name in ('client-acme.key', 'client-acme.json'):
        assert stat.S_IMODE(os.stat(os.path.join(base['store_dir'], name)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(base['store_dir']).st_mode) == 0o700
    assert result['length_check']['status'] == 'pass'
    assert result['age_check']['status'] == 'pass'
    other = dict(base, name='client-other')
    run_raw(other)
    assert key_of(other) != key


def test_second_run_changes_nothing(base):
    run_raw(base)
    key = key_of(base)
    result, dummy = run_raw(dict(base, now=T0 + DAY))
    assert not result['changed'] and result['action'] == 'unchanged'
    assert key_of(base) == key


@pytest.mark.parametrize('length, ok', [(31, False), (32, True)])
def test_length_boundary_of_imported_keys(base, length, ok):
    key = (GOOD_KEY * 2)[:length]
    result, raw = run_raw(dict(base, key=key))
    assert key not in raw
    if ok:
        assert result['action'] == 'imported'
    else:
        assert result['failed']
        assert 'API key length: observed 31' in result['msg'] and '>= 32' in result['msg']


def test_generated_length_below_the_rule_is_refused(base):
    result, dummy = run_raw(dict(base, length=31))
    assert result['failed'] and 'below the rule' in result['msg']


@pytest.mark.parametrize('key', ['changeme-changeme-changeme-changeme', 'your-api-key-goes-here-0123456789abc',
                                 'x' * 40, 'abababababababababababababababababab', '<insert production key here please>'])
def test_placeholders_are_refused(base, key):
    result, raw = run_raw(dict(base, key=key))
    assert result['failed'] and 'refused' in result['msg']
    assert key not in raw


def test_rotates_after_90_days_not_before(base):
    run_raw(base)
    first = key_of(base)
    result, dummy = run_raw(dict(base, now=T0 + 90 * DAY))  # exactly 90 days: still within the rule
    assert result['action'] == 'unchanged'
    result, raw = run_raw(dict(base, now=T0 + 90 * DAY + 1))
    assert result['action'] == 'rotated' and result['changed']
    second = key_of(base)
    assert second != first and first not in raw and second not in raw
    # The old key stays valid for the grace period, then expires.
    prev = os.path.join(base['store_dir'], 'client-acme.previous.key')
    assert os.path.exists(prev) and stat.S_IMODE(os.stat(prev).st_mode) == 0o600
    result, dummy = run_raw(dict(base, now=T0 + 96 * DAY))
    assert os.path.exists(prev) and not result['expired']
    result, dummy = run_raw(dict(base, now=T0 + 98 * DAY))
    assert result['expired'] and not os.path.exists(prev)
    events = [entry['event'] for entry in audit(base)]
    assert events == ['created', 'rotated', 'expired']


def test_old_key_fails_when_rotation_is_off(base):
    run_raw(base)
    result, dummy = run_raw(dict(base, now=T0 + 91 * DAY, rotate_when_old=False))
    assert result['failed'] and 'too old' in result['msg']
    assert result['age_check']['status'] == 'fail'


def test_revocation_then_expiry(base):
    run_raw(base)
    key = key_of(base)
    result, dummy = run_raw(dict(base, state='revoked', grace_period='1d', now=T0 + DAY))
    assert result['action'] == 'revoked'
    assert not os.path.exists(os.path.join(base['store_dir'], 'client-acme.key'))
    result, dummy = run_raw(dict(base, state='revoked', grace_period='1d', now=T0 + 2 * DAY + 1))
    assert result['expired'] and result['action'] == 'absent'
    log = audit(base)
    assert [e['event'] for e in log] == ['created', 'revoked', 'expired']
    text = open(base['audit_log']).read()
    assert key not in text
    assert all(e['actor'] == 'unit-test' and e['key_id'] == 'client-acme' and len(e['fingerprint']) == 16 for e in log)
    assert stat.S_IMODE(os.stat(base['audit_log']).st_mode) == 0o600


def test_check_mode_writes_nothing(base):
    result, dummy = run_raw(base, check_mode=True)
    assert result['changed'] and result['action'] == 'created'
    assert not os.path.exists(base['store_dir']) and not os.path.exists(base['audit_log'])


def test_per_key_rate_limit(base):
    run_raw(dict(base, rate_limit='20r/s'))
    meta = json.load(open(os.path.join(base['store_dir'], 'client-acme.json')))
    assert meta['rate_limit'] == '20r/s'
    result, dummy = run_raw(dict(base, rate_limit='5r/s'))
    assert result['changed'] and result['rate_limit'] == '5r/s'
    result, dummy = run_raw(dict(base, rate_limit='fast'))
    assert result['failed'] and 'limit_req' in result['msg']


def test_bad_name_is_refused(base):
    result, dummy = run_raw(dict(base, name='../etc/passwd'))
    assert result['failed'] and 'name' in result['msg']
