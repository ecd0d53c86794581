"""ansible-lint with the production profile (.ansible-lint) over the whole collection."""
from testlib import run


def test_ansible_lint_production_profile_is_clean():
    result = run(['ansible-lint', '--nocolor'])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
