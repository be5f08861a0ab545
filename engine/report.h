/* report.h - the final figures of a run or bench, for people (one line on
 * stderr) and for scripts (--stats-json FILE: one JSON object).
 *
 * The caller fills the timing it measured; report_write_json adds the
 * weight store's counters (weights_get_stats), the process's peak RSS and
 * major faults, and the bytes the OS says it read for us. */
#ifndef HEFT_REPORT_H
#define HEFT_REPORT_H

#include <stdint.h>

#include "sysinfo.h"

struct model;

struct run_report {
	const char *command;     /* "run", "bench" */
	int threads;
	int prefill_tokens;      /* tokens evaluated for the prompt */
	double prefill_s;
	int decode_tokens;       /* tokens timed one at a time */
	double decode_s;
	double decode_p50_ms, decode_p95_ms; /* per-token latency (0: not measured) */
	int batch;               /* prompt chunk size (-b) */
	double hit_rate_first, hit_rate_last;  /* bench: over the first / last 16 decoded tokens */
	uint64_t prefill_bytes_read;           /* expert bytes read by prompt chunks */
	uint64_t prefill_experts_needed_bytes; /* bytes of the distinct experts they routed to */
	/* snapshots before the timed part, so bytes and faults are the run's */
	uint64_t bytes_read0;    /* weights_stats bytes_read at start */
	struct sysinfo_proc_io io0;
	uint64_t major_faults0;
};

/* Snapshot the counters a report subtracts (call after loading). */
void report_begin(struct run_report *r, struct model *m);
/* Write the report as one JSON object to path ("-": stdout). 0 or -1
 * (reported). */
int report_write_json(const char *path, const struct run_report *r, struct model *m);
/* Median and 95th percentile of n values (sorts v). */
void report_percentiles(double *v, int n, double *p50, double *p95);

#endif
