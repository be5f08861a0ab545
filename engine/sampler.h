/* sampler.h - choose the next token from the logits.
 *
 * The chain, in llama.cpp's default order:
 *   1. penalties over the last repeat_last_n accepted tokens:
 *      repetition (a positive logit is divided by repeat_penalty, a negative
 *      one multiplied), then frequency (count * frequency_penalty) and
 *      presence (presence_penalty once) subtracted;
 *   2. top-k  (k <= 0: off)            - partial selection, no full sort;
 *   3. top-p  (>= 1: off)              - sorts only the candidates left;
 *   4. min-p  (<= 0: off)              - keeps p >= min_p * p_max;
 *   5. temperature, then a draw from softmax(logit / temp).
 * top-p and min-p look at softmax of the untempered logits, as llama.cpp's
 * do. temp <= 0 is greedy: the argmax after penalties, ties to the lowest id.
 * Each filter keeps at least one token.
 *
 * NaN logits are treated as -inf (never chosen), +inf as the largest finite
 * float; when every logit is -inf/NaN the lowest id is returned. The result
 * is always in [0, n_vocab).
 *
 * Nothing is allocated per token: sampler_new sizes every buffer. */
#ifndef HEFT_SAMPLER_H
#define HEFT_SAMPLER_H

#include <stdint.h>

struct sampler_params {
	float temp;              /* <= 0: greedy */
	int top_k;               /* <= 0: off */
	float top_p;             /* >= 1: off */
	float min_p;             /* <= 0: off */
	float repeat_penalty;    /* 1: off */
	int repeat_last_n;       /* window for all penalties; 0: off, -1: all history */
	float presence_penalty;  /* 0: off */
	float frequency_penalty; /* 0: off */
	int64_t seed;            /* -1: random (from the clock) */
};

/* llama.cpp's defaults: temp 0.8, top-k 40, top-p 0.95, min-p 0.05,
 * repeat penalty 1.0 over 64 tokens, no presence/frequency penalty, seed -1. */
struct sampler_params sampler_params_default(void);

struct sampler;

/* NULL if n_vocab < 1. */
struct sampler *sampler_new(int n_vocab, const struct sampler_params *p);
void sampler_free(struct sampler *s);

/* Change parameters between tokens (keeps the history unless the window
 * shrinks; reseeds only if the seed changed). */
void sampler_set_params(struct sampler *s, const struct sampler_params *p);
const struct sampler_params *sampler_get_params(const struct sampler *s);

/* The next token. logits[n_vocab] may be modified (penalties, NaN). */
int sampler_sample(struct sampler *s, float *logits);

/* Record a token (prompt or generated) for the penalties. */
void sampler_accept(struct sampler *s, int token);

/* Forget the history and restart the random sequence from the seed. */
void sampler_reset(struct sampler *s);

/* The seed in use (the drawn one when params.seed was -1). */
uint64_t sampler_seed(const struct sampler *s);

#endif
