/* job.h - what eval, run and bench share (cmd-eval.c, cmd-run.c,
 * cmd-bench.c): their options, a model with its prompt (token ids or text
 * through the model's tokenizer) and the forward state to evaluate it;
 * and, with chat, writing untrusted model output. */
#ifndef HEFT_JOB_H
#define HEFT_JOB_H

#include "model.h"
#include "sampler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct forward;
struct threadpool;
struct tokenizer;

struct job_opts {
	const char *model;
	const char *tokens_arg;
	const char *prompt;       /* -p TEXT (eval, run) */
	const char *prompt_file;
	const char *out;
	const char *stop;
	const char *prompt_cache; /* run: --prompt-cache FILE */
	const char *stats_json;
	int64_t greedy, n_predict, n_prompt;
	bool text_p;              /* -p is the prompt text, not bench's prompt length */
	bool sampling;            /* run: sampler flags, --stop and --prompt-cache */
	bool n_set;
	struct sampler_params sp;
	struct model_opts mo;     /* with -c, -t and -b (0: all the prompt at once) */
};

/* The options of eval, run and bench into o (its text_p and sampling set
 * first). Returns -1 to go on, else the exit status (0 after --help). */
int job_parse(int argc, char **argv, struct job_opts *o, const char *usage);

/* A model, its prompt and the state to evaluate it. */
struct job {
	struct model *m;
	struct tokenizer *t; /* text prompts only */
	struct threadpool *tp;
	struct forward *f;
	int32_t *tok;
	int n_tok;
	char *prompt; /* text prompts only */
	size_t prompt_len;
};

/* Load, check the prompt, make the pool and the forward state with room
 * for n_extra tokens after the prompt: 0 or the exit status (reported).
 * job_close after either. */
int job_open(struct job *j, const struct job_opts *o, int n_extra);
void job_close(struct job *j);
/* Load o's model with its loading options; NULL after reporting. */
struct model *job_load(const struct job_opts *o);
/* Tokenize -p or -f's text into j (j->m loaded): 0 or the exit status. */
int job_text_prompt(struct job *j, const struct job_opts *o);
/* Evaluate n tokens in chunks of at most the forward's batch. With all
 * (n rows of V floats) every position's logits are kept; returns the last
 * position's logits, NULL on error (reported). */
const float *job_eval_chunks(struct forward *f, const int32_t *tok, int n, float *all, int V);
/* Index of the largest of x[n]; *margin (if set): its lead over the next. */
int job_argmax(const float *x, int n, float *margin);

#endif
