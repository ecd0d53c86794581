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
