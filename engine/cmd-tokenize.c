/* cmd-tokenize.c - `heft-engine tokenize`: text to token ids with a model's
 * own tokenizer.
 *
 *   heft-engine tokenize MODEL -p TEXT [--add-bos] [--parse-special] [--pieces]
 *   heft-engine tokenize MODEL -f FILE [...]
 *   heft-engine tokenize MODEL --vectors FILE.inp
 *
 * -p/-f print the ids on one line, separated by spaces (--pieces: one
 * "id<TAB>piece" line per token instead, the piece escaped like the .ref
 * files: bytes < 0x20 and '%' as %XX). --vectors reads llama.cpp's tokenizer
 * test input (strings each followed by "\n__ggml_vocab_test__\n") and prints
 * its .out format: per string one line with " id" per token, no BOS/EOS,
 * special tokens not parsed. */
#include "commands.h"

#include "gguf.h"
#include "options.h"
#include "tokenizer.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: heft-engine tokenize MODEL (-p TEXT | -f FILE) [--add-bos] [--parse-special] [--pieces]\n"
		   "       heft-engine tokenize MODEL --vectors FILE.inp\n"
		   "\n"
		   "  -p TEXT            tokenize TEXT; print the ids on one line\n"
		   "  -f FILE            tokenize the contents of FILE\n"
		   "  --add-bos          add BOS (and EOS) the way the model asks for them\n"
		   "  --parse-special    turn control tokens written in the text (<|im_start|>...) into their ids\n"
		   "  --pieces           print one token per line: id, tab, the text it stands for\n"
		   "  --vectors FILE     llama.cpp test strings in, one line of ids per string out (.out format)\n");
}

static void print_piece(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == '%')
			printf("%%%02X", c);
		else
			putchar(c);
	}
}

static int run_vectors(const struct tokenizer *t, const char *path)
{
	size_t len;
	char *text = read_file(path, &len, (size_t)1 << 30);
	if (!text) {
		warn_errno("%s", path);
		return 2;
	}
	static const char sep[] = "\n__ggml_vocab_test__\n";
	const size_t seplen = sizeof(sep) - 1;
	size_t pos = 0;
	int rc = 0;
	for (;;) {
		const char *m = memmem(text + pos, len - pos, sep, seplen);
		if (!m) {
			if (pos < len)
				warnx_("%s: %zu bytes after the last separator ignored", path, len - pos);
			break;
		}
		int32_t *ids;
		size_t n;
		if (tokenize(t, text + pos, (size_t)(m - (text + pos)), false, false, &ids, &n) != 0) {
			warnx_("%s: tokenization failed", path);
			rc = 1;
			break;
		}
		for (size_t i = 0; i < n; i++)
			printf(" %d", ids[i]);
		putchar('\n');
		free(ids);
		pos = (size_t)(m - text) + seplen;
	}
	free(text);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		warn_errno("stdout");
		return 1;
	}
	return rc;
}

enum { O_VECTORS = CMD_LONG, O_ADD_BOS, O_PARSE_SPECIAL, O_PIECES };

static const struct cmd_opt tokenize_opts[] = {
	{"help", 'h', no_argument, 'h'},
	{"prompt", 'p', required_argument, 'p'},
	{"file", 'f', required_argument, 'f'},
	{"vectors", 0, required_argument, O_VECTORS},
	{"add-bos", 0, no_argument, O_ADD_BOS},
	{"add-special", 0, no_argument, O_ADD_BOS},
	{"parse-special", 0, no_argument, O_PARSE_SPECIAL},
	{"pieces", 0, no_argument, O_PIECES},
	{NULL, 0, 0, 0},
};

int cmd_tokenize(int argc, char **argv)
{
	const char *model, *text = NULL, *file = NULL, *vectors = NULL;
	bool add_bos = false, parse_special = false, pieces = false, bad;
	struct cmd_parser op = {.opts = tokenize_opts};
	int c;
	while ((c = cmd_next(&op, argc, argv)) != CMD_END) {
		switch (c) {
		case 'h': cmd_parser_done(&op); usage(stdout); return 0;
		case 'p': text = op.arg; break;
		case 'f': file = op.arg; break;
		case O_VECTORS: vectors = op.arg; break;
		case O_ADD_BOS: add_bos = true; break;
		case O_PARSE_SPECIAL: parse_special = true; break;
		case O_PIECES: pieces = true; break;
		default: usage(stderr); return 2; /* CMD_BAD, reported */
		}
	}
	model = cmd_operand(&op, argc, argv, &bad);
	if (bad || !model || (!!text + !!file + !!vectors) != 1) {
		if (!bad)
			usage(stderr);
		return 2;
	}

	struct gguf_error ge;
	memset(&ge, 0, sizeof(ge));
	struct gguf *g = gguf_open(model, &ge);
	if (!g) {
		gguf_error_print(&ge);
		return 2;
	}
	char err[512];
	struct tokenizer *t = tokenizer_load(g, err, sizeof(err));
	if (!t) {
		warnx_("%s: %s", model, err);
		gguf_close(g);
		return 2;
	}
	int rc = 0;
	if (vectors) {
		rc = run_vectors(t, vectors);
		goto out;
	}
	char *fbuf = NULL;
	size_t len;
	if (file) {
		fbuf = read_file(file, &len, (size_t)1 << 30);
		if (!fbuf) {
			warn_errno("%s", file);
			rc = 2;
			goto out;
		}
		text = fbuf;
	} else {
		len = strlen(text);
	}
	int32_t *ids;
	size_t n;
	if (tokenize(t, text, len, add_bos, parse_special, &ids, &n) != 0) {
		warnx_("tokenization failed");
		rc = 1;
	} else {
		for (size_t i = 0; i < n; i++) {
			if (pieces) {
				size_t pl;
				const char *p = token_piece(t, ids[i], true, &pl);
				printf("%d\t", ids[i]);
				print_piece(p, pl);
				putchar('\n');
			} else {
				printf(i ? " %d" : "%d", ids[i]);
			}
		}
		if (!pieces)
			putchar('\n');
		free(ids);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			warn_errno("stdout");
			rc = 1;
		}
	}
	free(fbuf);
out:
	tokenizer_free(t);
	gguf_close(g);
	return rc;
}
