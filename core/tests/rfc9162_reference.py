#!/usr/bin/env python3
"""Independent reference for warden-core's RFC 9162 Merkle tree (core/src/ledger/merkle.rs).

A direct, recursive transcription of RFC 9162 section 2.1: the Merkle Tree Hash MTH
(2.1.1), the inclusion path PATH (2.1.3.1) and the consistency proof PROOF/SUBPROOF
(2.1.4.1), using nothing but hashlib. It shares no code with the Rust module, so the two
agreeing on the vectors below is evidence that both follow the RFC.

The tree's inputs are d(i) = SHA-256(str(i)) for i = 0, 1, 2, ..., standing in for the
ledger's entry hashes. Regenerate the stored vectors with

    python3 core/tests/rfc9162_reference.py > core/tests/data/rfc9162_vectors.json
"""

import hashlib
import json


def sha256(data):
    return hashlib.sha256(data).digest()


def largest_power_of_two_smaller_than(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d):
    """MTH(D[n]) of RFC 9162 section 2.1.1; d is the list of inputs d(0) .. d(n-1)."""
    n = len(d)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + d[0])
    k = largest_power_of_two_smaller_than(n)
    return sha256(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m, d):
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1."""
    n = len(d)
    if n == 1:
        return []
    k = largest_power_of_two_smaller_than(n)
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m, d, b):
    """SUBPROOF(m, D[n], b) of RFC 9162 section 2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = largest_power_of_two_smaller_than(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def proof(m, d):
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1."""
    return subproof(m, d, True)


def entry(i):
    return sha256(str(i).encode("ascii"))


INCLUSION_CASES = [(0, 1), (0, 2), (1, 2), (2, 3), (0, 5), (4, 5), (3, 6), (6, 7), (0, 8), (5, 8), (7, 8),
                   (3, 13), (12, 13), (9, 16), (15, 16)]
CONSISTENCY_CASES = [(1, 1), (4, 4), (1, 2), (1, 8), (2, 5), (3, 4), (3, 7), (4, 8), (6, 7), (6, 8), (5, 13),
                     (9, 11), (7, 16), (8, 16), (15, 16)]
MAX_SIZE = 16


def main():
    d = [entry(i) for i in range(MAX_SIZE)]
    vectors = {
        "source": "core/tests/rfc9162_reference.py",
        "inputs": "d(i) = SHA-256 of the decimal digits of i in ASCII; leaf_hash = SHA-256(0x00 || d(i))",
        "leaves": [{"index": i, "entry_hash": d[i].hex(), "leaf_hash": mth([d[i]]).hex()} for i in range(MAX_SIZE)],
        "roots": [{"size": n, "root": mth(d[:n]).hex()} for n in range(MAX_SIZE + 1)],
        "inclusion": [{"index": m, "size": n, "proof": [h.hex() for h in path(m, d[:n])]}
                      for m, n in INCLUSION_CASES],
        "consistency": [{"old_size": m, "new_size": n, "proof": [h.hex() for h in proof(m, d[:n])]}
                        for m, n in CONSISTENCY_CASES],
    }
    print(json.dumps(vectors, indent=2))


if __name__ == "__main__":
    main()
