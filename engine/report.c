/* report.c - --stats-json and the numbers behind it. */
#include "report.h"

#include "model.h"
#include "stats.h"
#include "fileio.h"
#include "util.h"
#include "weights.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void report_begin(struct run_report *r, struct model *m)
{
	struct weights_stats st;
	weights_get_stats(m->w, &st);
	r->bytes_read0 = st.bytes_read;
	if (!sysinfo_proc_io(&r->io0))
		memset(&r->io0, 0, sizeof r->io0);
	struct sysinfo_faults fl;
	r->major_faults0 = sysinfo_faults(&fl) ? fl.major : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

void report_percentiles(double *v, int n, double *p50, double *p95)
{
	*p50 = *p95 = 0.0;
	if (n <= 0)
		return;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	*p50 = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	int i = (int)(0.95 * (n - 1) + 0.5);
	*p95 = v[i < n ? i : n - 1];
}

static void set_u64(json_t *o, const char *k, uint64_t v)
{
	json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void set_f(json_t *o, const char *k, double v)
{
	json_object_set_new(o, k, json_real(v));
}

/* A number of the vocabulary (stats.h): whole ones as integers. */
static void put_json(void *ud, const char *name, double v)
{
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		json_object_set_new(ud, name, json_integer((json_int_t)v));
	else
		json_object_set_new(ud, name, json_real(v));
}

int report_write_json(const char *path, const struct run_report *r, struct model *m)
{
	struct weights_stats st;
	weights_get_stats(m->w, &st);
	const struct weights_plan *p = weights_get_plan(m->w);
	json_t *o = json_object();
	json_object_set_new(o, "command", json_string(r->command));
	json_object_set_new(o, "model", json_string(m->path));
	json_object_set_new(o, "arch", json_string(m->arch_name));
	json_object_set_new(o, "io", json_string(st.mode));
	json_object_set_new(o, "cache_policy", json_string(st.policy));
	set_u64(o, "threads", (uint64_t)r->threads);
	set_u64(o, "batch", (uint64_t)r->batch);
	set_u64(o, "prefill_tokens", (uint64_t)r->prefill_tokens);
	set_f(o, "prefill_s", r->prefill_s);
	set_u64(o, "prefill_bytes_read", r->prefill_bytes_read);
	set_u64(o, "prefill_experts_needed_bytes", r->prefill_experts_needed_bytes);
	set_f(o, "prefill_tok_s", r->prefill_s > 0 ? r->prefill_tokens / r->prefill_s : 0.0);
	set_u64(o, "decode_tokens", (uint64_t)r->decode_tokens);
	set_f(o, "decode_s", r->decode_s);
	set_f(o, "decode_tok_s", r->decode_s > 0 ? r->decode_tokens / r->decode_s : 0.0);
	set_f(o, "decode_p50_ms", r->decode_p50_ms);
	set_f(o, "decode_p95_ms", r->decode_p95_ms);
	/* the weight store's numbers, under the names the stats event and
	 * /metrics give them */
	stats_weights(&st, put_json, o);
	set_u64(o, "cold_read_per_token", p->cold_read_per_token);
	set_f(o, "hit_rate_first16", r->hit_rate_first);
	set_f(o, "hit_rate_last16", r->hit_rate_last);
	set_f(o, "prefetch_accuracy", st.prefetch_issued ? (double)st.prefetch_hits / (double)st.prefetch_issued : 0.0);
	set_u64(o, "run_read_bytes", st.bytes_read - r->bytes_read0);
	double t = r->prefill_s + r->decode_s;
	set_f(o, "read_mb_s", t > 0 ? (double)(st.bytes_read - r->bytes_read0) / t / 1e6 : 0.0);
	int toks = r->prefill_tokens + r->decode_tokens;
	set_f(o, "bytes_per_token", r->decode_tokens ? (double)(st.bytes_read - r->bytes_read0) / toks : 0.0);
	/* the process: levels as they are, counters as the run's part */
	struct sysinfo_proc_mem pm;
	if (sysinfo_proc_mem(&pm)) {
		set_u64(o, "rss_peak", pm.rss_peak);
		set_u64(o, "rss", pm.rss);
		set_u64(o, "rss_anon", pm.rss_anon);
		set_u64(o, "rss_file", pm.rss_file);
	}
	struct sysinfo_proc_io io;
	if (sysinfo_proc_io(&io))
		set_u64(o, "run_os_read_bytes", io.read_bytes - r->io0.read_bytes);
	struct sysinfo_faults fl;
	if (sysinfo_faults(&fl))
		set_u64(o, "run_major_faults", fl.major - r->major_faults0);
	json_t *layers = json_array();
	for (int l = 0; l < st.n_layers; l++) {
		const struct expert_layer_stats *ls = &st.layer[l];
		json_t *e = json_object();
		set_u64(e, "hits", ls->hits);
		set_u64(e, "misses", ls->misses);
		set_u64(e, "prefetch_issued", ls->prefetch_issued);
		set_u64(e, "prefetch_hits", ls->prefetch_hits);
		set_u64(e, "bytes_read", ls->bytes_read);
		set_u64(e, "resident", (uint64_t)ls->resident);
		json_array_append_new(layers, e);
	}
	json_object_set_new(o, "layers", layers);
	int rc = 0;
	struct fio_out out = {.fd = -1};
	bool to_file = strcmp(path, "-") != 0;
	FILE *fp = !to_file ? stdout : fio_begin(&out, path) == 0 ? fio_stream(&out) : NULL;
	if (!fp || json_dumpf(o, fp, JSON_COMPACT) < 0 || fputc('\n', fp) == EOF || fflush(fp) != 0) {
		warn_errno("%s", path);
		rc = -1;
	}
	if (to_file && out.fd >= 0) {
		if (rc < 0)
			fio_abort(&out);
		else if (fio_commit(&out) < 0) {
			warn_errno("%s", path);
			rc = -1;
		}
	}
	json_decref(o);
	return rc;
}
