/* tokenize-speed.c - tokenizer throughput on one thread.
 *
 *   tokenize-speed MODEL.gguf [TEXT_FILE] [--mb N] [--chunk BYTES]
 *
 * Without TEXT_FILE the text is real English prose: the license texts in
 * /usr/share/common-licenses concatenated, repeated up to N MB (default 8).
 * The text is tokenized in chunks (default 64 KiB, cut at a line end, as a
 * long prompt would be) and once as a whole; MB/s and tokens/s are printed. */
#include "gguf.h"
#include "tokenizer.h"
#include "util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_dir(struct buf *b, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[1024];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		size_t n;
		char *s = read_file(p, &n, 16u << 20);
		if (s && utf8_valid(s, n)) {
			buf_append(b, s, n);
			buf_putc(b, '\n');
		}
		free(s);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	heft_progname = "tokenize-speed";
	const char *model = NULL, *textfile = NULL;
	double mb = 8;
	size_t chunk = 64 * 1024;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mb") && i + 1 < argc)
			mb = atof(argv[++i]);
		else if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
			chunk = (size_t)atol(argv[++i]);
		else if (!model)
			model = argv[i];
		else
			textfile = argv[i];
	}
	if (!model || chunk == 0) {
		fprintf(stderr, "usage: tokenize-speed MODEL.gguf [TEXT_FILE] [--mb N] [--chunk BYTES]\n");
		return 2;
	}
	struct gguf_error ge;
	struct gguf *g = gguf_open(model, &ge);
	if (!g) {
		gguf_error_print(&ge);
		return 1;
	}
	char err[512];
	double t0 = now_sec();
	struct tokenizer *t = tokenizer_load(g, err, sizeof(err));
	if (!t)
		die("%s: %s", model, err);
	double tload = now_sec() - t0;

	struct buf base = {0}, text = {0};
	if (textfile) {
		size_t n;
		char *s = read_file(textfile, &n, (size_t)1 << 31);
		if (!s)
			die_errno("%s", textfile);
		buf_append(&base, s, n);
		free(s);
	} else {
		add_dir(&base, "/usr/share/common-licenses");
		if (!base.len)
			buf_puts(&base, "It was the best of times, it was the worst of times, it was the age of wisdom, "
					"it was the age of foolishness, it was the epoch of belief, it was the epoch of "
					"incredulity, it was the season of Light, it was the season of Darkness.\n");
	}
	size_t want = (size_t)(mb * 1024 * 1024);
	while (text.len < want)
		buf_append(&text, base.p, MIN(base.len, want - text.len));

	/* chunked */
	size_t ntok = 0;
	t0 = now_sec();
	for (size_t off = 0; off < text.len;) {
		size_t n = MIN(chunk, text.len - off);
		if (off + n < text.len) {
			const char *nl = memchr(text.p + off + n / 2, '\n', n - n / 2);
			if (nl)
				n = (size_t)(nl - (text.p + off)) + 1;
		}
		int32_t *ids;
		size_t nids;
		if (tokenize(t, text.p + off, n, false, false, &ids, &nids) != 0)
			die("tokenize failed");
		ntok += nids;
		free(ids);
		off += n;
	}
	double tc = now_sec() - t0;

	/* whole */
	int32_t *ids;
	size_t nids;
	t0 = now_sec();
	if (tokenize(t, text.p, text.len, false, false, &ids, &nids) != 0)
		die("tokenize failed");
	double tw = now_sec() - t0;
	free(ids);

	double mib = (double)text.len / (1024.0 * 1024.0);
	printf("model      %s (%s, pre %s, %zu tokens; load %.2f s)\n", model,
	       tokenizer_model(t) == TOKENIZER_SPM ? "spm" : "bpe", tokenizer_pre_name(t), tokenizer_n_vocab(t), tload);
	printf("text       %.2f MiB (%s)\n", mib, textfile ? textfile : "/usr/share/common-licenses, repeated");
	printf("chunked    %.1f MiB/s, %.0f tokens/s (%zu tokens, %zu-byte chunks)\n", mib / tc, (double)ntok / tc,
	       ntok, chunk);
	printf("whole      %.1f MiB/s (%zu tokens)\n", mib / tw, nids);
	buf_free(&base);
	buf_free(&text);
	tokenizer_free(t);
	gguf_close(g);
	return 0;
}
