#!/bin/sh
# parity-nosimd.sh - the parity suite again with the plain C reference
# kernels only (HEFT_SIMD=none), so the reference path stays correct on
# machines whose CPU has no AVX2. The checked-in table is left alone.
tmp=$(mktemp "${TMPDIR:-/tmp}/heft-parity-nosimd.XXXXXX") || exit 99
trap 'rm -f "$tmp"' EXIT INT TERM
HEFT_SIMD=none HEFT_PARITY_OUT=$tmp exec sh "${top_srcdir:-.}/tests/parity.sh"
