"""Read the header of a Circom `.r1cs` file (iden3 binary format, version 1).

Layout: magic ``r1cs``, u32 version, u32 number of sections, then sections of
``u32 type, u64 size, payload`` in any order. Section type 1 is the header:
``u32 field size n8, prime (n8 bytes, little-endian), u32 nWires, u32 nPubOut,
u32 nPubIn, u32 nPrvIn, u64 nLabels, u32 nConstraints``. Only that section is
read; the constraints themselves (often megabytes) are skipped with seek().

    >>> constraint_count('payment_proof.r1cs')
    893

Used by the checklist's "verify constraint count" gate and by the reference
prover's `circuit_constraints_total` gauge. Standard library only.
"""
import struct

MAGIC = b'r1cs'
HEADER_SECTION = 1
BN254_PRIME = 21888242871839275222246405745257275088548364400416034343698204186575808495617


class R1csError(ValueError):
    """The file is not a readable R1CS file."""


def _read_exact(handle, size, what):
    data = handle.read(size)
    if len(data) != size:
        raise R1csError('truncated R1CS file: expected %d bytes of %s, got %d' % (size, what, len(data)))
    return data


def read_header(path):
    """Return the header of the R1CS file at `path` as a dict.

    Keys: version, field_size, prime, wires, public_outputs, public_inputs,
    private_inputs, labels, constraints. Raises R1csError on anything that is
    not a version-1 R1CS file with a header section.
    """
    with open(path, 'rb') as handle:
        if _read_exact(handle, 4, 'magic') != MAGIC:
            raise R1csError('%s is not an R1CS file (magic is not "r1cs")' % path)
        version, n_sections = struct.unpack('<II', _read_exact(handle, 8, 'version'))
        if version != 1:
            raise R1csError('unsupported R1CS version %d in %s (only version 1 is known)' % (version, path))
        for _i in range(n_sections):
            sec_type, sec_size = struct.unpack('<IQ', _read_exact(handle, 12, 'section header'))
            if sec_type != HEADER_SECTION:
                handle.seek(sec_size, 1)
                continue
            payload = _read_exact(handle, sec_size, 'header section')
            if len(payload) < 4:
                raise R1csError('header section of %s is too short' % path)
            (n8,) = struct.unpack_from('<I', payload, 0)
            if n8 <= 0 or len(payload) != 4 + n8 + 4 * 4 + 8 + 4:
                raise R1csError('header section of %s has an unexpected size (%d bytes, field size %d)'
                                % (path, len(payload), n8))
            prime = int.from_bytes(payload[4:4 + n8], 'little')
            wires, pub_out, pub_in, prv_in, labels, constraints = struct.unpack_from('<IIIIQI', payload, 4 + n8)
            return {
                'version': version,
                'field_size': n8,
                'prime': prime,
                'wires': wires,
                'public_outputs': pub_out,
                'public_inputs': pub_in,
                'private_inputs': prv_in,
                'labels': labels,
                'constraints': constraints,
            }
    raise R1csError('%s has no header section' % path)


def constraint_count(path):
    """Number of constraints in the R1CS file at `path`."""
    return read_header(path)['constraints']


def main(argv=None):
    """`python3 stack/tools/r1cs.py FILE...`: print each file's header as JSON."""
    import json
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not args:
        print('usage: r1cs.py FILE.r1cs...', file=sys.stderr)
        return 2
    status = 0
    for path in args:
        try:
            header = read_header(path)
        except (OSError, R1csError) as exc:
            print('%s: %s' % (path, exc), file=sys.stderr)
            status = 1
            continue
        header['prime'] = str(header['prime'])
        print(json.dumps(dict(header, path=path), sort_keys=True))
    return status


if __name__ == '__main__':
    raise SystemExit(main())
