"""Build the reference stack's images from the local base image, tagged with a release version.

    python3 stack/build_images.py --version 1.2.0                    # good release
    python3 stack/build_images.py --version 1.2.1 --fault http_500  # "bad" release, for tests
    python3 stack/build_images.py --version 1.2.0 --json            # print what was built

Builds `x402rb-prover:<version>` and `x402rb-nginx:<version>` FROM the sandbox
base image (`x402rb-base:bookworm`, scripts/build-base-image.sh). The circuit
and its trusted setup are built first when needed (stack/circuits/build_circuit.py).
Each image carries the label `x402rb.inputs`, a hash of everything it is made
of (Dockerfile, staged files, base image id, version, fault mode); an image
whose label already matches is not rebuilt. Fault modes (test-only, baked in as
X402_FAULT): none | http_500 | invalid_proof | unhealthy.
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

STACK = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(STACK / 'tools'))
sys.path.insert(0, str(STACK / 'circuits'))

import buildlib  # noqa: E402 pylint: disable=wrong-import-position
import build_circuit as circuit_build  # noqa: E402 pylint: disable=wrong-import-position

FAULTS = ('none', 'http_500', 'invalid_proof', 'unhealthy')
DEFAULT_BASE = 'x402rb-base:bookworm'
VERSION_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')
# Build-time only parts of node_modules: the compiler and the circuit library.
NODE_MODULES_SKIP = {'circom2', 'circomlib', '@wasmer', '.bin', '.package-lock.json'}


def docker(*args, check=True):
    proc = subprocess.run(['docker'] + [str(a) for a in args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError('docker %s failed: %s' % (' '.join(str(a) for a in args[:3]), (proc.stderr or proc.stdout)[-3000:]))
    return proc


def image_label(ref, label):
    proc = docker('image', 'inspect', '-f', '{{index .Config.Labels "%s"}}' % label, ref, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def image_id(ref):
    proc = docker('image', 'inspect', '-f', '{{.Id}}', ref, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _copytree(src, dst, skip=()):
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=lambda d, names: [n for n in names if n in skip or n == '__pycache__'
                                                       or n.endswith('.pyc')])


def _tree_files(root):
    return sorted(p for p in pathlib.Path(root).rglob('*') if p.is_file())


def stage_prover(circuit):
    """Assemble the prover's build context in the cache; return (context dir, content hash)."""
    ctx = buildlib.cache_dir() / 'images' / 'prover'
    paths = circuit['paths']
    stamp_path = ctx.parent / 'prover-context.json'
    code_files = _tree_files(STACK / 'prover' / 'x402prover') + [STACK / 'prover' / 'snark_worker.js',
                                                                 STACK / 'tools' / 'r1cs.py',
                                                                 STACK / 'images' / 'prover' / 'Dockerfile']
    code_files = [f for f in code_files if '__pycache__' not in f.parts]
    content = buildlib.inputs_hash(code_files, extra=[circuit['inputs'], json.dumps(circuit['sha256'], sort_keys=True),
                                                      buildlib.sha256_file(STACK / 'circuits' / 'package-lock.json')])
    if buildlib.read_stamp(stamp_path).get('content') == content and ctx.is_dir():
        return ctx, content
    buildlib.log('staging the prover build context in %s' % ctx)
    ctx.mkdir(parents=True, exist_ok=True)
    shutil.copy2(STACK / 'images' / 'prover' / 'Dockerfile', ctx / 'Dockerfile')
    _copytree(pathlib.Path(paths['node_modules']), ctx / 'node_modules', skip=NODE_MODULES_SKIP)
    circuits = ctx / 'circuits'
    if circuits.exists():
        shutil.rmtree(circuits)
    circuits.mkdir()
    for key in ('wasm', 'r1cs', 'zkey', 'vkey', 'stamp'):
        shutil.copy2(paths[key], circuits / pathlib.Path(paths[key]).name)
    _copytree(STACK / 'prover', ctx / 'prover')
    tools = ctx / 'tools'
    if tools.exists():
        shutil.rmtree(tools)
    tools.mkdir()
    shutil.copy2(STACK / 'tools' / 'r1cs.py', tools / 'r1cs.py')
    buildlib.write_stamp(stamp_path, {'content': content})
    return ctx, content


def stage_nginx():
    ctx = buildlib.cache_dir() / 'images' / 'nginx'
    ctx.mkdir(parents=True, exist_ok=True)
    shutil.copy2(STACK / 'images' / 'nginx' / 'Dockerfile', ctx / 'Dockerfile')
    shutil.copy2(STACK / 'deploy' / 'nginx.conf', ctx / 'nginx.conf')
    return ctx, buildlib.inputs_hash([ctx / 'Dockerfile', ctx / 'nginx.conf'])


def build_image(name, version, ctx, content, base, build_args):
    """docker build unless NAME:VERSION already carries the same inputs hash."""
    ref = '%s:%s' % (name, version)
    base_id = image_id(base)
    if base_id is None:
        raise RuntimeError('base image %s is missing: run scripts/build-base-image.sh first' % base)
    inputs = buildlib.inputs_hash([], extra=[content, base_id, version] + sorted(
        '%s=%s' % kv for kv in build_args.items()))[:32]
    previous = image_id(ref)
    if previous and image_label(ref, 'x402rb.inputs') == inputs:
        return {'image': ref, 'built': False, 'inputs': inputs, 'seconds': 0.0, 'id': previous}
    buildlib.log('docker build %s' % ref)
    args = ['build', '-q', '-t', ref, '--label', 'x402rb.inputs=%s' % inputs, '--build-arg', 'BASE_IMAGE=%s' % base,
            '--build-arg', 'X402_VERSION=%s' % version]
    for key, value in build_args.items():
        args += ['--build-arg', '%s=%s' % (key, value)]
    started = time.monotonic()
    env = dict(os.environ, DOCKER_BUILDKIT=os.environ.get('DOCKER_BUILDKIT', '0'))
    proc = subprocess.run(['docker'] + args + [str(ctx)], capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError('docker build of %s failed:\n%s' % (ref, (proc.stdout + proc.stderr)[-4000:]))
    new_id = image_id(ref)
    if previous and previous != new_id:
        # the image this tag pointed to is now untagged: remove it unless a container still uses it
        docker('image', 'rm', previous, check=False)
    return {'image': ref, 'built': True, 'inputs': inputs, 'seconds': round(time.monotonic() - started, 1),
            'id': new_id}


def build(version, fault='none', base=DEFAULT_BASE):
    """Build (or reuse) both images for VERSION; return a dict describing them."""
    if not VERSION_RE.match(version):
        raise RuntimeError('version %r is not a valid image tag' % version)
    if fault not in FAULTS:
        raise RuntimeError('fault must be one of %s, not %r' % (', '.join(FAULTS), fault))
    started = time.monotonic()
    circuit = circuit_build.build()
    with buildlib.locked('images'):
        return _build(version, fault, base, circuit, started)


def _build(version, fault, base, circuit, started):
    prover_ctx, prover_content = stage_prover(circuit)
    nginx_ctx, nginx_content = stage_nginx()
    result = {
        'version': version,
        'fault': fault,
        'circuit': {'constraints': circuit['constraints'], 'cached': circuit['cached'],
                    'vkey_sha256': circuit['sha256']['vkey']},
        'prover': build_image('x402rb-prover', version, prover_ctx, prover_content, base, {'X402_FAULT': fault}),
        'nginx': build_image('x402rb-nginx', version, nginx_ctx, nginx_content, base, {}),
    }
    result['seconds'] = round(time.monotonic() - started, 1)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description='Build x402rb-prover:<version> and x402rb-nginx:<version>.')
    parser.add_argument('--version', required=True, help='release version, used as the image tag')
    parser.add_argument('--fault', default='none', choices=FAULTS,
                        help='bake a test-only fault mode into the prover image (a "bad" release)')
    parser.add_argument('--base-image', default=os.environ.get('X402RB_BASE_IMAGE', DEFAULT_BASE))
    parser.add_argument('--json', action='store_true', help='print the result as JSON')
    args = parser.parse_args(argv)
    try:
        result = build(args.version, args.fault, args.base_image)
    except RuntimeError as exc:
        print('image build failed: %s' % exc, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        for key in ('prover', 'nginx'):
            item = result[key]
            print('%s %s%s' % (item['image'], 'built in %.1f s' % item['seconds'] if item['built'] else 'up to date',
                               ' (fault %s)' % args.fault if key == 'prover' and args.fault != 'none' else ''))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
