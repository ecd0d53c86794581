"""stack/tools/r1cs.py: the R1CS header reader behind the "verify constraint count" gate."""
import json
import struct

import pytest

import stack_helpers

r1cs = stack_helpers.r1cs()
PRIME = r1cs.BN254_PRIME


def header_section(constraints, wires=10, pub_out=1, pub_in=5, prv_in=7, labels=20):
    payload = struct.pack('<I', 32) + PRIME.to_bytes(32, 'little')
    payload += struct.pack('<IIIIQI', wires, pub_out, pub_in, prv_in, labels, constraints)
    return struct.pack('<IQ', 1, len(payload)) + payload


def other_section(kind, size):
    return struct.pack('<IQ', kind, size) + b'\xab' * size


def write(tmp_path, sections, magic=b'r1cs', version=1, name='c.r1cs'):
    path = tmp_path / name
    path.write_bytes(magic + struct.pack('<II', version, len(sections)) + b''.join(sections))
    return path


def test_header_first(tmp_path):
    path = write(tmp_path, [header_section(893), other_section(2, 100)])
    assert r1cs.constraint_count(path) == 893


def test_header_after_constraints_section(tmp_path):
    # circom writes the constraints section (type 2) before the header (type 1)
    path = write(tmp_path, [other_section(2, 5000), header_section(123456), other_section(3, 64)])
    header = r1cs.read_header(path)
    assert header['constraints'] == 123456
    assert header['prime'] == PRIME
    assert (header['public_outputs'], header['public_inputs'], header['private_inputs']) == (1, 5, 7)


@pytest.mark.parametrize('count', [0, 1, 2 ** 32 - 1])
def test_boundaries(tmp_path, count):
    assert r1cs.constraint_count(write(tmp_path, [header_section(count)])) == count


@pytest.mark.parametrize('case,message', [
    ('magic', 'not an R1CS file'),
    ('version', 'unsupported R1CS version 2'),
    ('no_header', 'has no header section'),
    ('truncated', 'truncated'),
    ('empty', 'truncated'),
    ('bad_size', 'unexpected size'),
])
def test_refuses_bad_files(tmp_path, case, message):
    if case == 'magic':
        path = write(tmp_path, [header_section(1)], magic=b'wtns')
    elif case == 'version':
        path = write(tmp_path, [header_section(1)], version=2)
    elif case == 'no_header':
        path = write(tmp_path, [other_section(2, 10)])
    elif case == 'truncated':
        path = write(tmp_path, [header_section(1)])
        path.write_bytes(path.read_bytes()[:-3])
    elif case == 'empty':
        path = tmp_path / 'empty.r1cs'
        path.write_bytes(b'')
    else:
        section = header_section(1)
        path = write(tmp_path, [struct.pack('<IQ', 1, 8) + section[12:20]])
    with pytest.raises(r1cs.R1csError, match=message):
        r1cs.read_header(path)


def test_cli_prints_json(tmp_path, capsys):
    path = write(tmp_path, [header_section(42)])
    assert r1cs.main([str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out['constraints'] == 42 and out['path'] == str(path)
    assert r1cs.main([str(tmp_path / 'missing.r1cs')]) == 1


@pytest.mark.integration
def test_reads_the_built_circuit_like_snarkjs(circuit):
    path = circuit['paths']['r1cs']
    header = r1cs.read_header(path)
    assert header['constraints'] == circuit['constraints'] > 0
    assert (header['public_outputs'], header['public_inputs'], header['private_inputs']) == (1, 5, 7)
    info = stack_helpers.snarkjs(circuit, 'r1cs', 'info', path)
    assert info.returncode == 0, info.stderr
    assert '# of Constraints: %d' % header['constraints'] in info.stdout
    assert '# of Wires: %d' % header['wires'] in info.stdout
