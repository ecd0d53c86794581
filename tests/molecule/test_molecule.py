"""Every Molecule scenario of the collection runs its full test sequence
(create, converge, idempotence, verify with testinfra, destroy)."""
import pytest

from testlib import ROOT, run

SCENARIOS = sorted(p.parent.name for p in (ROOT / 'molecule').glob('*/molecule.yml'))


def test_there_are_scenarios():
    assert SCENARIOS, 'no Molecule scenario found under molecule/'


@pytest.mark.sandbox
@pytest.mark.parametrize('scenario', SCENARIOS)
def test_molecule_scenario(scenario):
    result = run(['molecule', 'test', '-s', scenario], timeout=1800)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
