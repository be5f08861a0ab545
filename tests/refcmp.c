/* refcmp - compare two logits files in the fixtures' .ref format.
 *
 *   refcmp [--tol X] [--greedy-steps N] REF OUT
 *
 * REF is the reference (b), OUT the candidate (a). Prints NMSE =
 * sum (a-b)^2 / sum b^2 over all logits, top-1 agreement per position, and
 * how many greedy tokens match: the first N (default 8), stopping at the
 * first step where the reference's greedy_margin is below 0.05 (a near-tie
 * where either branch is correct). The NMSE tolerance comes from the
 * model's quantization preset (F16/BF16: 1e-4, others 2e-3) unless --tol
 * is given. Exit 0 pass, 1 fail, 2 unreadable input. Self-contained: it
 * links nothing from heft, so it can judge any implementation. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEAR_TIE 0.05

struct ref {
	char model[256];
	long n_tok, n_greedy, n_margin, n_pos, n_vocab;
	long *tok, *greedy;
	double *margin;
	float *logits;
};

static long *read_ids(char *rest, long *n)
{
	char *end;
	*n = strtol(rest, &end, 10);
	if (*n < 0 || *n > 100000000)
		return NULL;
	long *v = calloc((size_t)*n + 1, sizeof *v);
	for (long i = 0; v && i < *n; i++) {
		v[i] = strtol(end, &rest, 10);
		if (rest == end) {
			free(v);
			return NULL;
		}
		end = rest;
	}
	return v;
}

static double *read_margins(char *rest, long *n)
{
	char *end;
	*n = strtol(rest, &end, 10);
	if (*n < 0 || *n > 100000000)
		return NULL;
	double *v = calloc((size_t)*n + 1, sizeof *v);
	for (long i = 0; v && i < *n; i++) {
		v[i] = strtod(end, &rest);
		if (rest == end) {
			free(v);
			return NULL;
		}
		end = rest;
	}
	return v;
}

/* Read the logits block: n_pos lines of n_vocab floats. */
static int read_logits(FILE *fp, struct ref *r)
{
	size_t n = (size_t)r->n_pos * (size_t)r->n_vocab;
	r->logits = malloc((n ? n : 1) * sizeof *r->logits);
	if (!r->logits)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (fscanf(fp, "%f", &r->logits[i]) != 1)
			return -1;
	return 0;
}

static int load_ref(const char *path, struct ref *r)
{
	memset(r, 0, sizeof *r);
	FILE *fp = fopen(path, "r");
	if (!fp) {
		fprintf(stderr, "refcmp: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	bool have_logits = false;
	while (rc == 0 && !have_logits && getline(&line, &cap, fp) > 0) {
		char *sp = strchr(line, ' ');
		char *rest = sp ? sp + 1 : line + strlen(line);
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (!strncmp(line, "model ", 6))
			sscanf(rest, "%255s", r->model);
		else if (!strncmp(line, "tokens ", 7))
			rc = (r->tok = read_ids(rest, &r->n_tok)) ? 0 : -1;
		else if (!strncmp(line, "greedy ", 7))
			rc = (r->greedy = read_ids(rest, &r->n_greedy)) ? 0 : -1;
		else if (!strncmp(line, "greedy_margin ", 14))
			rc = (r->margin = read_margins(rest, &r->n_margin)) ? 0 : -1;
		else if (!strncmp(line, "logits ", 7)) {
			if (sscanf(rest, "%ld %ld", &r->n_pos, &r->n_vocab) != 2 || r->n_pos < 0 || r->n_vocab < 0 ||
			    r->n_pos > 1000000 || r->n_vocab > 10000000)
				rc = -1;
			else
				rc = read_logits(fp, r);
			have_logits = true;
		}
	}
	free(line);
	fclose(fp);
	if (rc == 0 && (!r->tok || !have_logits))
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "refcmp: %s: not a readable .ref file\n", path);
	return rc;
}

/* Tolerance from the preset suffix of "family-PRESET.gguf". */
static double preset_tol(const char *model)
{
	char name[256];
	snprintf(name, sizeof name, "%s", model);
	char *dot = strstr(name, ".gguf");
	if (dot)
		*dot = 0;
	const char *dash = strrchr(name, '-');
	const char *preset = dash ? dash + 1 : name;
	return !strcmp(preset, "F16") || !strcmp(preset, "BF16") || !strcmp(preset, "F32") ? 1e-4 : 2e-3;
}

static void free_ref(struct ref *r)
{
	free(r->tok);
	free(r->greedy);
	free(r->margin);
	free(r->logits);
}

static long argmax(const float *x, long n)
{
	long b = 0;
	for (long i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return b;
}

int main(int argc, char **argv)
{
	double tol = -1.0;
	long steps = 8;
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--tol") && i + 1 < argc)
			tol = atof(argv[++i]);
		else if (!strcmp(argv[i], "--greedy-steps") && i + 1 < argc)
			steps = atol(argv[++i]);
		else
			break;
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: refcmp [--tol X] [--greedy-steps N] REF OUT\n");
		return 2;
	}
	struct ref b = {0}, a = {0};
	if (load_ref(argv[i], &b) < 0 || load_ref(argv[i + 1], &a) < 0) {
		free_ref(&b);
		free_ref(&a);
		return 2;
	}
	if (tol < 0)
		tol = preset_tol(b.model);

	bool ok = true;
	if (a.n_tok != b.n_tok || memcmp(a.tok, b.tok, (size_t)b.n_tok * sizeof *b.tok)) {
		printf("token sequences differ\n");
		ok = false;
	}
	double num = 0.0, den = 0.0;
	long top1 = 0;
	bool shape = a.n_pos == b.n_pos && a.n_vocab == b.n_vocab;
	if (!shape) {
		printf("logits shape differs: %ldx%ld vs reference %ldx%ld\n", a.n_pos, a.n_vocab, b.n_pos, b.n_vocab);
		ok = false;
	} else {
		for (long k = 0; k < b.n_pos * b.n_vocab; k++) {
			double d = (double)a.logits[k] - b.logits[k];
			num += d * d;
			den += (double)b.logits[k] * b.logits[k];
		}
		for (long p = 0; p < b.n_pos; p++)
			top1 += argmax(a.logits + p * a.n_vocab, a.n_vocab) == argmax(b.logits + p * b.n_vocab, b.n_vocab);
	}
	double nmse = den > 0 ? num / den : (num > 0 ? INFINITY : 0.0);
	if (shape && b.n_pos > 0 && !(nmse <= tol))
		ok = false;

	/* Greedy: up to `steps`, stopping at the reference's first near-tie. */
	long compared = 0, matched = 0;
	for (long s = 0; s < steps && s < b.n_greedy; s++) {
		if (b.margin && s < b.n_margin && b.margin[s] < NEAR_TIE)
			break;
		compared++;
		if (s >= a.n_greedy || a.greedy[s] != b.greedy[s])
			break;
		matched++;
	}
	if (matched < compared)
		ok = false;

	printf("model %s nmse %.3e tol %.0e top1 %ld/%ld greedy %ld/%ld %s\n", b.model[0] ? b.model : "?", nmse,
	       tol, top1, b.n_pos, matched, compared, ok ? "PASS" : "FAIL");
	free_ref(&a);
	free_ref(&b);
	return ok ? 0 : 1;
}
