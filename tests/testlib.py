"""Helpers shared by every test directory (on sys.path through pytest.ini)."""
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / '.venv' / 'bin'
TOOLS_BIN = ROOT / '.cache' / 'tools' / 'bin'


def tool_env(**extra):
    """The environment the README's commands give: toolchain first on PATH, the repo's ansible.cfg."""
    env = dict(os.environ)
    env['PATH'] = os.pathsep.join([str(VENV_BIN), str(TOOLS_BIN), env.get('PATH', '')])
    env['ANSIBLE_CONFIG'] = str(ROOT / 'ansible.cfg')
    env['ANSIBLE_NOCOLOR'] = '1'
    env.update(extra)
    return env


def run(cmd, cwd=ROOT, timeout=1800, env=None, **kwargs):
    """Run a command, capture its output, never raise on a non-zero exit (tests assert on it)."""
    return subprocess.run(cmd, cwd=str(cwd), env=env or tool_env(), timeout=timeout,
                          capture_output=True, text=True, check=False, **kwargs)


def tracked_files():
    """Files a clean clone would have: tracked plus new, not ignored."""
    out = run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'])
    assert out.returncode == 0, out.stderr
    return [f for f in out.stdout.splitlines()
            if f and not f.startswith('.collections/') and (ROOT / f).exists()]


THRESHOLDS_FILE = ROOT / 'roles' / 'thresholds' / 'defaults' / 'main.yml'


def threshold_data():
    """The one data file of the checklist's numbers, as YAML."""
    import yaml  # pylint: disable=import-outside-toplevel
    return yaml.safe_load(THRESHOLDS_FILE.read_text())


def run_local_play(tmp_path, tasks, roles=(), play_vars=None, callback='ansible.builtin.json', tags=None):
    """Run one play on localhost with the venv's interpreter; return the finished process."""
    import sys  # pylint: disable=import-outside-toplevel
    import yaml  # pylint: disable=import-outside-toplevel
    play = {'name': 'test play', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}
    if roles:
        play['roles'] = list(roles)
    if play_vars:
        play['vars'] = play_vars
    path = tmp_path / 'play.yml'
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    env = tool_env(ANSIBLE_STDOUT_CALLBACK=callback, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'))
    cmd = [str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', str(path)]
    if tags:
        cmd += ['--tags', tags]
    return run(cmd, env=env, timeout=300)


def task_results(process):
    """Task name -> result on localhost, from the json stdout callback."""
    import json  # pylint: disable=import-outside-toplevel
    doc = json.loads(process.stdout[process.stdout.index('{'):])
    return {t['task']['name']: t['hosts']['localhost'] for t in doc['plays'][0]['tasks']}
