/* test-tokenizer.c - the tokenizer against llama.cpp's test vectors and the
 * end-to-end fixtures, plus malformed tokenizer metadata built in memory.
 *
 * Fixtures: $HEFT_FIXTURES (default /work/shared/fixtures):
 *   vocab/X.gguf + X.gguf.inp + X.gguf.out  (strings separated by
 *     "\n__ggml_vocab_test__\n", each string followed by one; one line of ids
 *     per string, no BOS/EOS, specials not parsed)
 *   refs/{qwen3moe-gpt2vocab,llama-spmvocab}-Q4_0.ref + models/...gguf
 * Exit 0 pass, 1 fail, 77 skipped (fixtures absent; the in-memory cases
 * still run first). */
#include "gguf.h"
#include "test.h"
#include "tokenizer.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *fixtures_dir(void)
{
	const char *d = getenv("HEFT_FIXTURES");
	return d && *d ? d : "/work/shared/fixtures";
}

static bool exists(const char *path)
{
	return access(path, R_OK) == 0;
}

static struct tokenizer *load_path(const char *path, struct gguf **gp, char *err, size_t errlen)
{
	struct gguf_error ge;
	memset(&ge, 0, sizeof(ge));
	struct gguf *g = gguf_open(path, &ge);
	if (!g) {
		snprintf(err, errlen, "gguf: %.400s", ge.msg);
		*gp = NULL;
		return NULL;
	}
	struct tokenizer *t = tokenizer_load(g, err, errlen);
	*gp = g;
	return t;
}

static bool ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
	return na == nb && (na == 0 || !memcmp(a, b, na * sizeof(*a)));
}

static void print_ids(FILE *f, const char *label, const int32_t *ids, size_t n)
{
	fprintf(f, "    %s:", label);
	for (size_t i = 0; i < n; i++)
		fprintf(f, " %d", ids[i]);
	fputc('\n', f);
}

static void print_escaped(FILE *f, const char *label, const char *s, size_t n)
{
	fprintf(f, "    %s: \"", label);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == '"' || c == '\\')
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fprintf(f, "\"\n");
}

/* Parse a line of decimal ids. */
static size_t parse_ids(const char *s, size_t n, int32_t **out)
{
	size_t cap = 16, k = 0;
	int32_t *v = xmalloc(cap * sizeof(*v));
	size_t i = 0;
	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
			i++;
		if (i >= n)
			break;
		long x = 0;
		bool neg = false;
		if (s[i] == '-') {
			neg = true;
			i++;
		}
		while (i < n && s[i] >= '0' && s[i] <= '9')
			x = x * 10 + (s[i++] - '0');
		if (k == cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[k++] = (int32_t)(neg ? -x : x);
		while (i < n && s[i] != ' ' && s[i] != '\t')
			i++;
	}
	*out = v;
	return k;
}

/* ---- the vocabulary test vectors ------------------------------------------ */

struct vocab_result {
	char name[128];
	int pass, total, rt_pass, rt_total;
	bool load_failed;
};

static void run_vocab(const char *dir, const char *name, struct vocab_result *r)
{
	char path[1100], inp[1200], outp[1200], err[512];
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(inp, sizeof(inp), "%s.inp", path);
	snprintf(outp, sizeof(outp), "%s.out", path);
	size_t ilen, olen;
	char *itext = read_file(inp, &ilen, 64u << 20);
	char *otext = read_file(outp, &olen, 64u << 20);
	CHECKF(itext && otext, "%s: cannot read .inp/.out", name);
	struct gguf *g = NULL;
	struct tokenizer *t = itext && otext ? load_path(path, &g, err, sizeof(err)) : NULL;
	if (!t) {
		CHECKF(t, "%s: load failed: %s", name, err);
		r->load_failed = true;
		gguf_close(g);
		free(itext);
		free(otext);
		return;
	}
	static const char sep[] = "\n__ggml_vocab_test__\n";
	const size_t seplen = sizeof(sep) - 1;
	size_t ipos = 0, opos = 0;
	for (;;) {
		const char *m = memmem(itext + ipos, ilen - ipos, sep, seplen);
		if (!m)
			break;
		const char *s = itext + ipos;
		size_t slen = (size_t)(m - s);
		ipos = (size_t)(m - itext) + seplen;
		/* the matching .out line */
		const char *nl = opos < olen ? memchr(otext + opos, '\n', olen - opos) : NULL;
		size_t llen = nl ? (size_t)(nl - (otext + opos)) : olen - opos;
		int32_t *want = NULL;
		size_t nwant = opos <= olen ? parse_ids(otext + opos, llen, &want) : 0;
		opos += llen + 1;
		r->total++;

		int32_t *got = NULL;
		size_t ngot = 0;
		int rc = tokenize(t, s, slen, false, false, &got, &ngot);
		if (rc == 0 && ids_equal(got, ngot, want, nwant)) {
			r->pass++;
		} else {
			fprintf(stderr, "  %s: string %d differs\n", name, r->total - 1);
			print_escaped(stderr, "text", s, slen);
			print_ids(stderr, "want", want, nwant);
			print_ids(stderr, "got ", got, ngot);
		}
		/* round trip: byte-level BPE gives the text back exactly when the
		 * clean-up of spaces is off; SPM strips the space it prefixed */
		if (rc == 0) {
			r->rt_total++;
			size_t need = detokenize(t, got, ngot, DETOK_NO_CLEAN_SPACES, NULL, 0);
			char *back = xmalloc(need + 1);
			detokenize(t, got, ngot, DETOK_NO_CLEAN_SPACES, back, need);
			if (need == slen && !memcmp(back, s, slen)) {
				r->rt_pass++;
			} else {
				fprintf(stderr, "  %s: string %d does not round-trip\n", name, r->rt_total - 1);
				print_escaped(stderr, "text", s, slen);
				print_escaped(stderr, "back", back, need);
			}
			free(back);
		}
		free(got);
		free(want);
	}
	CHECKF(r->total > 0, "%s: no test strings", name);
	CHECKF(r->pass == r->total, "%s: %d of %d strings differ", name, r->total - r->pass, r->total);
	CHECKF(r->rt_pass == r->rt_total, "%s: %d of %d strings do not round-trip", name,
	       r->rt_total - r->rt_pass, r->rt_total);
	tokenizer_free(t);
	gguf_close(g);
	free(itext);
	free(otext);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int test_vocabs(const char *fx)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/vocab", fx);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".gguf"))
			continue;
		char p[1400];
		snprintf(p, sizeof(p), "%s/%s.inp", dir, de->d_name);
		if (!exists(p))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	struct vocab_result *res = xcalloc(n ? n : 1, sizeof(*res));
	for (size_t i = 0; i < n; i++)
		run_vocab(dir, names[i], &res[i]);
	printf("tokenizer test vectors (%s):\n", dir);
	printf("  %-36s %9s %11s\n", "vocabulary", "exact", "round-trip");
	int all_pass = 0, all_total = 0;
	for (size_t i = 0; i < n; i++) {
		if (res[i].load_failed)
			printf("  %-36s %9s\n", res[i].name, "LOAD FAIL");
		else
			printf("  %-36s %4d/%-4d %5d/%-4d%s\n", res[i].name, res[i].pass, res[i].total, res[i].rt_pass,
			       res[i].rt_total, res[i].pass == res[i].total ? "" : "  FAIL");
		all_pass += res[i].pass;
		all_total += res[i].total;
		free(names[i]);
	}
	printf("  %-36s %4d/%-4d\n", "all", all_pass, all_total);
	free(names);
	free(res);
	return (int)n;
}

/* ---- the end-to-end fixtures ---------------------------------------------- */

/* "%XX" escapes back to bytes */
static size_t unescape(const char *s, size_t n, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (s[i] == '%' && i + 2 < n + 0 && sscanf(s + i + 1, "%2x", &v) == 1) {
			out[k++] = (char)v;
			i += 2;
		} else {
			out[k++] = s[i];
		}
	}
	return k;
}

static void run_ref(const char *fx, const char *stem)
{
	char path[1024], err[512];
	snprintf(path, sizeof(path), "%s/refs/%s.ref", fx, stem);
	size_t len;
	char *text = read_file(path, &len, 256u << 20);
	if (!text) {
		fprintf(stderr, "  %s: no ref file, skipped\n", stem);
		return;
	}
	char model[512] = "";
	char *prompt = NULL, *gtext = NULL;
	size_t nprompt = 0, ngtext = 0;
	int32_t *want = NULL, *greedy = NULL;
	size_t nwant = 0, ngreedy = 0;
	bool have_gtext = false;
	for (char *line = text; line && line < text + len;) {
		char *nl = memchr(line, '\n', (size_t)(text + len - line));
		size_t l = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
		if (l > 6 && !strncmp(line, "model ", 6)) {
			snprintf(model, sizeof(model), "%.*s", (int)(l - 6), line + 6);
		} else if (l >= 6 && !strncmp(line, "prompt", 6) && (l == 6 || line[6] == ' ')) {
			size_t o = l > 6 ? 7 : 6;
			prompt = xmalloc(l + 1);
			nprompt = unescape(line + o, l - o, prompt);
		} else if (l > 7 && !strncmp(line, "tokens ", 7)) {
			int32_t *v;
			size_t k = parse_ids(line + 7, l - 7, &v);
			/* first number is the count */
			if (k >= 1) {
				nwant = k - 1;
				want = xmalloc((nwant + 1) * sizeof(*want));
				memcpy(want, v + 1, nwant * sizeof(*want));
				CHECKF((size_t)v[0] == nwant, "%s: tokens count %d vs %zu ids", stem, v[0], nwant);
			}
			free(v);
		} else if (l > 7 && !strncmp(line, "greedy ", 7)) {
			int32_t *v;
			size_t k = parse_ids(line + 7, l - 7, &v);
			if (k >= 1) {
				ngreedy = k - 1;
				greedy = xmalloc((ngreedy + 1) * sizeof(*greedy));
				memcpy(greedy, v + 1, ngreedy * sizeof(*greedy));
			}
			free(v);
		} else if (l >= 11 && !strncmp(line, "greedy_text", 11) && (l == 11 || line[11] == ' ')) {
			size_t o = l > 11 ? 12 : 11;
			gtext = xmalloc(l + 1);
			ngtext = unescape(line + o, l - o, gtext);
			have_gtext = true;
		}
		line = nl ? nl + 1 : NULL;
	}
	CHECKF(model[0] && prompt && want, "%s: ref lacks model/prompt/tokens", stem);
	if (!(model[0] && prompt && want))
		goto out;
	snprintf(path, sizeof(path), "%s/models/%s", fx, model);
	struct gguf *g = NULL;
	struct tokenizer *t = load_path(path, &g, err, sizeof(err));
	CHECKF(t, "%s: load failed: %s", stem, err);
	if (t) {
		int32_t *got = NULL;
		size_t ngot = 0;
		int rc = tokenize(t, prompt, nprompt, true, true, &got, &ngot);
		bool ok = rc == 0 && ids_equal(got, ngot, want, nwant);
		printf("  %-36s prompt tokens %s (%zu ids)\n", stem, ok ? "exact" : "DIFFER", nwant);
		if (!ok) {
			print_escaped(stderr, "prompt", prompt, nprompt);
			print_ids(stderr, "want", want, nwant);
			print_ids(stderr, "got ", got, ngot);
		}
		CHECKF(ok, "%s: prompt tokenization differs", stem);
		/* the prompt comes back (minus BOS) */
		if (rc == 0) {
			size_t need = detokenize(t, got, ngot, DETOK_REMOVE_SPECIAL | DETOK_NO_CLEAN_SPACES, NULL, 0);
			char *back = xmalloc(need + 1);
			detokenize(t, got, ngot, DETOK_REMOVE_SPECIAL | DETOK_NO_CLEAN_SPACES, back, need);
			/* llama.cpp keeps the SPM prefix space after a removed BOS */
			const char *b = back;
			size_t bl = need;
			if (tokenizer_model(t) == TOKENIZER_SPM && bl && b[0] == ' ') {
				b++;
				bl--;
			}
			CHECKF(bl == nprompt && !memcmp(b, prompt, nprompt), "%s: prompt does not round-trip", stem);
			free(back);
		}
		/* the greedy continuation as text, streamed piece by piece */
		if (greedy && have_gtext) {
			struct detok_stream ds;
			struct buf sb = {0};
			detok_stream_init(&ds, t, 0);
			for (size_t i = 0; i < ngreedy; i++)
				detok_stream_push(&ds, greedy[i], &sb);
			detok_stream_flush(&ds, &sb);
			bool gok = sb.len == ngtext && !memcmp(sb.p, gtext, ngtext);
			printf("  %-36s greedy_text from ids %s\n", stem, gok ? "exact" : "DIFFERS");
			if (!gok) {
				print_escaped(stderr, "want", gtext, ngtext);
				print_escaped(stderr, "got ", sb.p ? sb.p : "", sb.len);
			}
			CHECKF(gok, "%s: greedy ids do not detokenize to greedy_text", stem);
			buf_free(&sb);
		}
		free(got);
	}
	tokenizer_free(t);
	gguf_close(g);
out:
	free(text);
	free(prompt);
	free(gtext);
	free(want);
	free(greedy);
}

/* ---- a tiny GGUF writer for malformed metadata ----------------------------- */

struct gw {
	struct buf b;
	uint64_t nkv;
};

static void gw_u32(struct buf *b, uint32_t v) { buf_append(b, &v, 4); }
static void gw_u64(struct buf *b, uint64_t v) { buf_append(b, &v, 8); }
static void gw_str(struct buf *b, const char *s, size_t n)
{
	gw_u64(b, n);
	buf_append(b, s, n);
}
static void gw_key(struct gw *w, const char *k, uint32_t type)
{
	gw_str(&w->b, k, strlen(k));
	gw_u32(&w->b, type);
	w->nkv++;
}
static void kv_string(struct gw *w, const char *k, const char *v)
{
	gw_key(w, k, GGUF_STRING);
	gw_str(&w->b, v, strlen(v));
}
static void kv_u32(struct gw *w, const char *k, uint32_t v)
{
	gw_key(w, k, GGUF_UINT32);
	gw_u32(&w->b, v);
}
static void kv_bool(struct gw *w, const char *k, bool v)
{
	gw_key(w, k, GGUF_BOOL);
	buf_putc(&w->b, (char)v);
}
/* strings given with explicit lengths (may hold NULs / invalid UTF-8) */
static void kv_strarr(struct gw *w, const char *k, const char *const *v, const size_t *lens, size_t n)
{
	gw_key(w, k, GGUF_ARRAY);
	gw_u32(&w->b, GGUF_STRING);
	gw_u64(&w->b, n);
	for (size_t i = 0; i < n; i++)
		gw_str(&w->b, v[i], lens ? lens[i] : strlen(v[i]));
}
static void kv_f32arr(struct gw *w, const char *k, const float *v, size_t n)
{
	gw_key(w, k, GGUF_ARRAY);
	gw_u32(&w->b, GGUF_FLOAT32);
	gw_u64(&w->b, n);
	buf_append(&w->b, v, n * 4);
}
static void kv_i32arr(struct gw *w, const char *k, const int32_t *v, size_t n)
{
	gw_key(w, k, GGUF_ARRAY);
	gw_u32(&w->b, GGUF_INT32);
	gw_u64(&w->b, n);
	buf_append(&w->b, v, n * 4);
}

/* Write header + kvs to a temp file, open it, load the tokenizer. */
static struct tokenizer *gw_load(struct gw *w, struct gguf **gp, char *err, size_t errlen)
{
	struct buf f = {0};
	buf_append(&f, "GGUF", 4);
	gw_u32(&f, 3);
	gw_u64(&f, 0);
	gw_u64(&f, w->nkv);
	buf_append(&f, w->b.p, w->b.len);
	while (f.len % 32)
		buf_putc(&f, 0);
	char path[] = "/tmp/heft-test-tok-XXXXXX";
	int fd = mkstemp(path);
	*gp = NULL;
	if (fd < 0) {
		snprintf(err, errlen, "mkstemp: %s", strerror(errno));
		buf_free(&f);
		return NULL;
	}
	write_full(fd, f.p, f.len);
	close(fd);
	struct tokenizer *t = load_path(path, gp, err, errlen);
	unlink(path);
	buf_free(&f);
	buf_free(&w->b);
	w->nkv = 0;
	return t;
}

/* A small byte-level BPE vocabulary: all 256 byte characters plus a few
 * merged tokens. */
static void bpe_base(struct gw *w, const char *pre, char ***toks_out, size_t **lens_out, size_t *n_out,
		     const char *const *extra, size_t nextra)
{
	size_t n = 256 + nextra;
	char **toks = xcalloc(n, sizeof(*toks));
	size_t *lens = xcalloc(n, sizeof(*lens));
	int k = 0;
	for (int b = 0; b < 256; b++) {
		bool direct = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
		unsigned cp = direct ? (unsigned)b : 256u + (unsigned)k++;
		char s[4];
		size_t l;
		if (cp < 0x80) {
			s[0] = (char)cp;
			l = 1;
		} else {
			s[0] = (char)(0xC0 | (cp >> 6));
			s[1] = (char)(0x80 | (cp & 0x3F));
			l = 2;
		}
		toks[b] = xstrndup(s, l);
		lens[b] = l;
	}
	for (size_t i = 0; i < nextra; i++) {
		toks[256 + i] = xstrdup(extra[i]);
		lens[256 + i] = strlen(extra[i]);
	}
	kv_string(w, "tokenizer.ggml.model", "gpt2");
	if (pre)
		kv_string(w, "tokenizer.ggml.pre", pre);
	kv_strarr(w, "tokenizer.ggml.tokens", (const char *const *)toks, lens, n);
	*toks_out = toks;
	*lens_out = lens;
	*n_out = n;
}

static void free_toks(char **toks, size_t *lens, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(toks[i]);
	free(toks);
	free(lens);
}

static bool all_ids_valid(const struct tokenizer *t, const int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || (size_t)ids[i] >= tokenizer_n_vocab(t))
			return false;
	return true;
}

static void test_malformed(void)
{
	char err[512];
	struct gw w = {0};
	struct gguf *g;
	struct tokenizer *t;
	char **toks;
	size_t *lens, nt;

	/* no tokenizer at all */
	kv_string(&w, "general.architecture", "llama");
	t = gw_load(&w, &g, err, sizeof(err));
	CHECKF(!t && strstr(err, "tokenizer"), "no tokenizer: %s", err);
	tokenizer_free(t);
	gguf_close(g);

	/* unsupported model */
	kv_string(&w, "tokenizer.ggml.model", "t5");
	t = gw_load(&w, &g, err, sizeof(err));
	CHECKF(!t && strstr(err, "unsupported"), "t5: %s", err);
	tokenizer_free(t);
	gguf_close(g);

	/* empty vocabulary */
	kv_string(&w, "tokenizer.ggml.model", "llama");
	kv_strarr(&w, "tokenizer.ggml.tokens", NULL, NULL, 0);
	t = gw_load(&w, &g, err, sizeof(err));
	CHECKF(!t && strstr(err, "empty"), "empty vocab: %s", err);
	tokenizer_free(t);
	gguf_close(g);

	/* tokens of the wrong type */
	kv_string(&w, "tokenizer.ggml.model", "llama");
	{
		float f[3] = {1, 2, 3};
		kv_f32arr(&w, "tokenizer.ggml.tokens", f, 3);
	}
	t = gw_load(&w, &g, err, sizeof(err));
	CHECKF(!t && strstr(err, "tokens"), "float tokens: %s", err);
	tokenizer_free(t);
	gguf_close(g);

	/* scores shorter than the vocabulary */
	{
		const char *v[] = {"<unk>", "<s>", "</s>", "a"};
		float sc[2] = {0, 0};
		kv_string(&w, "tokenizer.ggml.model", "llama");
		kv_strarr(&w, "tokenizer.ggml.tokens", v, NULL, 4);
		kv_f32arr(&w, "tokenizer.ggml.scores", sc, 2);
		t = gw_load(&w, &g, err, sizeof(err));
		CHECKF(!t && strstr(err, "scores"), "short scores: %s", err);
		tokenizer_free(t);
		gguf_close(g);
	}

	/* byte-level BPE without merges */
	bpe_base(&w, "gpt-2", &toks, &lens, &nt, NULL, 0);
	t = gw_load(&w, &g, err, sizeof(err));
	CHECKF(!t && strstr(err, "merges"), "no merges: %s", err);
	tokenizer_free(t);
	gguf_close(g);
	free_toks(toks, lens, nt);

	/* merges referencing missing tokens, malformed merges, an unknown
	 * pre-tokenizer, out-of-range special ids */
	{
		const char *extra[] = {"he", "ll", "hell", "<|endoftext|>"};
		bpe_base(&w, "no-such-pre", &toks, &lens, &nt, extra, 4);
		const char *merges[] = {"h e", "l l", "he ll", "hell o" /* "hello" is no token */,
					"xyz" /* no space */, "q\xff\xfe z" /* not byte-level */, " ", "Ġ Ġ"};
		kv_strarr(&w, "tokenizer.ggml.merges", merges, NULL, 8);
		kv_u32(&w, "tokenizer.ggml.bos_token_id", 999999);
		kv_u32(&w, "tokenizer.ggml.eos_token_id", 259);
		kv_u32(&w, "tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);
		t = gw_load(&w, &g, err, sizeof(err));
		CHECKF(t, "merges to missing tokens: %s", err);
		if (t) {
			CHECK(tokenizer_bos(t) == 11); /* the bad id is ignored: the default stays */
			int32_t *ids;
			size_t n;
			CHECK(tokenize(t, "hello hell", 10, true, true, &ids, &n) == 0);
			/* "hello" merged to a non-token falls back to bytes: hell + o? no:
			 * the merged symbol "hello" has no id, so its 5 bytes come out */
			CHECK(all_ids_valid(t, ids, n));
			CHECK(n >= 2);
			free(ids);
			/* invalid UTF-8 in the input */
			const char bad[] = "a\xff\xfe\xc3(\xe2\x82 \xf0\x9f\x98 end\xed\xa0\x80 \xf8\x88\x80\x80\x80";
			CHECK(tokenize(t, bad, sizeof(bad) - 1, false, false, &ids, &n) == 0);
			CHECK(all_ids_valid(t, ids, n) && n > 0);
			free(ids);
			/* specials parsed */
			CHECK(tokenize(t, "a<|endoftext|>b", 15, false, true, &ids, &n) == 0);
			CHECK(n == 3 && ids[1] == 259);
			free(ids);
			CHECK(tokenize(t, "a<|endoftext|>b", 15, false, false, &ids, &n) == 0);
			CHECK(n > 3);
			free(ids);
			/* an empty text */
			CHECK(tokenize(t, "", 0, false, false, &ids, &n) == 0 && n == 0 && !ids);
			CHECK(tokenizer_is_eog(t, 259));
		}
		tokenizer_free(t);
		gguf_close(g);
		free_toks(toks, lens, nt);
	}

	/* add_bos_token without a usable BOS id */
	{
		const char *extra[] = {"he"};
		bpe_base(&w, "gpt-2", &toks, &lens, &nt, extra, 1);
		const char *merges[] = {"h e"};
		kv_strarr(&w, "tokenizer.ggml.merges", merges, NULL, 1);
		kv_u32(&w, "tokenizer.ggml.bos_token_id", 70000);
		kv_bool(&w, "tokenizer.ggml.add_bos_token", true);
		t = gw_load(&w, &g, err, sizeof(err));
		/* the default id 11 stays: a valid BOS */
		if (t) {
			int32_t *ids;
			size_t n;
			CHECK(tokenize(t, "he", 2, true, false, &ids, &n) == 0);
			CHECK(n == 2 && ids[0] == 11 && ids[1] == 256);
			free(ids);
		} else {
			CHECKF(strstr(err, "BOS"), "add_bos: %s", err);
		}
		tokenizer_free(t);
		gguf_close(g);
		free_toks(toks, lens, nt);
	}

	/* SentencePiece: invalid UTF-8 in tokens, NULs, empty and duplicate
	 * tokens, no byte tokens (unknown characters become <unk>), out-of-range
	 * token types, specials out of range */
	{
		const char *v[] = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", ("\xE2\x96\x81" "a"), "ab",
				   "\xff\xfe", "x\0y", "", "a", "<0x41>"};
		size_t l[] = {5, 3, 4, 3, 1, 1, 4, 2, 2, 3, 0, 1, 6};
		float sc[13] = {0, 0, 0, -1, -2, -3, -0.5f, -0.25f, 0, 0, 0, 0, 0};
		int32_t ty[13] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 99};
		kv_string(&w, "tokenizer.ggml.model", "llama");
		kv_strarr(&w, "tokenizer.ggml.tokens", v, l, 13);
		kv_f32arr(&w, "tokenizer.ggml.scores", sc, 13);
		kv_i32arr(&w, "tokenizer.ggml.token_type", ty, 13);
		kv_u32(&w, "tokenizer.ggml.eos_token_id", 123456);
		t = gw_load(&w, &g, err, sizeof(err));
		CHECKF(t, "spm odd vocab: %s", err);
		if (t) {
			int32_t *ids;
			size_t n;
			CHECK(tokenize(t, "ab a", 4, true, false, &ids, &n) == 0);
			/* <s> ▁a b ▁a  (ab scores below ▁a) */
			CHECK(all_ids_valid(t, ids, n));
			CHECK(n >= 3 && ids[0] == 1);
			free(ids);
			CHECK(tokenize(t, "z\xff", 2, false, false, &ids, &n) == 0);
			CHECK(all_ids_valid(t, ids, n));
			free(ids);
			CHECK(tokenizer_eos(t) == 2);
			size_t pl;
			token_piece(t, 12, true, &pl); /* undefined type: renders as nothing */
			CHECK(pl == 0);
			token_piece(t, -5, true, &pl);
			CHECK(pl == 0);
			token_piece(t, 1 << 30, true, &pl);
			CHECK(pl == 0);
		}
		tokenizer_free(t);
		gguf_close(g);
	}
}

/* Streaming detokenizer: multi-byte characters split across tokens. */
static void test_stream(const struct tokenizer *t)
{
	/* "🦙" = F0 9F A6 99, as SPM byte tokens <0xF0>.. or BPE byte tokens */
	const char *txt = "x \xF0\x9F\xA6\x99 \xC3\xA9!";
	int32_t *ids;
	size_t n;
	CHECK(tokenize(t, txt, strlen(txt), false, false, &ids, &n) == 0);
	struct detok_stream ds;
	struct buf out = {0};
	detok_stream_init(&ds, t, 0);
	for (size_t i = 0; i < n; i++) {
		detok_stream_push(&ds, ids[i], &out);
		CHECK(utf8_valid(out.p ? out.p : "", out.len));
	}
	detok_stream_flush(&ds, &out);
	const char *o = out.p;
	size_t ol = out.len;
	if (tokenizer_model(t) == TOKENIZER_SPM && ol && o[0] == ' ') {
		o++;
		ol--;
	}
	CHECKF(ol == strlen(txt) && !memcmp(o, txt, ol), "stream: '%.*s'", (int)out.len, out.p);
	free(ids);
	buf_free(&out);
	/* an incomplete sequence at the end becomes U+FFFD */
	detok_stream_init(&ds, t, 0);
	buf_clear(&out);
	CHECK(tokenize(t, "\xF0\x9F\xA6\x99", 4, false, false, &ids, &n) == 0);
	for (size_t i = 0; i + 1 < n; i++)
		detok_stream_push(&ds, ids[i], &out);
	detok_stream_flush(&ds, &out);
	CHECK(utf8_valid(out.p ? out.p : "", out.len));
	free(ids);
	buf_free(&out);
}

static void test_big(const struct tokenizer *t, const char *label)
{
	/* a 1 MB prompt of mixed text, and 1 MB of a single repeated byte */
	size_t n = 1u << 20;
	char *s = xmalloc(n);
	static const char para[] = "The quick brown fox jumps over the lazy dog; naïve café 123456 🦙 <|endoftext|> \n\t";
	for (size_t i = 0; i < n; i++)
		s[i] = para[i % (sizeof(para) - 1)];
	int32_t *ids;
	size_t nids;
	CHECKF(tokenize(t, s, n, true, true, &ids, &nids) == 0, "%s: 1 MB prompt", label);
	CHECK(all_ids_valid(t, ids, nids) && nids > 1000);
	free(ids);
	memset(s, 'a', n);
	CHECKF(tokenize(t, s, n, false, false, &ids, &nids) == 0, "%s: 1 MB of 'a'", label);
	CHECK(all_ids_valid(t, ids, nids));
	free(ids);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)(i * 131 + 7);
	CHECKF(tokenize(t, s, n, false, true, &ids, &nids) == 0, "%s: 1 MB of random bytes", label);
	CHECK(all_ids_valid(t, ids, nids));
	free(ids);
	free(s);
}

int main(void)
{
	heft_progname = "test-tokenizer";
	test_malformed();

	const char *fx = fixtures_dir();
	char p[1024];
	snprintf(p, sizeof(p), "%s/vocab", fx);
	if (!exists(p)) {
		if (test_failures)
			return test_done("test-tokenizer");
		printf("test-tokenizer: SKIP: fixtures not found at %s (set HEFT_FIXTURES)\n", fx);
		return 77;
	}
	int nv = test_vocabs(fx);
	CHECKF(nv > 0, "no vocabularies in %s/vocab", fx);

	printf("end-to-end fixtures:\n");
	run_ref(fx, "qwen3moe-gpt2vocab-Q4_0");
	run_ref(fx, "llama-spmvocab-Q4_0");

	static const char *const big[] = {"vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-llama-spm.gguf",
					  "vocab/gpt2-pre-gpt-4o.gguf", "vocab/ggml-vocab-deepseek-llm.gguf"};
	for (size_t i = 0; i < ARRAY_LEN(big); i++) {
		char err[512];
		struct gguf *g;
		snprintf(p, sizeof(p), "%s/%s", fx, big[i]);
		if (!exists(p))
			continue;
		struct tokenizer *t = load_path(p, &g, err, sizeof(err));
		CHECKF(t, "%s: %s", big[i], err);
		if (t) {
			test_stream(t);
			test_big(t, big[i]);
		}
		tokenizer_free(t);
		gguf_close(g);
	}
	return test_done("test-tokenizer");
}
