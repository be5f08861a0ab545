#!/usr/bin/env python3
"""uniform-imatrix.py - an importance matrix of ones for every weight
matrix of a GGUF model, in llama.cpp's legacy .dat format.

    uniform-imatrix.py MODEL.gguf OUT.dat

llama-quantize refuses IQ1_S/IQ1_M/IQ2_XXS/IQ2_XS/IQ2_S/IQ3_XXS without an
importance matrix; synthetic models have no text to compute one from, and a
uniform one weighs every column alike (what a quantizer without one does).
Entries: one per tensor of 2 or 3 dimensions, ne[0] * ne[2] values (per
expert for 3-D tensors), as llama-quant.cpp reads them."""
import struct
import sys

SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def read(f, fmt):
    return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))


def string(f):
    (n,) = read(f, "Q")
    return f.read(n).decode()


def skip_value(f, t):
    if t == 8:
        string(f)
    elif t == 9:
        et, n = read(f, "IQ")
        for _ in range(n):
            skip_value(f, et)
    else:
        f.read(SIZES[t])


def tensors(path):
    with open(path, "rb") as f:
        magic, version, n_tensors, n_kv = read(f, "4sIQQ")
        if magic != b"GGUF" or version < 2:
            sys.exit(f"{path}: not a GGUF v2+ file")
        for _ in range(n_kv):
            string(f)
            (t,) = read(f, "I")
            skip_value(f, t)
        for _ in range(n_tensors):
            name = string(f)
            (nd,) = read(f, "I")
            ne = read(f, "Q" * nd)
            read(f, "IQ")  # type, offset
            yield name, ne


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: uniform-imatrix.py MODEL.gguf OUT.dat")
    entries = [(n, ne) for n, ne in tensors(sys.argv[1]) if len(ne) >= 2]
    with open(sys.argv[2], "wb") as out:
        out.write(struct.pack("<i", len(entries)))
        for name, ne in entries:
            nval = ne[0] * (ne[2] if len(ne) > 2 else 1)
            b = name.encode()
            out.write(struct.pack("<i", len(b)) + b + struct.pack("<ii", 1, nval))
            out.write(struct.pack("<f", 1.0) * nval)
        out.write(struct.pack("<ii", 1, 7) + b"uniform")


main()
