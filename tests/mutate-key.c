/* mutate-key.c - rewrite one GGUF metadata value in place, for the
 * hyperparameter mutation test (tests/hparams-mutated.sh).
 *
 *   mutate-key list IN             print "KEY TYPE" of every number-valued key
 *   mutate-key set IN OUT KEY VAL  copy IN to OUT with KEY's value set to VAL
 *
 * VAL is 0, -1, i31 (2^31-1), u32 (2^32-1), huge (the type's largest value),
 * inf or nan. A value keeps its type and size, so nothing else in the file
 * moves; an integer array (per-layer values) has every element set. The
 * value is converted as C converts it (-1 is all ones in an unsigned
 * type); inf and nan do not apply to integers (exit 3). The parser here is
 * the test's own, so it does not share the engine's bugs. */
#include <math.h>
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64, NTYPES };
static const char *const tname[NTYPES] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
					   "bool", "str", "arr", "u64", "i64", "f64"};
static const int tsize[NTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static unsigned char *buf;
static size_t len, pos;

static void die(const char *msg)
{
	fprintf(stderr, "mutate-key: %s (at byte %zu)\n", msg, pos);
	exit(1);
}

static uint64_t rd(int n)
{
	if (pos + (size_t)n > len)
		die("truncated");
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)buf[pos + (size_t)i] << (8 * i);
	pos += (size_t)n;
	return v;
}

static void skip(uint64_t n)
{
	if (n > len - pos)
		die("truncated");
	pos += (size_t)n;
}

static void skip_value(uint32_t type, int depth)
{
	if (type >= NTYPES || depth > 4)
		die("bad value type");
	if (type == STR) {
		skip(rd(8));
	} else if (type == ARR) {
		uint32_t et = (uint32_t)rd(4);
		uint64_t n = rd(8);
		if (et < NTYPES && tsize[et]) {
			if (n > (len - pos) / (uint64_t)tsize[et])
				die("truncated");
			skip(n * (uint64_t)tsize[et]);
		} else {
			for (uint64_t i = 0; i < n; i++)
				skip_value(et, depth + 1);
		}
	} else {
		skip((uint64_t)tsize[type]);
	}
}

/* Store VAL in the n elements of type t at off. 0, or 3 if not applicable. */
static int store(size_t off, uint32_t t, uint64_t n, const char *val)
{
	int isf = t == F32 || t == F64;
	double d;
	int64_t i;
	if (!strcmp(val, "0"))
		d = 0, i = 0;
	else if (!strcmp(val, "-1"))
		d = -1, i = -1;
	else if (!strcmp(val, "i31"))
		d = 2147483647.0, i = INT32_MAX;
	else if (!strcmp(val, "u32"))
		d = 4294967295.0, i = (int64_t)UINT32_MAX;
	else if (!strcmp(val, "huge"))
		d = t == F32 ? FLT_MAX : DBL_MAX, i = -1; /* all ones: the unsigned maximum */
	else if (!strcmp(val, "inf") && isf)
		d = INFINITY, i = 0;
	else if (!strcmp(val, "nan") && isf)
		d = NAN, i = 0;
	else
		return 3;
	if (!strcmp(val, "huge") && (t == I8 || t == I16 || t == I32 || t == I64))
		i = t == I8 ? INT8_MAX : t == I16 ? INT16_MAX : t == I32 ? INT32_MAX : INT64_MAX;
	unsigned char b[8];
	int sz = tsize[t];
	if (t == F32) {
		float f = (float)d;
		memcpy(b, &f, 4);
	} else if (t == F64) {
		memcpy(b, &d, 8);
	} else {
		uint64_t u = (uint64_t)i;
		for (int k = 0; k < 8; k++)
			b[k] = (unsigned char)(u >> (8 * k));
	}
	for (uint64_t e = 0; e < n; e++)
		memcpy(buf + off + e * (uint64_t)sz, b, (size_t)sz); /* little-endian host assumed, as GGUF */
	return 0;
}

int main(int argc, char **argv)
{
	int list = argc == 3 && !strcmp(argv[1], "list");
	if (!list && !(argc == 6 && !strcmp(argv[1], "set"))) {
		fprintf(stderr, "usage: mutate-key list IN | mutate-key set IN OUT KEY VALUE\n");
		return 2;
	}
	FILE *f = fopen(argv[2], "rb");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n <= 0 || !(buf = malloc((size_t)n)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		perror(argv[2]);
		return 1;
	}
	fclose(f);
	len = (size_t)n;
	if (rd(4) != 0x46554747u) /* "GGUF" */
		die("not a GGUF file");
	rd(4);      /* version */
	rd(8);      /* tensors */
	uint64_t n_kv = rd(8);
	int found = 0, rc = 0;
	for (uint64_t k = 0; k < n_kv; k++) {
		uint64_t kl = rd(8);
		if (kl > 4096)
			die("key too long");
		char key[4097];
		memcpy(key, buf + pos, (size_t)kl);
		key[kl] = '\0';
		skip(kl);
		uint32_t t = (uint32_t)rd(4);
		size_t at = pos;
		uint32_t et = t;
		uint64_t ne = 1;
		if (t == ARR) {
			et = (uint32_t)rd(4);
			ne = rd(8);
			at = pos;
			pos = at - 12;
		}
		skip_value(t, 0);
		int num = et < NTYPES && tsize[et] && et != BOOL;
		if (!num)
			continue;
		if (t == ARR && (et == F32 || et == F64 || ne > 4096))
			continue; /* float arrays are data (scores), not hyperparameters */
		if (list) {
			printf("%s %s%s\n", key, t == ARR ? "arr-" : "", tname[et]);
		} else if (!strcmp(key, argv[4])) {
			found = 1;
			rc = store(at, et, ne, argv[5]);
		}
	}
	if (list)
		return 0;
	if (!found) {
		fprintf(stderr, "mutate-key: %s: no number-valued key %s\n", argv[2], argv[4]);
		return 1;
	}
	if (rc)
		return rc;
	FILE *o = fopen(argv[3], "wb");
	if (!o || fwrite(buf, 1, len, o) != len || fclose(o)) {
		perror(argv[3]);
		return 1;
	}
	return 0;
}
