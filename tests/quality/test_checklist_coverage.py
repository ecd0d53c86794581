"""docs/checklist_coverage.yml stays honest against the checklist and the code."""
import functools
import os
import pathlib
import re

import pytest
import yaml

from testlib import ROOT, run

COVERAGE = ROOT / 'docs' / 'checklist_coverage.yml'
KINDS = {'action', 'check', 'signoff', 'planned'}
ID_PATTERN = re.compile(r'^[a-z0-9_]+(\.[a-z0-9_]+)+$')


def spec_dir():
    """The user's checklist lives in shared/spec beside the repository (X402RB_SPEC_DIR overrides)."""
    return pathlib.Path(os.environ.get('X402RB_SPEC_DIR', ROOT.parent / 'shared' / 'spec'))


@pytest.fixture(scope='module')
def checklist_ids():
    path = spec_dir() / 'checklist_items.yml'
    assert path.exists(), f'{path} not found: set X402RB_SPEC_DIR to the directory of checklist_items.yml'
    items = yaml.safe_load(path.read_text())
    return [item['id'] for item in items]


@pytest.fixture(scope='module')
def coverage():
    return yaml.safe_load(COVERAGE.read_text())['items']


@functools.lru_cache(maxsize=None)
def playbook_tags(playbook):
    """Every tag a playbook carries (plays, roles, tasks), as ansible-playbook itself lists them."""
    result = run(['ansible-playbook', '--list-tags', playbook])
    assert result.returncode == 0, f'{playbook}: {result.stderr[-2000:]}'
    tags = set()
    for listed in re.findall(r'TAGS: \[([^\]]*)\]', result.stdout):
        tags.update(t.strip() for t in listed.split(',') if t.strip())
    return frozenset(tags)


def test_every_checklist_item_has_exactly_one_entry(checklist_ids, coverage):
    assert len(checklist_ids) == 204
    missing = sorted(set(checklist_ids) - set(coverage))
    unknown = sorted(set(coverage) - set(checklist_ids))
    assert not missing, f'checklist items without a coverage entry: {missing}'
    assert not unknown, f'coverage entries for ids the checklist does not have: {unknown}'


def test_entries_are_well_formed(coverage):
    problems = []
    for item_id, entry in coverage.items():
        kind = entry.get('kind')
        if kind not in KINDS:
            problems.append(f'{item_id}: kind {kind!r} is not one of {sorted(KINDS)}')
        elif kind == 'planned':
            if entry.get('intended') not in KINDS - {'planned'}:
                problems.append(f'{item_id}: a planned item needs intended: action|check|signoff')
            if 'where' in entry:
                problems.append(f'{item_id}: a planned item has no `where` yet')
        else:
            where, test = entry.get('where', ''), entry.get('test', '')
            if not re.fullmatch(r'[\w./-]+\.yml#[\w.]+', where or ''):
                problems.append(f'{item_id}: where {where!r} is not <playbook>#<tag>')
            elif not (ROOT / where.split('#')[0]).is_file():
                problems.append(f'{item_id}: playbook {where.split("#")[0]} does not exist')
            if not test or not (ROOT / test).is_file():
                problems.append(f'{item_id}: test {test!r} does not exist')
    assert not problems, '\n'.join(problems)


def test_every_where_points_at_a_tag_its_playbook_carries(coverage):
    problems = []
    for item_id, entry in coverage.items():
        if entry.get('kind') == 'planned':
            continue
        playbook, tag = entry['where'].split('#')
        if tag not in playbook_tags(playbook):
            problems.append(f'{item_id}: {playbook} carries no tag {tag}')
    assert not problems, '\n'.join(problems)


def test_items_tagged_in_playbooks_are_not_left_planned(coverage):
    """The reverse direction: code that implements an item must not be hidden as planned."""
    playbooks = sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'playbooks').glob('*.yml'))
    stale = []
    for playbook in playbooks:
        for tag in playbook_tags(playbook):
            if ID_PATTERN.match(tag) and tag in coverage and coverage[tag]['kind'] == 'planned':
                stale.append(f'{tag} (tagged in {playbook})')
    assert not stale, f'implemented but still planned in the coverage map: {stale}'
