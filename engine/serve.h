/* serve.h - heft-protocol(5) on stdin and stdout: requests in, events out,
 * one model at a time (serve.c). The command line is cmd-serve.c's. */
#ifndef HEFT_SERVE_H
#define HEFT_SERVE_H

#include "service.h" /* struct serve_opts */

/* Serve until the input ends or "quit"; model (NULL: none) is loaded
 * first. Returns the exit status. */
int serve_run(const struct serve_opts *o, const char *model);
/* The same over HTTP (o->http set). */
int http_run(const struct serve_opts *o, const char *model);

#endif
