"""`ansible-test sanity` on a copy of the collection laid out as ansible_collections/x402/runbook.

ansible-test runs from its own venv (.cache/sanity-venv, made by scripts/bootstrap.sh)
because `--requirements` installs pinned linters into the interpreter it runs on.
"""
import shutil

import pytest

from testlib import ROOT, run, tracked_files

SANITY_VENV = ROOT / '.cache' / 'sanity-venv' / 'bin' / 'ansible-test'


@pytest.fixture(scope='module')
def collection_copy(tmp_path_factory):
    dest = tmp_path_factory.mktemp('sanity') / 'ansible_collections' / 'x402' / 'runbook'
    for rel in tracked_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target, follow_symlinks=False)
    return dest


def test_ansible_test_sanity_is_clean(collection_copy):
    if not SANITY_VENV.exists():
        pytest.fail('ansible-test is missing: run scripts/bootstrap.sh first')
    result = run([str(SANITY_VENV), 'sanity', '--requirements', '--python', '3.11', '--color', 'no'],
                 cwd=collection_copy, timeout=1800)
    errors = '\n'.join(line for line in (result.stdout + result.stderr).splitlines()
                       if line.startswith(('ERROR', 'FATAL')))
    assert result.returncode == 0, errors or result.stdout[-4000:]
