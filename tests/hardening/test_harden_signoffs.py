"""harden.yml asks for the provider-side sign-offs (DDoS protection, WAF) and stops without them."""
from testlib import run

TAGS = 'security_hardening.immediately_after_deployment.3,security_hardening.immediately_after_deployment.4'


def harden(*extra):
    # --limit localhost: only the sign-off play runs; the host plays have no hosts.
    return run(['ansible-playbook', 'playbooks/harden.yml', '--limit', 'localhost', '--tags', TAGS, *extra])


def test_signoffs_given_pass_and_are_shown():
    result = harden()
    assert result.returncode == 0, result.stdout[-3000:]
    assert "msg: 'DDoS: sandbox" in result.stdout and 'ok=1' in result.stdout


def test_a_missing_signoff_stops_with_the_variable_named():
    result = harden('-e', 'x402_signoff_waf=')
    assert result.returncode != 0
    assert 'x402_signoff_ddos_protection and x402_signoff_waf' in ' '.join(result.stdout.split())
