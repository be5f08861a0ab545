/* fuzz-gguf.c - fuzz target for the GGUF reader.
 *
 * Built with clang -fsanitize=fuzzer it is a libFuzzer target (see
 * tests/fuzz-smoke.sh). Built with -DFUZZ_STANDALONE it replays files and
 * directories given on the command line, and with "-n N [-seed S]" also runs
 * N random mutations of them - so a crash found anywhere can be replayed
 * under gcc, valgrind or a debugger:
 *   fuzz-gguf [-n N] [-seed S] FILE|DIR...
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "util.h"
#include "xorshift.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reader takes a path: hand it an in-memory file (a temp file where
 * memfd_create is missing). */
static int input_fd(char *path, size_t n)
{
	int fd = memfd_create("fuzz-gguf", MFD_CLOEXEC);
	if (fd >= 0) {
		snprintf(path, n, "/proc/self/fd/%d", fd);
		return fd;
	}
	const char *t = getenv("TMPDIR");
	snprintf(path, n, "%s/fuzz-gguf.XXXXXX", t && *t ? t : "/tmp");
	fd = mkstemp(path);
	if (fd >= 0)
		unlink(path); /* /proc/self/fd keeps it reachable */
	if (fd >= 0)
		snprintf(path, n, "/proc/self/fd/%d", fd);
	return fd;
}

/* Touch everything an opened model exposes, so that a reader bug shows up
 * as a sanitizer report rather than a wrong answer later. */
static void exercise(const struct gguf *g)
{
	volatile uint64_t sink = 0;
	for (size_t i = 0; i < g->n_kv; i++) {
		const struct gguf_value *v = gguf_get(g, g->kv[i].key);
		uint64_t u;
		int64_t s;
		double f;
		bool b;
		if (!v)
			abort();
		sink += gguf_get_u64(g, g->kv[i].key, &u) + gguf_get_i64(g, g->kv[i].key, &s) +
			gguf_get_f64(g, g->kv[i].key, &f) + gguf_get_bool(g, g->kv[i].key, &b);
		if (v->type == GGUF_STRING)
			sink += v->str.ptr[v->str.len] == 0;
		if (v->type == GGUF_ARRAY && v->arr.n && v->arr.type == GGUF_STRING) {
			const struct gguf_str *st = v->arr.data;
			sink += (uint8_t)st[v->arr.n - 1].ptr[st[v->arr.n - 1].len];
		}
	}
	for (size_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		uint8_t byte = 0;
		if (gguf_find_tensor(g, t->name) != t)
			abort();
		if (t->nbytes && gguf_read_tensor(g, t, t->nbytes - 1, &byte, 1) != 0)
			abort(); /* validated tensors must be readable */
		sink += byte;
	}
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[512];
	int fd = input_fd(path, sizeof(path));
	if (fd < 0 || write_full(fd, data, size) != (int64_t)size) {
		perror("fuzz-gguf: input file");
		abort();
	}
	struct gguf_error err;
	struct gguf *g = gguf_open(path, &err);
	if (g) {
		exercise(g);
		gguf_close(g);
	} else if (!err.msg[0] || err.offset > size) {
		fprintf(stderr, "fuzz-gguf: bad error report '%s' at %llu\n", err.msg, (unsigned long long)err.offset);
		abort();
	}
	close(fd);
	return 0;
}

#ifdef FUZZ_STANDALONE

static uint64_t rng_state = 1;

static uint64_t rng(void)
{
	return xorshift(&rng_state);
}

struct input {
	uint8_t *p;
	size_t n;
};

static struct input *inputs;
static size_t n_inputs;

static void add_file(const char *path)
{
	size_t n;
	char *p = read_file(path, &n, 256u << 20);
	if (!p) {
		fprintf(stderr, "fuzz-gguf: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	inputs = xreallocarray(inputs, n_inputs + 1, sizeof(*inputs));
	inputs[n_inputs++] = (struct input){ (uint8_t *)p, n };
}

static void add_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "fuzz-gguf: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if (!S_ISDIR(st.st_mode)) {
		add_file(path);
		return;
	}
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *sub;
		xasprintf(&sub, "%s/%s", path, e->d_name);
		if (stat(sub, &st) == 0 && S_ISREG(st.st_mode))
			add_file(sub);
		free(sub);
	}
	if (d)
		closedir(d);
}

/* Byte flips, boundary integers and truncation, biased to the front where
 * the header lives. */
static void mutate(uint8_t *p, size_t *n)
{
	static const uint64_t specials[] = { 0, 1, 0xff, 0xffffffffull, 1ull << 32, 1ull << 63, UINT64_MAX, 32, 31 };
	int k = 1 + (int)(rng() % 4);
	for (int j = 0; j < k && *n >= 8; j++) {
		size_t span = *n < 65536 ? *n : 65536;
		size_t at = (size_t)(rng() % (span - 7));
		switch (rng() % 4) {
		case 0: p[at] ^= (uint8_t)(1u << (rng() % 8)); break;
		case 1: p[at] = (uint8_t)rng(); break;
		case 2: {
			uint64_t v = specials[rng() % (sizeof(specials) / sizeof(specials[0]))];
			memcpy(p + at, &v, rng() % 2 ? 8 : 4);
			break;
		}
		default: *n = (size_t)(rng() % (*n + 1)); break;
		}
	}
}

int main(int argc, char **argv)
{
	long n_mut = 0;
	heft_progname = "fuzz-gguf";
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			n_mut = atol(argv[++i]);
		else if (strcmp(argv[i], "-seed") == 0 && i + 1 < argc)
			rng_state = strtoull(argv[++i], NULL, 0) | 1;
		else {
			fprintf(stderr, "usage: fuzz-gguf [-n N] [-seed S] FILE|DIR...\n");
			return 2;
		}
	}
	for (; i < argc; i++)
		add_path(argv[i]);
	if (!n_inputs) {
		fprintf(stderr, "fuzz-gguf: no inputs\n");
		return 2;
	}
	for (size_t k = 0; k < n_inputs; k++)
		LLVMFuzzerTestOneInput(inputs[k].p, inputs[k].n);
	uint8_t *scratch = NULL;
	for (long m = 0; m < n_mut; m++) {
		const struct input *in = &inputs[rng() % n_inputs];
		scratch = xrealloc(scratch, in->n ? in->n : 1);
		memcpy(scratch, in->p, in->n);
		size_t n = in->n;
		mutate(scratch, &n);
		LLVMFuzzerTestOneInput(scratch, n);
	}
	printf("fuzz-gguf: %zu inputs replayed, %ld mutations run\n", n_inputs, n_mut);
	free(scratch);
	for (size_t k = 0; k < n_inputs; k++)
		free(inputs[k].p);
	free(inputs);
	return 0;
}

#endif
