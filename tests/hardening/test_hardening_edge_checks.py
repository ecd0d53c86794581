"""Role hardening_edge refuses bad settings and bad provided certificates before touching nginx.

The preflight (tag `always`) and the provided-certificate checks (tag `certificates`) run on
localhost; nothing is installed or written there (the other topics are not selected).
"""
import datetime
import pathlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from testlib import run_local_play, task_results

ROLE = 'x402.runbook.hardening_edge'
# Only what the tests look at: no packages, no nginx, no jails on this machine.
BASE = {'hardening_edge_fail2ban_enabled': False, 'hardening_edge_tls_ca_export': ''}


def edge(tmp_path, tags, **variables):
    process = run_local_play(tmp_path, [], roles=[ROLE], play_vars=dict(BASE, **variables), tags=tags)
    return process, task_results(process)


def failure(results):
    """(task name without the role prefix, message) of the one failed task."""
    failed = [(name, r) for name, r in results.items() if r.get('failed')]
    assert len(failed) == 1, results
    return failed[0][0].split(' : ', 1)[-1], ' '.join(failed[0][1].get('msg', '').split())


def preflight(tmp_path, **variables):
    # No task of the role carries this tag: only the preflight (tag `always`) runs.
    return edge(tmp_path, 'x402-preflight-only', **variables)


def test_a_complete_own_ca_setting_passes_the_preflight(tmp_path):
    process = preflight(tmp_path, hardening_edge_tls_source='own_ca')[0]
    assert process.returncode == 0, process.stdout[-3000:]


def test_provided_certificate_paths_are_required(tmp_path):
    process, results = preflight(tmp_path)
    assert process.returncode != 0
    name, msg = failure(results)
    assert name == 'Assert that the provided certificate and key are named'
    assert 'hardening_edge_tls_certificate' in msg and 'own_ca' in msg


def test_a_missing_provided_certificate_is_named(tmp_path):
    process, results = preflight(tmp_path, hardening_edge_tls_certificate=str(tmp_path / 'none.crt'),
                                 hardening_edge_tls_certificate_key=str(tmp_path / 'none.key'))
    assert process.returncode != 0
    name = failure(results)[0]
    assert name == 'Assert that the provided certificate and key are present'
    failed = [item for item in results[ROLE + ' : ' + name]['results'] if item.get('failed')]
    assert '%s (hardening_edge_tls_certificate) is not a file' % (tmp_path / 'none.crt') in failed[0]['msg']


@pytest.mark.parametrize('protocols, expected', [
    (['TLSv1.1', 'TLSv1.2'], 'hardening_edge_tls_protocols must be one or more of: TLSv1.2, TLSv1.3. Got no match for: TLSv1.1'),
    ([], 'hardening_edge_tls_protocols [] may only hold TLSv1.2 and TLSv1.3'),
])
def test_tls_before_1_2_is_refused_by_rule(tmp_path, protocols, expected):
    """The argument spec refuses an old version, the preflight an empty list."""
    process, results = preflight(tmp_path, hardening_edge_tls_source='own_ca', hardening_edge_tls_protocols=protocols)
    assert process.returncode != 0
    assert expected in failure(results)[1]


@pytest.mark.parametrize('variable, value, expected', [
    ('hardening_edge_upstreams', ['10.0.0.5'], "hardening_edge_upstreams: '10.0.0.5' is not host:port"),
    ('hardening_edge_limit_req_key_rate', '10/s', 'Rates must look like 10r/s or 600r/m (key 10/s'),
    ('hardening_edge_client_max_body_size', '1 MB', "hardening_edge_client_max_body_size '1 MB' must be a size"),
    ('hardening_edge_csp', 'default-src "self"', 'header values may not hold double quotes'),
])
def test_bad_values_are_named(tmp_path, variable, value, expected):
    process, results = preflight(tmp_path, hardening_edge_tls_source='own_ca', **{variable: value})
    assert process.returncode != 0
    name, msg = failure(results)
    for item in results[ROLE + ' : ' + name].get('results', []):  # a looped assert reports per item
        msg += ' ' + ' '.join(item.get('msg', '').split()) if item.get('failed') else ''
    assert expected in msg


def test_the_argument_spec_refuses_an_unknown_certificate_source(tmp_path):
    process, results = preflight(tmp_path, hardening_edge_tls_source='selfsigned')
    assert process.returncode != 0
    msg = failure(results)[1]
    assert 'hardening_edge_tls_source' in msg and 'provided, own_ca' in msg


def test_fail2ban_jails_need_hardening_host(tmp_path):
    if pathlib.Path('/etc/fail2ban/action.d/nftables-multiport.conf').exists():
        pytest.skip('fail2ban is installed on this machine: the assertion holds here')
    process, results = preflight(tmp_path, hardening_edge_tls_source='own_ca', hardening_edge_fail2ban_enabled=True)
    assert process.returncode != 0
    name, msg = failure(results)
    assert name == 'Assert that fail2ban is installed (role x402.runbook.hardening_host)'
    assert 'apply that role first, or set hardening_edge_fail2ban_enabled=false' in msg


# --- provided certificates --------------------------------------------------------------------

def write_certificate(directory, not_after, key=None, cert_key=None):
    """A self-signed server certificate valid until `not_after`; its key file holds `key`
    (by default the certificate's own key)."""
    cert_key = cert_key or ec.generate_private_key(ec.SECP256R1())
    key = key or cert_key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'api.example.test')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(cert_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(not_after).sign(cert_key, hashes.SHA256()))
    cert_path, key_path = directory / 'server.crt', directory / 'server.key'
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return {'hardening_edge_tls_certificate': str(cert_path), 'hardening_edge_tls_certificate_key': str(key_path)}


def in_days(days, hours=0):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days, hours=hours)


CHECK = ROLE + ' : Assert that the certificate matches its key and stays valid long enough'


# hardening_edge_tls_min_days_left = 14 (the default): both sides of the boundary.
@pytest.mark.parametrize('not_after, passes', [(in_days(14, hours=1), True), (in_days(14, hours=-1), False)])
def test_provided_certificate_must_stay_valid_long_enough(tmp_path, not_after, passes):
    process, results = edge(tmp_path, 'certificates', **write_certificate(tmp_path, not_after))
    assert (process.returncode == 0) is passes, process.stdout[-3000:]
    msg = ' '.join(results[CHECK]['msg'].split())
    if passes:
        assert 'matches its key' in msg
    else:
        assert 'valid for at least 14 more days (hardening_edge_tls_min_days_left)' in msg
        assert 'does NOT match' not in msg


def test_provided_certificate_must_match_its_key(tmp_path):
    variables = write_certificate(tmp_path, in_days(90), key=ec.generate_private_key(ec.SECP256R1()))
    process, results = edge(tmp_path, 'certificates', **variables)
    assert process.returncode != 0
    msg = ' '.join(results[CHECK]['msg'].split())
    assert 'it does NOT match the key %s' % variables['hardening_edge_tls_certificate_key'] in msg
    assert 'PRIVATE KEY' not in process.stdout  # the key file is never shown
