/* stats.h - one name for every number heft reports about a model's weight
 * store, its generations and the process (stats.c): --stats-json
 * (report.c), the protocol's stats event (service.c, heft-protocol(5)) and
 * /metrics (http.c) take their names, kinds and meanings from one table,
 * so a counter is called the same wherever it shows. A figure of one run
 * only (--stats-json's part of a counter) is the counter's name with
 * "run_" in front. The numbers the front end's panes draw also travel in
 * heft's HTTP progress lines (http-jobs.c), under the same names, so a
 * client of serve --http fills its panes as over the pipe. */
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
	unsigned flags;	  /* STAT_* below */
};
#define STAT_LAYERS 1u	 /* one value per layer (the stats event only) */
#define STAT_PROGRESS 2u /* also in the HTTP progress lines: the panes draw it */

/* The row named name, or NULL (a number outside the vocabulary). */
const struct stat_name *stat_lookup(const char *name);
/* Every row, for listing: *n of them. */
const struct stat_name *stat_table(int *n);

/* Is name one of the numbers the HTTP progress lines carry? */
bool stat_in_progress(const char *name);

/* The weight store's numbers, each under its name, through put. */
typedef void (*stat_put_fn)(void *ud, const char *name, double v);
void stats_weights(const struct weights_stats *ws, stat_put_fn put, void *ud);

#endif
