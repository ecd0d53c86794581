"""Shared helpers of the reference stack's build scripts (standard library only).

Everything the builds produce lives under one cache directory that git and
`ansible-galaxy collection build` both ignore: `<repo>/.cache/stack` by default,
or `$X402RB_STACK_CACHE`. Each build step writes a JSON stamp holding the hash
of its inputs and is skipped while that hash is unchanged.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

STACK = pathlib.Path(__file__).resolve().parents[1]
ROOT = STACK.parent
CIRCUITS_SRC = STACK / 'circuits'


def cache_dir():
    """The build cache: $X402RB_STACK_CACHE or <repo>/.cache/stack (created)."""
    path = pathlib.Path(os.environ.get('X402RB_STACK_CACHE') or ROOT / '.cache' / 'stack')
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def locked(name):
    """Serialise builds of NAME across processes (a test run and a bootstrap at once)."""
    with open(cache_dir() / ('.%s.lock' % name), 'w', encoding='ascii') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log(msg):
    print('[stack] %s' % msg, file=sys.stderr, flush=True)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def inputs_hash(paths, extra=()):
    """Hash of files (name + content) and extra strings, in the given order."""
    digest = hashlib.sha256()
    for path in paths:
        path = pathlib.Path(path)
        rel = path.relative_to(STACK) if path.is_relative_to(STACK) else path.name
        digest.update(str(rel).encode() + b'\0')
        digest.update(sha256_file(path).encode() + b'\0')
    for item in extra:
        digest.update(str(item).encode() + b'\0')
    return digest.hexdigest()


def read_stamp(path):
    try:
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def write_stamp(path, data):
    tmp = pathlib.Path(str(path) + '.tmp')
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + '\n', encoding='utf-8')
    os.replace(tmp, path)


def run(cmd, cwd=None, env=None, quiet=True):
    """Run a command; on failure raise with the tail of its output."""
    started = time.monotonic()
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd and str(cwd), env=env, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError('command failed (%d): %s\n%s' % (proc.returncode, ' '.join(str(c) for c in cmd), tail))
    if not quiet:
        sys.stderr.write(proc.stdout)
    return time.monotonic() - started


def node_modules():
    """`npm ci` of stack/circuits' package-lock.json into the cache; return node_modules.

    Skipped while package.json and package-lock.json are unchanged. The lock pins
    circom2, circomlib and snarkjs (and their dependencies) exactly.
    """
    npm_dir = cache_dir() / 'npm'
    sources = [CIRCUITS_SRC / 'package.json', CIRCUITS_SRC / 'package-lock.json']
    want = inputs_hash(sources)
    stamp_path = npm_dir / 'stamp.json'
    modules = npm_dir / 'node_modules'
    if read_stamp(stamp_path).get('inputs') == want and (modules / 'snarkjs').is_dir():
        return modules
    if shutil.which('npm') is None:
        raise RuntimeError('npm is not installed: the circuit build needs node and npm (Node >= 18)')
    log('npm ci (circom2, circomlib, snarkjs) into %s' % npm_dir)
    npm_dir.mkdir(parents=True, exist_ok=True)
    for src in sources:
        shutil.copy2(src, npm_dir / src.name)
    seconds = run(['npm', 'ci', '--no-audit', '--no-fund', '--loglevel=error'], cwd=npm_dir)
    write_stamp(stamp_path, {'inputs': want, 'seconds': round(seconds, 1)})
    return modules
