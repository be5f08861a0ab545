/* stats.h - one name for every number heft reports about a model's weight
 * store, its generations and the process (stats.c): --stats-json
 * (report.c), the protocol's stats event (service.c, heft-protocol(5)) and
 * /metrics (http.c) take their names, kinds and meanings from one table,
 * so a counter is called the same wherever it shows. A figure of one run
 * only (--stats-json's part of a counter) is the counter's name with
 * "run_" in front. */
#ifndef HEFT_STATS_H
#define HEFT_STATS_H

#include <stdbool.h>

struct weights_stats;

enum stat_kind {
	STAT_GAUGE,   /* a level: it goes up and down */
	STAT_COUNTER, /* a count since the model loaded: it only grows */
};

struct stat_name {
	const char *name;
	enum stat_kind kind;
	const char *help; /* one line, for /metrics' HELP and the man pages */
};

/* The row named name, or NULL (a number outside the vocabulary). */
const struct stat_name *stat_lookup(const char *name);
/* Every row, for listing: *n of them. */
const struct stat_name *stat_table(int *n);

/* The weight store's numbers, each under its name, through put. */
typedef void (*stat_put_fn)(void *ud, const char *name, double v);
void stats_weights(const struct weights_stats *ws, stat_put_fn put, void *ud);

#endif
