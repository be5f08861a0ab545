/* app.h - heft's main loop: one poll() over the terminal, the engine's
 * pipes and a timer. */
#ifndef HEFT_APP_H
#define HEFT_APP_H

#include <stdint.h>

/* config.h gives the real one in the autotools build. */
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

struct app_config {
	const char *engine_cmd;	/* run with /bin/sh -c */
	const char *model;	/* NULL: none (the engine may have a default) */
	uint64_t mem;		/* RAM budget for load; 0 = engine default */
};

/* Run the full-screen UI until the user quits; returns the exit status. */
int app_run(const struct app_config *cfg);

#endif
