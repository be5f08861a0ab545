/* http-model.h - the HTTP endpoints that read the loaded model without
 * running it (http-model.c): llama-server's /tokenize and /detokenize,
 * ollama's /api/show. A request body in, a JSON reply out; no I/O. */
#ifndef HEFT_HTTP_MODEL_H
#define HEFT_HTTP_MODEL_H

#include "model.h"
#include "tokenizer.h"
#include "util.h"

#include <stddef.h>

/* Each writes the reply's JSON (or its error message, for a 400) into out
 * and returns the HTTP status. */
int http_tokenize(const struct tokenizer *t, const char *body, size_t len, struct buf *out);
int http_detokenize(const struct tokenizer *t, const char *body, size_t len, struct buf *out);
/* name: the model's name for clients; n_ctx: the context it was given. */
int http_show(const struct model *m, const char *name, int n_ctx, const char *body, size_t len, struct buf *out);

#endif
