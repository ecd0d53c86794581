"""Testinfra checks of the hardening_edge scenario (roles hardening_host + hardening_edge).

The hardened host ``x402rb-edge-host`` sits on a public and an admin network. From the
scanner (public network only) nmap must find exactly the ports of the checklist's rule
``pre_deployment.infrastructure.3`` (80 and 443), TLS must be 1.2+ with the role's own CA,
HTTP must redirect, and the security headers, the body size limit and the rate limits must
answer as configured. From the admin container (admin network), SSH brute force and failed
API keys get its address banned by fail2ban.

Run by ``molecule verify``; by hand against running instances:
``.venv/bin/pytest molecule/hardening_edge/tests --hosts=docker://x402rb-edge-host``
(the CA export check needs MOLECULE_EPHEMERAL_DIRECTORY).
"""

import json
import os
import pathlib
import re
import time

import pytest
import testinfra
import testinfra.utils.ansible_runner
from ansible_collections.x402.runbook.plugins.module_utils.thresholds import evaluate
from testlib import threshold_data

# `docker exec` straight away (testinfra's docker backend) rather than one Ansible run per command.
testinfra_hosts = ['docker://' + name for name in testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ['MOLECULE_INVENTORY_FILE']
).get_hosts('edge')] if 'MOLECULE_INVENTORY_FILE' in os.environ else None

EDGE = 'x402rb-edge-host'
CA = '/tmp/edge-ca.crt'  # the exported CA certificate, inside the client containers
PORTS_RULE_ID = 'pre_deployment.infrastructure.3'
BODY_LIMIT = 1024 * 1024  # hardening_edge_client_max_body_size: 1m (the role's default)
LIMIT_REQ_JAIL = 'x402-nginx-limit-req'
AUTH_JAIL = 'x402-nginx-auth'
# Values of converge.yml.
KEY_BURST = 5
LIMIT_REQ_MAXRETRY = 10
AUTH_MAXRETRY = 5
SSH_MAXRETRY = 3  # hardening_host's default
# The IP bucket (5 r/s, burst 30) is empty again after 6 s.
IP_BUCKET_DRAIN_S = 7
# fail2ban polls the logs every second; this leaves it time to read what was just written.
F2B_CATCH_UP_S = 5

# Concurrent HTTPS requests from inside a client container; prints the list of statuses
# (or the connection error) in request order. Keys are test values, never real ones.
BURST = r'''
import concurrent.futures, http.client, json, ssl, sys
host, count, keys = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
ctx = ssl.create_default_context(cafile="/tmp/edge-ca.crt")
def one(i):
    conn = http.client.HTTPSConnection(host, 443, context=ctx, timeout=20)
    try:
        conn.request("GET", "/burst/%d" % i, headers={"X-API-Key": keys[i % len(keys)]} if keys else {})
        return conn.getresponse().status
    except OSError as exc:
        return type(exc).__name__
    finally:
        conn.close()
with concurrent.futures.ThreadPoolExecutor(10) as pool:
    print(json.dumps(list(pool.map(one, range(count)))))
'''


def container(name):
    return testinfra.get_host('docker://' + name)


@pytest.fixture(scope='module')
def edge():
    return container(EDGE)


@pytest.fixture(scope='module')
def scanner(edge):
    return with_ca(container('x402rb-edge-scanner'), edge)


@pytest.fixture(scope='module')
def admin(edge):
    return with_ca(container('x402rb-edge-admin'), edge)


def with_ca(client, edge):
    """Gives a client container the edge's CA certificate, as a client of the service gets it."""
    pem = edge.file('/etc/x402/tls/ca.crt').content_string
    assert pem.startswith('-----BEGIN CERTIFICATE-----')
    client.check_output("printf '%%s' %s > %s", pem, CA)
    return client


def address(client):
    return client.check_output('hostname -i').split()[0]


def edge_address(client):
    """The edge's address on the network this client shares with it."""
    return client.check_output('getent hosts %s', EDGE).split()[0]


def tcp_connects(client, ip, port):
    return client.run("timeout 5 bash -c '</dev/tcp/%s/%s'" % (ip, port)).rc == 0


def burst(client, count, keys=()):
    out = client.check_output('python3 -c %s %s %s ' + ' '.join(['%s'] * len(keys)), BURST, EDGE, str(count), *keys)
    return json.loads(out)


def banned(edge, jail):
    status = edge.check_output('fail2ban-client status %s', jail)
    match = re.search(r'Banned IP list:\s*(.*)$', status, re.M)
    return match.group(1).split() if match else []


def wait_for_ban(edge, jail, ip, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ip in banned(edge, jail):
            return True
        time.sleep(1)
    return False


def unban(edge, ip):
    edge.run('fail2ban-client unban %s', ip)


# --- the hardened host itself --------------------------------------------------------------

def test_nginx_runs_the_validated_configuration(host):
    assert host.service('nginx').is_running and host.service('nginx').is_enabled
    assert host.run('nginx -t').rc == 0
    conf = host.check_output('nginx -T')
    for line in ('ssl_protocols TLSv1.2 TLSv1.3;', 'server_tokens off;', 'client_max_body_size 1m;',
                 'limit_req_status 429;', 'limit_req zone=x402_edge_key burst=5 nodelay;',
                 'proxy_pass http://x402_edge_backend;', 'server 127.0.0.1:8080 max_fails=3 fail_timeout=10s;'):
        assert line in conf


def test_keys_are_private_and_the_certificate_chains_to_the_ca(host):
    for key in ('/etc/x402/tls/ca.key', '/etc/x402/tls/server.key'):
        assert host.file(key).mode == 0o600 and host.file(key).user == 'root'
    assert host.file('/etc/x402/tls/ca.crt').mode == 0o644
    assert host.run('openssl verify -CAfile /etc/x402/tls/ca.crt /etc/x402/tls/server.crt').rc == 0
    text = host.check_output('openssl x509 -in /etc/x402/tls/server.crt -noout -text')
    assert 'DNS:x402rb-edge-host' in text and 'IP Address:127.0.0.1' in text
    assert 'TLS Web Server Authentication' in text


def test_ca_certificate_exported_to_the_control_node(host):
    exported = pathlib.Path(os.environ['MOLECULE_EPHEMERAL_DIRECTORY']) / 'edge-ca.crt'
    assert exported.read_text() == host.file('/etc/x402/tls/ca.crt').content_string


@pytest.mark.parametrize('jail', [LIMIT_REQ_JAIL, AUTH_JAIL, 'sshd'])
def test_jails_run_with_the_nftables_ban_action(host, jail):
    assert host.run('fail2ban-client status %s', jail).rc == 0
    assert 'nftables-multiport' in host.check_output('fail2ban-client get %s actions', jail)


# --- from the public network -------------------------------------------------------------------

def test_nmap_finds_exactly_the_allowed_ports(scanner):
    """A full TCP scan of the hardened host from the public network, printed."""
    target = edge_address(scanner)
    out = scanner.check_output('nmap -Pn -n -sS -p- --open -T4 --min-rate 10000 --max-retries 1 %s', target)
    print('\nNMAP FROM THE PUBLIC NETWORK (%s -> %s):\n%s' % (address(scanner), target, out))
    open_ports = sorted(int(p) for p in re.findall(r'^(\d+)/tcp\s+open\b', out, re.M))
    # The checklist's rule, with the engine every gate uses: the open ports are a subset of {80, 443} ...
    result = evaluate(open_ports, dict(threshold_data()['x402_thresholds'][PORTS_RULE_ID], id=PORTS_RULE_ID))
    print('RULE %s: %s' % (PORTS_RULE_ID, result['detail']))
    assert result['status'] == 'pass', result['detail']
    # ... and both are served: exactly 80 and 443.
    assert open_ports == [80, 443]


def test_ssh_is_unreachable_from_the_public_network(scanner):
    assert not tcp_connects(scanner, edge_address(scanner), 22)
    assert tcp_connects(scanner, edge_address(scanner), 443)  # the same path works for the public port


@pytest.mark.parametrize('version, protocol', [('tls1_2', 'TLSv1.2'), ('tls1_3', 'TLSv1.3')])
def test_tls_1_2_and_1_3_verify_with_the_exported_ca(scanner, version, protocol):
    out = scanner.run('openssl s_client -connect %s:443 -servername %s -%s -CAfile %s -verify_return_error </dev/null',
                      EDGE, EDGE, version, CA)
    assert out.rc == 0, out.stdout + out.stderr
    assert re.search(r'^New, %s, Cipher is ' % re.escape(protocol), out.stdout, re.M), out.stdout
    assert 'Verify return code: 0 (ok)' in out.stdout


@pytest.mark.parametrize('version', ['tls1', 'tls1_1'])
def test_tls_before_1_2_is_refused(scanner, version):
    """The client allows the old protocol (SECLEVEL=0), so only the server's refusal can fail it.

    Checked by hand: an nginx with `ssl_protocols TLSv1 TLSv1.1` and the same client completes
    these handshakes (`Cipher is ECDHE-ECDSA-AES256-SHA`)."""
    out = scanner.run("openssl s_client -connect %s:443 -servername %s -%s -cipher 'DEFAULT@SECLEVEL=0' </dev/null",
                      EDGE, EDGE, version)
    assert out.rc != 0
    assert 'alert protocol version' in out.stdout + out.stderr
    assert 'Cipher is (NONE)' in out.stdout


def test_http_redirects_to_https_but_answers_health_checks(scanner):
    redirect = scanner.check_output("curl -s -o /dev/null -w '%%{http_code} %%{redirect_url}' 'http://%s/generate-proof?a=1'", EDGE)
    assert redirect == '301 https://%s/generate-proof?a=1' % EDGE
    health = scanner.check_output("curl -s -w ' %%{http_code}' http://%s/nginx-health", EDGE)
    assert health.endswith(' 200') and '"healthy"' in health


@pytest.mark.parametrize('key, status', [('valid-headers', 200), ('wrong-headers', 401)])
def test_security_headers_on_answers_and_errors(scanner, key, status):
    out = scanner.check_output("curl -s -o /dev/null -D - --cacert %s -H 'X-API-Key: %s' https://%s/generate-proof", CA, key, EDGE)
    lines = out.lower().splitlines()
    headers = [line.split(':', 1)[0].strip() for line in lines if ':' in line]
    assert lines[0].split()[1] == str(status)
    assert 'strict-transport-security: max-age=63072000; includesubdomains' in lines
    assert any(line.startswith("content-security-policy: default-src 'none'") for line in lines)
    assert 'x-content-type-options: nosniff' in lines
    assert 'referrer-policy: no-referrer' in lines
    # The backend sends its own X-Frame-Options: only the edge's one reaches the client.
    assert headers.count('x-frame-options') == 1 and 'x-frame-options: deny' in lines
    assert 'server: nginx' in lines  # no version (server_tokens off)


@pytest.mark.parametrize('size, status', [(BODY_LIMIT, 200), (BODY_LIMIT + 1, 413)])
def test_request_body_limit_boundary(scanner, size, status):
    code = scanner.check_output(
        "head -c %s /dev/zero | curl -s -o /dev/null -w '%%{http_code}' --cacert %s -H 'X-API-Key: valid-body-%s' "
        "-H 'Content-Type: application/octet-stream' --data-binary @- https://%s/generate-proof", str(size), CA, str(size), EDGE)
    assert code == str(status)


@pytest.fixture
def no_rate_bans(edge, scanner):
    """The limits themselves are measured here: the scanner may not be banned meanwhile."""
    ip = address(scanner)
    edge.check_output('fail2ban-client set %s addignoreip %s', LIMIT_REQ_JAIL, ip)
    time.sleep(IP_BUCKET_DRAIN_S)
    yield
    time.sleep(F2B_CATCH_UP_S)  # fail2ban reads the log lines of the burst while the address is still ignored
    edge.check_output('fail2ban-client set %s delignoreip %s', LIMIT_REQ_JAIL, ip)
    unban(edge, ip)


@pytest.mark.usefixtures('no_rate_bans')
def test_rate_limit_per_api_key(scanner):
    statuses = burst(scanner, 20, ['valid-key-a'])
    other_key = burst(scanner, 1, ['valid-key-b'])
    print('\nkey A, 20 requests: %s; then key B: %s' % (statuses, other_key))
    assert set(statuses) <= {200, 429}
    assert statuses.count(200) >= KEY_BURST and statuses.count(429) >= 5
    assert other_key == [200]  # the limit is per key: another key is still served


@pytest.mark.usefixtures('no_rate_bans')
def test_rate_limit_per_address_whatever_the_key(scanner):
    statuses = burst(scanner, 80, ['valid-ip-%d' % i for i in range(80)])
    print('\n80 requests, 80 keys, one address: %d x 200, %d x 429' % (statuses.count(200), statuses.count(429)))
    assert set(statuses) <= {200, 429}
    assert statuses.count(200) >= 20 and statuses.count(429) >= 20


@pytest.fixture
def unban_after(edge):
    """Addresses the test appends start unbanned (a rerun of verify) and are unbanned after it."""
    class Addresses(list):
        def append(self, ip):
            unban(edge, ip)
            super().append(ip)
    addresses = Addresses()
    yield addresses
    for ip in addresses:
        unban(edge, ip)


def test_rate_limit_abuse_gets_banned(edge, scanner, unban_after):
    ip = address(scanner)
    unban_after.append(ip)
    statuses = burst(scanner, 30, ['valid-key-flood'])  # one key: 429 from the key's bucket at the latest
    assert statuses.count(429) >= LIMIT_REQ_MAXRETRY, statuses
    assert wait_for_ban(edge, LIMIT_REQ_JAIL, ip), edge.check_output('fail2ban-client status %s', LIMIT_REQ_JAIL)
    print('\n%s banned by %s after %d refused requests' % (ip, LIMIT_REQ_JAIL, statuses.count(429)))
    assert not tcp_connects(scanner, edge_address(scanner), 443)


# --- from the admin network --------------------------------------------------------------------

def test_ssh_brute_force_from_the_admin_network_gets_banned(edge, admin, unban_after):
    ip, target = address(admin), edge_address(admin)
    unban_after.append(ip)
    assert tcp_connects(admin, target, 22), 'SSH must be reachable from the admin network before the attack'
    admin.check_output("test -f /tmp/attacker_key || ssh-keygen -q -t ed25519 -N '' -f /tmp/attacker_key")
    # Stop once banned; `timeout`: a connection the ban cuts mid-login would otherwise retransmit for ~15 min.
    for attempt in range(1, SSH_MAXRETRY + 3):
        admin.run('timeout 10 ssh -n -i /tmp/attacker_key -o BatchMode=yes -o IdentitiesOnly=yes '
                  '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 attacker@%s true', target)
        if ip in banned(edge, 'sshd'):
            print('\nbanned after %d SSH attempts' % attempt)
            break
    assert wait_for_ban(edge, 'sshd', ip), edge.check_output('fail2ban-client status sshd')
    print('\n' + edge.check_output('fail2ban-client status sshd'))
    assert not tcp_connects(admin, target, 22)
    # The sshd jail bans SSH only: the public service still answers this address.
    assert admin.check_output("curl -s -o /dev/null -w '%%{http_code}' --cacert %s https://%s/nginx-health", CA, EDGE) == '200'


def test_failed_api_keys_get_banned(edge, admin, unban_after):
    ip = address(admin)
    unban_after.append(ip)
    statuses = burst(admin, AUTH_MAXRETRY + 3, ['wrong-key-%d' % i for i in range(AUTH_MAXRETRY + 3)])
    assert statuses.count(401) >= AUTH_MAXRETRY, statuses
    assert wait_for_ban(edge, AUTH_JAIL, ip), edge.check_output('fail2ban-client status %s', AUTH_JAIL)
    print('\n' + edge.check_output('fail2ban-client status %s', AUTH_JAIL))
    assert not tcp_connects(admin, edge_address(admin), 443)


def test_logs_hold_no_api_key(edge):
    """Last: reads the logs of every request above (uses `edge`, not `host`, which pytest runs first)."""
    logs = edge.check_output('cat /var/log/nginx/x402-edge.access.log /var/log/nginx/x402-edge.error.log')
    assert '/burst/' in logs  # the bursts above were logged ...
    assert 'valid-key-' not in logs and 'wrong-key-' not in logs  # ... without their keys
