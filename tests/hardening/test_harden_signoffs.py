"""harden.yml asks for the sign-offs it cannot automate (DDoS protection, WAF, disk encryption
at rest) and stops without them."""
from testlib import run

TAGS = ('security_hardening.immediately_after_deployment.3,security_hardening.immediately_after_deployment.4,'
        'security_hardening.database_security.1')


def harden(*extra):
    # --limit localhost: only the sign-off play runs; the host plays have no hosts.
    return run(['ansible-playbook', 'playbooks/harden.yml', '--limit', 'localhost', '--tags', TAGS, *extra])


def test_signoffs_given_pass_and_are_shown():
    result = harden()
    assert result.returncode == 0, result.stdout[-3000:]
    assert "msg: 'DDoS: sandbox" in result.stdout and "msg: 'Disk encryption: sandbox" in result.stdout
    assert 'ok=2' in result.stdout


def test_a_missing_signoff_stops_with_the_variable_named():
    result = harden('-e', 'x402_signoff_waf=')
    assert result.returncode != 0
    assert 'x402_signoff_ddos_protection and x402_signoff_waf' in ' '.join(result.stdout.split())


def test_a_missing_disk_encryption_signoff_stops_with_the_variable_and_procedure_named():
    result = harden('-e', 'x402_signoff_disk_encryption=')
    assert result.returncode != 0
    message = ' '.join(result.stdout.split())
    assert 'set x402_signoff_disk_encryption' in message and 'roles/postgresql/README.md' in message
