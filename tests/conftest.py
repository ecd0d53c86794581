"""Fixtures shared by every test directory; plain helpers live in testlib.py."""
import re
import shutil

import pytest

from testlib import ROOT, ProverProcess, circuit_build, threshold_data


@pytest.fixture(scope='session')
def repo_root():
    return ROOT


@pytest.fixture(scope='session')
def rules():
    """The real rules of the data file, merged and validated by the engine (what x402_rules holds)."""
    from ansible_collections.x402.runbook.plugins.module_utils.thresholds import merge_rules
    data = threshold_data()
    return merge_rules(data['x402_thresholds'], data['x402_threshold_overrides'])


@pytest.fixture(scope='session')
def circuit():
    """Circuit artifacts + local trusted setup of the reference stack (built once, then cached by hash stamp)."""
    if shutil.which('node') is None or shutil.which('npm') is None:
        pytest.fail('node and npm are required for the reference circuit (Node >= 18)')
    return circuit_build().build()


@pytest.fixture(scope='session')
def provers(circuit, tmp_path_factory):
    """provers(name, **env): a reference prover process per name, started on first use, stopped at the end."""
    running = {}

    def get(name, **env):
        if name not in running:
            tmp = tmp_path_factory.mktemp('prover-%s' % name)
            running[name] = ProverProcess(circuit, tmp, **env).start()
        return running[name]

    yield get
    for proc in running.values():
        proc.stop()


# Parallel runs (scripts/test.sh: pytest-xdist with --dist loadgroup): a group runs on one
# worker. The sandbox tests share one session-scoped sandbox, so they are one group; every
# Molecule scenario is its own group (own containers and networks, no fixed host ports); any
# other test module is a group, so its module-scoped fixtures are made once. The groups come
# from the test ids (xdist 3.8 cannot rename the ids of pytest 9, which its own xdist_group
# marker needs), and are handed out in collection order (--no-loadscope-reorder) with the
# longest first, so the run ends when the longest group does, not when a long one started last.
# The sandbox group is the longest by far (about 25 minutes); the others fill the other workers.
LONGEST_GROUPS_FIRST = (
    'sandbox', 'molecule-hardening_host', 'molecule-hardening_edge', 'molecule-postgresql',
    'tests/stack/test_stack_docker.py', 'molecule-monitoring', 'tests/quality/test_ansible_lint.py',
    'tests/quality/test_sanity.py',
)
MOLECULE_SCENARIO = re.compile(r'^tests/molecule/[^:]+::test_molecule_scenario\[(?P<scenario>[^\]]+)\]$')


def xdist_group_of(nodeid):
    path = nodeid.split('::', 1)[0]
    scenario = MOLECULE_SCENARIO.match(nodeid)
    if scenario:
        return 'molecule-%s' % scenario.group('scenario')
    if path.startswith('tests/sandbox/'):
        return 'sandbox'
    return path


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
    rank = {name: index for index, name in enumerate(LONGEST_GROUPS_FIRST)}

    def position(item):
        return rank.get(xdist_group_of(item.nodeid), len(rank))
    # sorted() is stable: the other tests keep their collection order after the long groups.
    items[:] = sorted(items, key=position)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadgroup with the groups of xdist_group_of (None: xdist's own schedulers)."""
    if config.getvalue('dist') != 'loadgroup':
        return None
    from xdist.scheduler import LoadScopeScheduling  # pylint: disable=import-outside-toplevel

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return xdist_group_of(nodeid)
    return GroupScheduling(config, log)
