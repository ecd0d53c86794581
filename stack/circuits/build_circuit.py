"""Build the reference payment circuit and run its LOCAL trusted setup.

    python3 stack/circuits/build_circuit.py [--force] [--json]

Steps (artifacts in <cache>/circuits, see stack/tools/buildlib.py for <cache>):
  1. `npm ci` of package-lock.json (circom2, circomlib, snarkjs) — once per lock;
  2. compile payment_proof.circom with circom2 (Circom 2 as WebAssembly, --O2)
     into payment_proof.r1cs, payment_proof.wasm, payment_proof.sym;
  3. phase 1, powers of tau, sized from the constraint count (2^power >=
     constraints + public signals + 1), kept per power in <cache>/ptau:
       snarkjs powersoftau new bn128 <power>
       snarkjs powersoftau beacon ... PHASE1_BEACON 10
       snarkjs powersoftau prepare phase2
  4. phase 2 for this circuit:
       snarkjs groth16 setup  ->  snarkjs zkey beacon ... PHASE2_BEACON 10
       snarkjs zkey verify (the zkey against r1cs + ptau)
       snarkjs zkey export verificationkey  ->  verification_key.json
The contributions are BEACON contributions with the fixed values below, not
`contribute -e <entropy>`: snarkjs mixes OS randomness into every `contribute`,
whereas a beacon is a deterministic function of its value, so the same sources
always give byte-identical keys (tests and image hashes rely on it). Anyone can
recompute the toxic waste from these published values: the keys are for tests
and the sandbox only, never for money.

Steps 2-4 are skipped while the inputs' hash (circuit, lock file, this script)
matches build.json; step 3 alone is skipped while the ptau of that power exists.
"""
import argparse
import json
import math
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / 'tools'))

import buildlib  # noqa: E402 pylint: disable=wrong-import-position
import r1cs  # noqa: E402 pylint: disable=wrong-import-position

CIRCUIT = 'payment_proof'
SOURCE = buildlib.CIRCUITS_SRC / (CIRCUIT + '.circom')
# Published, fixed beacon values (sha256 of the ASCII phrases in the comments).
# sha256("x402.runbook reference stack: phase 1 beacon")
PHASE1_BEACON = '0cfa0f88a69bda66a602347f8e90b541897553f182e2afa6d2be3f20cd61a5aa'
# sha256("x402.runbook reference stack: phase 2 beacon")
PHASE2_BEACON = '36d63cc3a00f53b6fd4f553f08240dfc202b8575e7c5b0cc79a79ef08e9abe43'
BEACON_ITERATIONS_EXP = 10
MIN_POWER = 8


def artifacts_dir():
    return buildlib.cache_dir() / 'circuits'


def artifact_paths(out=None):
    out = pathlib.Path(out or artifacts_dir())
    return {
        'dir': out,
        'r1cs': out / (CIRCUIT + '.r1cs'),
        'wasm': out / (CIRCUIT + '.wasm'),
        'sym': out / (CIRCUIT + '.sym'),
        'zkey': out / (CIRCUIT + '.zkey'),
        'vkey': out / 'verification_key.json',
        'stamp': out / 'build.json',
        'node_modules': buildlib.cache_dir() / 'npm' / 'node_modules',
    }


def _inputs_hash():
    return buildlib.inputs_hash(
        [SOURCE, buildlib.CIRCUITS_SRC / 'package-lock.json', pathlib.Path(__file__).resolve()],
        extra=[PHASE1_BEACON, PHASE2_BEACON, BEACON_ITERATIONS_EXP, MIN_POWER])


def setup_power(header):
    """Smallest power of two the Groth16 setup accepts for this circuit."""
    needed = header['constraints'] + header['public_inputs'] + header['public_outputs'] + 1
    return max(MIN_POWER, math.ceil(math.log2(needed)))


def _ptau(modules, power, timings):
    """Phase 1 of size 2^power, cached across circuit changes."""
    ptau_dir = buildlib.cache_dir() / 'ptau'
    final = ptau_dir / ('pot%d_final.ptau' % power)
    stamp = ptau_dir / ('pot%d.json' % power)
    want = buildlib.inputs_hash([buildlib.CIRCUITS_SRC / 'package-lock.json'],
                                extra=[power, PHASE1_BEACON, BEACON_ITERATIONS_EXP])
    if final.exists() and buildlib.read_stamp(stamp).get('inputs') == want:
        return final
    ptau_dir.mkdir(parents=True, exist_ok=True)
    snarkjs = ['node', modules / 'snarkjs' / 'build' / 'cli.cjs']
    p0, p1 = ptau_dir / ('pot%d_0000.ptau' % power), ptau_dir / ('pot%d_beacon.ptau' % power)
    buildlib.log('phase 1: powers of tau 2^%d (new, beacon, prepare phase2)' % power)
    started = time.monotonic()
    buildlib.run(snarkjs + ['powersoftau', 'new', 'bn128', power, p0])
    buildlib.run(snarkjs + ['powersoftau', 'beacon', p0, p1, PHASE1_BEACON, BEACON_ITERATIONS_EXP,
                            '-n=x402rb phase 1 beacon'])
    buildlib.run(snarkjs + ['powersoftau', 'prepare', 'phase2', p1, final])
    p0.unlink()
    p1.unlink()
    timings['ptau_s'] = round(time.monotonic() - started, 1)
    buildlib.write_stamp(stamp, {'inputs': want, 'power': power, 'seconds': timings['ptau_s'],
                                 'sha256': buildlib.sha256_file(final)})
    return final


def build(force=False):
    """Build (or reuse) the circuit artifacts; return build.json's content plus paths."""
    with buildlib.locked('circuit'):
        return _build(force)


def _build(force):
    paths = artifact_paths()
    want = _inputs_hash()
    stamp = buildlib.read_stamp(paths['stamp'])
    if not force and stamp.get('inputs') == want and all(
            paths[k].exists() for k in ('r1cs', 'wasm', 'zkey', 'vkey')) and paths['node_modules'].is_dir():
        return dict(stamp, paths={k: str(v) for k, v in paths.items()}, cached=True)

    timings = {}
    started = time.monotonic()
    modules = buildlib.node_modules()
    timings['npm_s'] = round(time.monotonic() - started, 1)
    out = paths['dir']
    work = out.with_name(out.name + '.tmp')
    if work.exists():
        for child in sorted(work.rglob('*'), reverse=True):
            child.rmdir() if child.is_dir() else child.unlink()
        work.rmdir()
    work.mkdir(parents=True)
    tmp = artifact_paths(work)

    buildlib.log('compiling %s with circom2' % SOURCE.name)
    # circom2 runs under WASI and sees only the working directory and its
    # ancestors: compile from the cache dir, with every path below it.
    cache = buildlib.cache_dir()
    (work / SOURCE.name).write_bytes(SOURCE.read_bytes())
    timings['compile_s'] = round(buildlib.run(
        ['node', modules / 'circom2' / 'cli.js', work.relative_to(cache) / SOURCE.name, '--O2', '--r1cs', '--wasm',
         '--sym', '-o', work.relative_to(cache), '-l', modules.relative_to(cache)], cwd=cache), 1)
    (work / SOURCE.name).unlink()
    (work / (CIRCUIT + '_js') / (CIRCUIT + '.wasm')).rename(tmp['wasm'])
    for leftover in sorted((work / (CIRCUIT + '_js')).iterdir()):
        leftover.unlink()
    (work / (CIRCUIT + '_js')).rmdir()

    header = r1cs.read_header(tmp['r1cs'])
    power = setup_power(header)
    ptau = _ptau(modules, power, timings)

    snarkjs = ['node', modules / 'snarkjs' / 'build' / 'cli.cjs']
    zkey0 = work / (CIRCUIT + '_0000.zkey')
    buildlib.log('phase 2: groth16 setup, beacon contribution, verify, export verification key')
    phase2 = time.monotonic()
    buildlib.run(snarkjs + ['groth16', 'setup', tmp['r1cs'], ptau, zkey0])
    buildlib.run(snarkjs + ['zkey', 'beacon', zkey0, tmp['zkey'], PHASE2_BEACON, BEACON_ITERATIONS_EXP,
                            '-n=x402rb phase 2 beacon'])
    zkey0.unlink()
    buildlib.run(snarkjs + ['zkey', 'verify', tmp['r1cs'], ptau, tmp['zkey']])
    buildlib.run(snarkjs + ['zkey', 'export', 'verificationkey', tmp['zkey'], tmp['vkey']])
    timings['phase2_s'] = round(time.monotonic() - phase2, 1)
    timings['total_s'] = round(time.monotonic() - started, 1)

    result = {
        'inputs': want,
        'circuit': CIRCUIT,
        'constraints': header['constraints'],
        'public_inputs': header['public_inputs'],
        'public_outputs': header['public_outputs'],
        'private_inputs': header['private_inputs'],
        'ptau_power': power,
        'sha256': {k: buildlib.sha256_file(tmp[k]) for k in ('r1cs', 'wasm', 'zkey', 'vkey')},
        'timings': timings,
        'built_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
    }
    buildlib.write_stamp(tmp['stamp'], result)
    if out.exists():
        for child in out.iterdir():
            child.unlink()
        out.rmdir()
    work.rename(out)
    buildlib.log('circuit built in %.1f s: %d constraints, ptau 2^%d' % (timings['total_s'], header['constraints'], power))
    return dict(result, paths={k: str(v) for k, v in paths.items()}, cached=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Build the reference circuit and its local trusted setup.')
    parser.add_argument('--force', action='store_true', help='rebuild even when the inputs are unchanged')
    parser.add_argument('--json', action='store_true', help='print the build record as JSON')
    args = parser.parse_args(argv)
    try:
        result = build(force=args.force)
    except RuntimeError as exc:
        print('circuit build failed: %s' % exc, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        state = 'up to date' if result['cached'] else 'built'
        print('%s %s: %d constraints, ptau 2^%d, artifacts in %s'
              % (CIRCUIT, state, result['constraints'], result['ptau_power'], result['paths']['dir']))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
