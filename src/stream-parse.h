/* stream-parse.h - one parser for the streamed answers of chat servers:
 * Server-Sent Events carrying OpenAI chat chunks (llama-server, vLLM,
 * SGLang, exo, heft) and ollama's newline-delimited JSON.
 *
 * Bytes go in as they arrive, split anywhere; what they mean comes out as
 * events through a callback: answer text and reasoning text kept apart,
 * the finish reason, token counts and timings, the end of the stream, and
 * errors (an error chunk, a line that is not JSON, a line over the cap).
 * Memory is bounded by the line cap: a 10 MB line is refused, not held.
 * After an error the parser ignores the rest of the stream. */
#ifndef HEFT_STREAM_PARSE_H
#define HEFT_STREAM_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "linereader.h"
#include "util.h"

enum sp_format {
	SP_SSE,			/* "data: {chunk}" events, OpenAI chat chunks */
	SP_NDJSON,		/* one ollama /api/chat object per line */
};

enum sp_kind {
	SP_CONTENT,		/* text of the answer */
	SP_REASONING,		/* text of the thinking (reasoning_content, thinking, reasoning) */
	SP_FINISH,		/* text: the finish reason ("stop", "length") */
	SP_USAGE,		/* counts and timings (the fields set in the event) */
	SP_DONE,		/* the stream says it is complete ([DONE], "done": true) */
	SP_ERROR,		/* text: what went wrong; the parser stops here */
	SP_PROGRESS,		/* text: a heft server's progress object (JSON), from an
				 * SSE comment ": heft.progress {...}" or an NDJSON
				 * line's "heft_progress" */
};

struct sp_event {
	enum sp_kind kind;
	const char *text;	/* NUL-terminated, valid during the callback */
	size_t len;
	/* SP_USAGE: -1 / NaN when the server did not say. */
	int64_t n_prompt, n_gen, n_cached;
	double prompt_ms, gen_ms;
};

typedef void (*sp_fn)(void *ctx, const struct sp_event *ev);

struct stream_parser {
	enum sp_format fmt;
	struct linereader lr;
	struct buf data;	/* SSE: the data lines of the event being read */
	bool has_data;
	bool done;		/* end marker seen */
	bool failed;		/* an error was reported: the rest is ignored */
	unsigned long events;	/* JSON objects understood */
};

/* max_line: the longest line accepted (0: 1 MiB). */
void sp_init(struct stream_parser *sp, enum sp_format fmt, size_t max_line);
void sp_free(struct stream_parser *sp);

/* Feed n bytes; events go to fn before it returns. */
void sp_feed(struct stream_parser *sp, const void *data, size_t n, sp_fn fn, void *ctx);
/* The transfer ended: a last line without its newline is parsed. */
void sp_end(struct stream_parser *sp, sp_fn fn, void *ctx);

/* The message of a JSON error body ({"error":{"message":..}},
 * {"error":"..."}, {"message":..}), or NULL; caller frees. */
char *sp_error_message(const char *body, size_t len);

#endif
