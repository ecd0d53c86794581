"""Testinfra checks of the postgresql scenario (role x402.runbook.postgresql).

The container is its own app host (converge.yml): the app network is its own address, so
connections from here over TCP to that address come from the app network, while 127.0.0.1
is outside it. Run by ``molecule verify``; by hand against a running instance:
``.venv/bin/pytest molecule/postgresql/tests --hosts=docker://x402rb-pg-molecule-db``.
"""

import json
import os
import re
import uuid

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ['MOLECULE_INVENTORY_FILE']
).get_hosts('all') if 'MOLECULE_INVENTORY_FILE' in os.environ else None

CREDENTIALS = '/etc/x402/postgresql'
SERVICE_ENV = 'PGSERVICEFILE=%s/pg_service.conf PGCONNECT_TIMEOUT=5' % CREDENTIALS
LOG = '/var/log/postgresql/postgresql-15-main.log'
BACKUP_DIR = '/var/backups/x402/postgresql'
IDENTITY = '/etc/x402/postgresql/backup-identity.txt'


def app_sql(host, sql, conn=None):
    """Run SQL as the app role through the credentials the role wrote (service x402, verify-full TLS),
    with conn overriding connection parameters."""
    params = ' '.join('%s=%s' % item for item in sorted((conn or {}).items()))
    return host.run(SERVICE_ENV + ' psql %s --no-psqlrc --quiet --tuples-only --no-align --set ON_ERROR_STOP=1 --command %s',
                    ('service=x402 ' + params).strip(), sql)


def admin_sql(host, sql, database='postgres'):
    """Run SQL as the superuser through the local socket (peer)."""
    return host.run('runuser -u postgres -- psql --no-psqlrc --tuples-only --no-align --dbname %s --command %s',
                    database, sql)


@pytest.fixture(scope='module')
def address(host):
    return host.check_output('hostname -I').split()[0]


def test_server_running_with_page_checksums(host):
    assert host.service('postgresql@15-main').is_running
    assert host.service('postgresql@15-main').is_enabled
    assert admin_sql(host, 'SHOW data_checksums').stdout.strip() == 'on'


@pytest.mark.parametrize('setting, value', [('fsync', 'on'), ('full_page_writes', 'on'), ('synchronous_commit', 'on'),
                                            ('wal_level', 'replica'), ('password_encryption', 'scram-sha-256'),
                                            ('ssl_min_protocol_version', 'TLSv1.2')])
def test_integrity_and_security_settings_in_force(host, setting, value):
    assert admin_sql(host, 'SHOW %s' % setting).stdout.strip() == value


def test_listens_on_loopback_and_the_host_address_only(host, address):
    sockets = host.check_output("ss -Htln 'sport = :5432'")
    assert '127.0.0.1:5432' in sockets and '%s:5432' % address in sockets
    assert '0.0.0.0:5432' not in sockets and '*:5432' not in sockets


def test_app_role_over_verified_tls_works(host):
    result = app_sql(host, "SELECT current_user, ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert result.rc == 0, result.stderr
    user, ssl, version = result.stdout.strip().split('|')
    assert (user, ssl) == ('x402_app', 't')
    assert version in ('TLSv1.2', 'TLSv1.3')


def test_app_role_sslmode_require_works(host, address):
    result = app_sql(host, 'SELECT 1', {'host': address, 'sslmode': 'require'})
    assert result.rc == 0 and result.stdout.strip() == '1', result.stderr


def test_app_role_without_tls_is_refused(host, address):
    result = app_sql(host, 'SELECT 1', {'host': address, 'sslmode': 'disable'})
    assert result.rc != 0
    assert 'no pg_hba.conf entry' in result.stderr or 'rejects connection' in result.stderr, result.stderr
    assert 'no encryption' in result.stderr, result.stderr


def test_app_role_from_outside_the_app_network_is_refused(host):
    # 127.0.0.1 is not in postgresql_app_networks: TLS and the right password are not enough.
    result = app_sql(host, 'SELECT 1', {'host': '127.0.0.1', 'sslmode': 'require'})
    assert result.rc != 0
    assert 'rejects connection for host "127.0.0.1"' in result.stderr, result.stderr


@pytest.mark.parametrize('protocol, accepted', [('-tls1_1', False), ('-tls1', False), ('-tls1_2', True), ('-tls1_3', True)])
def test_tls_versions(host, address, protocol, accepted):
    # SECLEVEL=0 lets this client offer TLS 1.0/1.1: a refusal then comes from the server.
    result = host.run('openssl s_client -starttls postgres -connect %s:5432 %s -cipher DEFAULT@SECLEVEL=0 '
                      '-CAfile %s/ca.crt -verify_return_error < /dev/null', address, protocol, CREDENTIALS)
    if accepted:
        assert result.rc == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert re.search(r'New, TLSv1\.[23], Cipher is (ECDHE|TLS_)', result.stdout), result.stdout[-2000:]
        assert 'Verify return code: 0 (ok)' in result.stdout
    else:
        assert result.rc != 0, result.stdout[-2000:]
        assert 'Cipher is (NONE)' in result.stdout
        assert 'alert protocol version' in result.stderr, result.stderr[-2000:]


def test_superuser_over_tcp_is_refused_even_with_tls(host, address):
    for target in (address, '127.0.0.1'):
        result = host.run("PGCONNECT_TIMEOUT=5 psql 'host=%s port=5432 dbname=postgres user=postgres sslmode=require' "
                          "--no-psqlrc --command 'SELECT 1'" % target)
        assert result.rc != 0
        assert 'pg_hba.conf rejects connection for host "%s", user "postgres"' % target in result.stderr, result.stderr


def test_superuser_has_no_password(host):
    assert admin_sql(host, "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'postgres'").stdout.strip() == 't'


def test_only_postgres_holds_admin_attributes(host):
    result = admin_sql(host, "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND "
                             "(rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)")
    assert result.stdout.split() == ['postgres']


def test_app_role_attributes(host):
    result = admin_sql(host, "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, "
                             "rolconnlimit, rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'x402_app'")
    assert result.stdout.strip() == 't|f|f|f|f|f|50|t'


def test_app_role_works_in_its_schema(host):
    table = 'probe_%s' % uuid.uuid4().hex[:8]
    result = app_sql(host, 'CREATE TABLE %s (id int PRIMARY KEY, note text); INSERT INTO %s VALUES (1, $$x$$); '
                           'SELECT schemaname FROM pg_tables WHERE tablename = $$%s$$; DROP TABLE %s'
                     % (table, table, table, table))
    assert result.rc == 0, result.stderr
    assert result.stdout.split()[-1] == 'x402'  # search_path is its schema


@pytest.mark.parametrize('sql, error', [
    ('CREATE ROLE intruder LOGIN', 'permission denied to create role'),
    ('CREATE DATABASE other', 'permission denied to create database'),
    ('CREATE SCHEMA other', 'permission denied for database x402'),
    ('CREATE TABLE public.t (id int)', 'permission denied for schema public'),
    ('CREATE TEMPORARY TABLE t (id int)', 'permission denied to create temporary tables'),
    ('ALTER ROLE x402_app CREATEDB', 'permission denied'),
])
def test_app_role_cannot_administer(host, sql, error):
    result = app_sql(host, sql)
    assert result.rc != 0
    assert error in result.stderr, result.stderr


def test_app_role_cannot_connect_to_other_databases(host):
    result = app_sql(host, 'SELECT 1', {'dbname': 'postgres'})
    assert result.rc != 0
    assert 'rejects connection' in result.stderr or 'permission denied for database' in result.stderr, result.stderr


def test_pgaudit_logs_ddl(host):
    table = 'audit_probe_%s' % uuid.uuid4().hex[:8]
    assert app_sql(host, 'CREATE TABLE %s (id int); DROP TABLE %s' % (table, table)).rc == 0
    log = host.run('grep -F %s %s', table, LOG).stdout
    assert re.search(r'AUDIT: SESSION,\d+,\d+,DDL,CREATE TABLE,TABLE,x402\.%s,' % table, log), log
    assert re.search(r'AUDIT: SESSION,\d+,\d+,DDL,DROP TABLE,TABLE,x402\.%s,' % table, log), log


def test_connections_are_logged(host):
    log = host.file(LOG).content_string
    assert re.search(r'connection authorized: user=x402_app database=x402 .*SSL enabled \(protocol=TLSv1\.[23]', log)
    assert 'disconnection: session time:' in log


def test_app_password_never_reaches_the_server_log(host):
    line = host.file('%s/app.pgpass' % CREDENTIALS).content_string.strip().splitlines()[-1]
    password = line.split(':', 4)[4].replace('\\:', ':').replace('\\\\', '\\')
    assert len(password) >= 16
    assert password not in host.run('cat /var/log/postgresql/*.log').stdout
    # The role statements are audited; with the verifier in place of the password.
    assert re.search(r'AUDIT: SESSION,\d+,\d+,ROLE,(CREATE|ALTER) ROLE', host.file(LOG).content_string)


@pytest.mark.parametrize('path, mode, owner', [
    ('/etc/postgresql/15/main/tls/server.key', 0o600, 'postgres'),
    ('/etc/postgresql/15/main/pg_hba.conf', 0o640, 'postgres'),
    ('%s/app.pgpass' % CREDENTIALS, 0o600, 'root'),
    (CREDENTIALS, 0o700, 'root'),
    (IDENTITY, 0o600, 'root'),
    (BACKUP_DIR, 0o700, 'postgres'),
])
def test_modes(host, path, mode, owner):
    f = host.file(path)
    assert f.exists
    assert (f.mode, f.user) == (mode, owner)


def test_pg_hba_has_no_plain_host_accept(host):
    rules = [line.split() for line in host.file('/etc/postgresql/15/main/pg_hba.conf').content_string.splitlines()
             if line.strip() and not line.startswith('#')]
    assert all(r[0] in ('local', 'hostssl') or r[-1] == 'reject' for r in rules), rules
    assert all(r[-1] in ('scram-sha-256', 'reject') for r in rules if r[0] == 'hostssl')


def test_no_leftover_backups_of_the_authentication_files(host):
    # The side effect made the role put a refused pg_hba.conf back: no backup copy stays behind.
    assert host.run('ls /etc/postgresql/15/main/').stdout.split() == [
        'conf.d', 'environment', 'pg_ctl.conf', 'pg_hba.conf', 'pg_ident.conf', 'postgresql.conf', 'start.conf', 'tls',
        'x402-backup-recipients.txt']


def test_backup_timer_every_four_hours(host):
    assert host.service('x402-pg-backup.timer').is_enabled
    assert host.service('x402-pg-backup.timer').is_running
    calendar = host.check_output('systemctl show x402-pg-backup.timer --property=TimersCalendar')
    assert 'OnCalendar=*-*-* 00/4:00:00' in calendar


@pytest.fixture(scope='module')
def fresh_backup(host):
    """A table with rows, then a backup through the systemd service, as the timer takes it."""
    assert app_sql(host, 'CREATE TABLE IF NOT EXISTS payments (id int PRIMARY KEY, amount numeric); '
                         'INSERT INTO payments VALUES (1, 10), (2, 20) ON CONFLICT DO NOTHING').rc == 0
    host.check_output('sleep 1; systemctl start x402-pg-backup.service')
    newest = host.check_output('ls -1t %s/x402-*.dump.age | head -n 1' % BACKUP_DIR)
    yield newest
    app_sql(host, 'DROP TABLE IF EXISTS payments')


def test_backup_is_age_encrypted_not_plain(host, fresh_backup):
    f = host.file(fresh_backup)
    assert (f.mode, f.user) == (0o600, 'postgres')
    assert host.check_output('head -n 1 %s' % fresh_backup) == 'age-encryption.org/v1'
    assert host.run('grep -a -c -F PGDMP %s', fresh_backup).stdout.strip() == '0'
    assert host.run('grep -a -c -F payments %s', fresh_backup).stdout.strip() == '0'


def test_backup_decrypts_and_lists(host, fresh_backup):
    listing = host.check_output('age --decrypt --identity %s %s | runuser -u postgres -- pg_restore --list'
                                % (IDENTITY, fresh_backup))
    assert re.search(r'SCHEMA - x402 x402_app', listing)
    assert re.search(r'TABLE x402 payments x402_app', listing)


def test_backup_check_restores_into_a_scratch_database(host, fresh_backup):
    result = host.run('/usr/local/sbin/x402-pg-backup-check %s --restore', IDENTITY)
    assert result.rc == 0, result.stderr
    report = json.loads(result.stdout)
    assert report['file'] == fresh_backup
    assert report['listed_tables'] >= 1 and report['restored_tables'] == report['listed_tables']
    assert admin_sql(host, "SELECT count(*) FROM pg_database WHERE datname = 'x402_restore_check'").stdout.strip() == '0'


def test_backup_check_identity_on_stdin(host, fresh_backup):
    result = host.run('/usr/local/sbin/x402-pg-backup-check - < %s', IDENTITY)
    assert result.rc == 0, result.stderr
    assert json.loads(result.stdout)['restored_tables'] is None


def test_backup_does_not_decrypt_with_another_identity(host, fresh_backup):
    result = host.run('age-keygen 2>/dev/null | /usr/local/sbin/x402-pg-backup-check -')
    assert result.rc == 4
    assert 'does not decrypt with the given identity' in result.stderr
