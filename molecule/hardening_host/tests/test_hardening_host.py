"""Testinfra checks of the hardening_host scenario (role x402.runbook.hardening_host).

Run by ``molecule verify``; by hand against a running instance:
``.venv/bin/pytest molecule/hardening_host/tests --hosts=docker://x402rb-molecule-hardening-host``.
"""

import os
import re

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ['MOLECULE_INVENTORY_FILE']
).get_hosts('all') if 'MOLECULE_INVENTORY_FILE' in os.environ else None

# The floor the issue sets for a freshly hardened host (the unhardened base image scores 58).
LYNIS_FLOOR = 85


@pytest.mark.parametrize('service', ['nftables', 'fail2ban', 'ssh', 'rsyslog', 'sysstat'])
def test_service_running_and_enabled(host, service):
    svc = host.service(service)
    assert svc.is_enabled
    assert svc.is_running or service in ('nftables', 'sysstat')  # oneshot units
    if service in ('nftables', 'sysstat'):
        assert host.run('systemctl is-active %s', service).stdout.strip() == 'active'


def test_firewall_default_drop_and_allowed_ports(host):
    ruleset = host.check_output('nft list table inet x402_filter')
    assert re.search(r'hook input priority filter; policy drop;', ruleset)
    assert re.search(r'hook forward priority filter; policy drop;', ruleset)
    assert 'tcp dport { 80, 443 } ct state new accept' in ruleset
    # SSH only from the admin network of converge.yml, never from anywhere.
    assert re.search(r'ip saddr @admin_v4 tcp dport 22 ct state new accept', ruleset)
    assert '192.0.2.0/24' in ruleset
    assert not re.search(r'^\s*tcp dport 22 .*accept', ruleset, re.M)


def test_firewall_stop_keeps_other_tables(host):
    dropin = host.file('/etc/systemd/system/nftables.service.d/x402-hardening.conf').content_string
    assert 'ExecStop=-/usr/sbin/nft delete table inet x402_filter' in dropin


def test_sshd_effective_config(host):
    cfg = dict(line.split(' ', 1) for line in host.check_output('sshd -T').splitlines() if ' ' in line)
    assert cfg['permitrootlogin'] == 'no'
    assert cfg['passwordauthentication'] == 'no'
    assert cfg['kbdinteractiveauthentication'] == 'no'
    assert cfg['authenticationmethods'] == 'publickey'
    assert cfg['x11forwarding'] == 'no'
    assert cfg['allowtcpforwarding'] == 'no'
    assert cfg['maxauthtries'] == '3'
    assert cfg['allowgroups'] == 'sudo'
    assert set(cfg['ciphers'].split(',')) <= {
        'chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-gcm@openssh.com',
        'aes256-ctr', 'aes192-ctr', 'aes128-ctr'}
    assert all('etm@openssh.com' in mac for mac in cfg['macs'].split(','))
    assert 'sha1' not in cfg['kexalgorithms']
    assert host.file('/etc/ssh/sshd_config').mode == 0o600


def test_ssh_host_key_is_this_hosts_own(host):
    key = host.file('/etc/ssh/ssh_host_ed25519_key')
    assert key.exists and key.mode == 0o600


def test_fail2ban_sshd_jail(host):
    status = host.check_output('fail2ban-client status sshd')
    assert 'Currently banned' in status
    jail = host.file('/etc/fail2ban/jail.local').content_string
    assert 'banaction = nftables-multiport' in jail
    assert 'maxretry = 3' in jail


def test_sysctl_file_written(host):
    conf = host.file('/etc/sysctl.d/90-x402-hardening.conf').content_string
    assert 'net.ipv4.tcp_syncookies = 1' in conf
    assert 'kernel.kptr_restrict = 2' in conf
    # The network namespace's values are in effect (set by the runtime in a container).
    assert host.check_output('sysctl -n net.ipv4.conf.all.rp_filter') == '1'


def test_audit_rules_written_but_not_loaded_in_a_container(host):
    rules = host.file('/etc/audit/rules.d/50-x402.rules').content_string
    for key in ('-w /etc/shadow -p wa -k identity', '-w /etc/sudoers -p wa -k sudoers',
                '-w /etc/x402 -p rwa -k x402_secrets', '-w /var/lib/docker -p wa -k docker'):
        assert key in rules
    # The audit subsystem belongs to the Docker host's kernel: auditd is off here.
    assert not host.service('auditd').is_enabled


def test_aide_baseline_exists_and_is_clean(host):
    assert host.file('/var/lib/aide/aide.db').exists
    assert host.file('/var/lib/aide/aide.db').mode == 0o600
    check = host.run('aide --config /etc/aide/aide.conf --check')
    assert check.rc == 0, check.stdout[-3000:]  # 0: no difference from the baseline


def test_rsyslog_forwards_to_collector(host):
    conf = host.file('/etc/rsyslog.d/60-x402-forward.conf').content_string
    assert 'target="127.0.0.1" port="6514" protocol="tcp"' in conf
    assert host.run('rsyslogd -N1').rc == 0


def test_unattended_upgrades_security_only(host):
    conf = host.file('/etc/apt/apt.conf.d/50unattended-upgrades').content_string
    assert 'label=Debian-Security' in conf
    periodic = host.file('/etc/apt/apt.conf.d/20auto-upgrades').content_string
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic


def test_baseline(host):
    defs = host.file('/etc/login.defs').content_string
    assert re.search(r'^PASS_MAX_DAYS\s+90$', defs, re.M)
    assert re.search(r'^UMASK\s+027$', defs, re.M)
    assert 'Authorised access only' in host.file('/etc/issue.net').content_string
    assert host.file('/etc/crontab').mode == 0o600
    assert 'install usb-storage /bin/true' in host.file('/etc/modprobe.d/x402-blacklist.conf').content_string


def test_lynis_hardening_index(host):
    """Lynis' hardening index of the hardened host, printed, with the issue's floor."""
    out = host.run('lynis audit system --quick --no-colors --skip-plugins')
    match = re.search(r'Hardening index : (\d+)', out.stdout)
    assert match, out.stdout[-3000:] + out.stderr[-2000:]
    index = int(match.group(1))
    report = host.file('/var/log/lynis-report.dat').content_string
    suggestions = [line.split('|')[:2] for line in report.splitlines() if line.startswith(('suggestion[]', 'warning[]'))]
    print('LYNIS HARDENING INDEX: %d (floor %d)' % (index, LYNIS_FLOOR))
    for item in suggestions:
        print('  remaining:', ' '.join(item))
    assert index >= LYNIS_FLOOR
