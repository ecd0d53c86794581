"""The reference payment circuit: real Groth16 proofs from the local trusted setup (snarkjs CLI)."""
import json
import time

import pytest

import stack_helpers

pytestmark = pytest.mark.integration

# Fixed inputs: the circuit does not read the clock, so these prove at any time.
KNOWN = {
    'minAmount': '1000', 'recipientKeyX': '1234567890', 'recipientKeyY': '9876543210',
    'maxBlockAge': '300', 'currentTime': '1700000000',
    'actualAmount': '1500', 'senderKeyX': '111', 'senderKeyY': '222', 'paymentTime': '1699999900',
    'signatureR8x': '333', 'signatureR8y': '444', 'signatureS': '555',
}
# Poseidon(actualAmount, senderKeyX, senderKeyY, paymentTime, signatureR8x, signatureR8y, signatureS)
# of KNOWN, recorded from the circuit when it was written (circomlib 2.0.5): a regression pin,
# a change means the commitment (or the circuit) changed.
KNOWN_COMMITMENT = '12458894942716845559887473730154263803466908429713236507894199479021225182849'


def fullprove(circuit, tmp_path, inputs, name='p'):
    paths = circuit['paths']
    (tmp_path / (name + '-input.json')).write_text(json.dumps(inputs))
    result = stack_helpers.snarkjs(circuit, 'groth16', 'fullprove', name + '-input.json', paths['wasm'], paths['zkey'],
                                   name + '-proof.json', name + '-public.json', cwd=tmp_path)
    if result.returncode != 0:
        return None, None, result.stdout + result.stderr
    return (json.loads((tmp_path / (name + '-proof.json')).read_text()),
            json.loads((tmp_path / (name + '-public.json')).read_text()), '')


@pytest.fixture(scope='module')
def known_proof(circuit, tmp_path_factory):
    proof, public, err = fullprove(circuit, tmp_path_factory.mktemp('known'), KNOWN)
    assert proof is not None, err
    return proof, public


def test_build_is_cached_and_complete(circuit):
    started = time.monotonic()
    again = stack_helpers.circuit_build().build()
    assert again['cached'] and time.monotonic() - started < 5
    assert again['inputs'] == circuit['inputs'] and again['sha256'] == circuit['sha256']
    vkey = json.loads(open(circuit['paths']['vkey'], encoding='utf-8').read())
    assert (vkey['protocol'], vkey['curve'], vkey['nPublic']) == ('groth16', 'bn128', 6)
    assert len(vkey['IC']) == 7
    assert 2 ** circuit['ptau_power'] >= circuit['constraints'] + 7


def test_known_inputs_prove_and_verify(circuit, tmp_path, known_proof):
    proof, public = known_proof
    assert public == [KNOWN_COMMITMENT, '1000', '1234567890', '9876543210', '300', '1700000000']
    ok, out = stack_helpers.verify_with_snarkjs(circuit, tmp_path, proof, public)
    assert ok, out


@pytest.mark.parametrize('index,value', [(1, '999'), (2, '1234567891'), (5, '1700000001'), (0, '1')])
def test_tampered_public_input_does_not_verify(circuit, tmp_path, known_proof, index, value):
    proof, public = known_proof
    tampered = list(public)
    tampered[index] = value
    ok, out = stack_helpers.verify_with_snarkjs(circuit, tmp_path, proof, tampered, name='tampered')
    assert not ok, out


def test_tampered_proof_does_not_verify(circuit, tmp_path, known_proof):
    proof, public = known_proof
    tampered = json.loads(json.dumps(proof))
    tampered['pi_c'], tampered['pi_a'] = proof['pi_a'], proof['pi_c']
    ok, out = stack_helpers.verify_with_snarkjs(circuit, tmp_path, tampered, public)
    assert not ok, out


def test_commitment_binds_the_private_inputs(circuit, tmp_path):
    _proof, public, err = fullprove(circuit, tmp_path, dict(KNOWN, signatureS='556'), name='other')
    assert public is not None, err
    assert public[0] != KNOWN_COMMITMENT and public[1:] == [KNOWN[k] for k in (
        'minAmount', 'recipientKeyX', 'recipientKeyY', 'maxBlockAge', 'currentTime')]


@pytest.mark.parametrize('change', [
    {'actualAmount': '999'},                                   # below minAmount
    {'paymentTime': '1700000001'},                             # after currentTime
    {'paymentTime': '1699999699'},                             # older than maxBlockAge (301 s)
    {'actualAmount': str(2 ** 64)},                            # outside the 64-bit range check
])
def test_constraints_refuse_bad_payments(circuit, tmp_path, change):
    proof, _public, err = fullprove(circuit, tmp_path, dict(KNOWN, **change), name='bad')
    assert proof is None
    assert 'Assert Failed' in err or 'Error' in err


def test_boundary_payment_is_accepted(circuit, tmp_path):
    # actualAmount == minAmount and an age of exactly maxBlockAge are allowed (>= and <=)
    proof, public, err = fullprove(circuit, tmp_path, dict(KNOWN, actualAmount='1000', paymentTime='1699999700'),
                                   name='edge')
    assert proof is not None, err
    ok, out = stack_helpers.verify_with_snarkjs(circuit, tmp_path, proof, public)
    assert ok, out
