"""Every Molecule scenario of the collection runs its full test sequence
(create, converge, idempotence, verify with testinfra, destroy)."""
import re

import pytest

from testlib import ROOT, run, tool_env

FAILURE_LINE = re.compile(r'fatal:|FAILED|^\W*E\s')
SCENARIOS = sorted(p.parent.name for p in (ROOT / 'molecule').glob('*/molecule.yml'))


def test_there_are_scenarios():
    assert SCENARIOS, 'no Molecule scenario found under molecule/'


@pytest.mark.sandbox
@pytest.mark.parametrize('scenario', SCENARIOS)
def test_molecule_scenario(scenario):
    # Plain, wide output: molecule wraps and colours what Ansible and testinfra print.
    result = run(['molecule', 'test', '-s', scenario], timeout=1800, env=tool_env(NO_COLOR='1', COLUMNS='400'))
    output = result.stdout + result.stderr
    # The failed tasks and testinfra's failures first: the tail alone is molecule's summary.
    failures = [line for line in output.splitlines() if FAILURE_LINE.search(line)]
    assert result.returncode == 0, '\n'.join(failures[:80]) + '\n...\n' + output[-6000:]
