/* synth.h - write a synthetic GGUF model (synth.c): the shapes, types and
 * metadata of a model family with random weights. Settings are named as
 * `heft-engine synth`'s long options (cmd-synth.c), which come from here. */
#ifndef HEFT_SYNTH_H
#define HEFT_SYNTH_H

#include <stdbool.h>
#include <stddef.h>

struct synth;

/* Every setting unset (the defaults and --like fill them at synth_run). */
struct synth *synth_new(void);
void synth_free(struct synth *s);
/* The settings: name i (0 <= i < synth_n_options()) and whether it takes
 * a value. */
size_t synth_n_options(void);
const char *synth_option(size_t i, bool *has_arg);
/* Set setting i from its text; false after reporting a bad value. */
bool synth_set(struct synth *s, size_t i, const char *value);
/* Write the model to out (with its --split parts), or describe it with
 * --dry-run; quiet: no progress. Returns the exit status. */
int synth_run(const struct synth *s, const char *out, bool quiet);

#endif
