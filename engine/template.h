/* template.h - chat templates: detect the family from a GGUF's
 * tokenizer.chat_template and render conversations with hand-written C.
 *
 * We do not run Jinja. Like llama.cpp's llm_chat_detect_template we look for
 * distinctive substrings of the template text, then render the family's
 * format exactly as its published template does for plain text messages
 * (roles system/user/assistant; no tools, no images). A template we do not
 * recognise is an error, never a silently wrong prompt.
 *
 * BOS: the rendered text does not start with the BOS token unless
 * opts->emit_bos is set; the tokenizer normally adds BOS itself (llama.cpp
 * strips a leading BOS from rendered templates for the same reason). */
#ifndef HEFT_TEMPLATE_H
#define HEFT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct gguf;

enum tmpl_family {
	TMPL_UNKNOWN = 0,
	TMPL_CHATML,            /* <|im_start|>role\n...<|im_end|>\n (Qwen2/2.5, generic) */
	TMPL_QWEN3,             /* ChatML + <think> handling */
	TMPL_LLAMA3,            /* Llama 3 / 3.0 */
	TMPL_LLAMA31,           /* Llama 3.1/3.2/3.3: system block with dates */
	TMPL_LLAMA2,            /* [INST] ... [/INST], system as plain text (Mixtral) */
	TMPL_LLAMA2_SYS,        /* <<SYS>> variant */
	TMPL_LLAMA2_SYS_BOS,    /* <s> inside history */
	TMPL_LLAMA2_SYS_STRIP,  /* messages trimmed */
	TMPL_MISTRAL_V1,
	TMPL_MISTRAL_V3,
	TMPL_MISTRAL_V3_TEKKEN,
	TMPL_MISTRAL_V7,
	TMPL_MISTRAL_V7_TEKKEN,
	TMPL_DEEPSEEK3,         /* DeepSeek V3 */
	TMPL_DEEPSEEK_R1,       /* R1: past reasoning stripped, "<think>\n" prompt */
	TMPL_DEEPSEEK_V31,      /* V3.1: </think> / <think> thinking switch */
	TMPL_GLM45,             /* GLM-4.5 / 4.6 */
	TMPL_KIMI_K2,
	TMPL_GPT_OSS,           /* OpenAI harmony */
	TMPL_FAMILY_COUNT
};

enum tmpl_thinking {
	TMPL_THINK_DEFAULT = 0, /* what the template does without enable_thinking */
	TMPL_THINK_ON,
	TMPL_THINK_OFF,         /* enable_thinking=false */
};

struct tmpl_opts {
	bool emit_bos;               /* start with template_bos(family) */
	enum tmpl_thinking thinking; /* Qwen3, GLM-4.5, DeepSeek V3.1 */
	const char *default_system;  /* ChatML: system prompt when the conversation has none */
	const char *date;            /* Llama 3.1 "Today Date" (default "26 Jul 2024");
	                                gpt-oss "Current date" (default: today, YYYY-MM-DD) */
	const char *reasoning_effort; /* gpt-oss: low/medium/high (default medium) */
};

struct chat_msg {
	const char *role; /* "system", "user" or "assistant" */
	const char *content;
};

/* The family whose distinctive strings jinja contains, or TMPL_UNKNOWN
 * (also for NULL/empty text). */
enum tmpl_family template_detect(const char *jinja);

/* --chat-template NAME: a family by name ("chatml", "qwen3", "llama3",
 * "llama3.1", "mistral-v7", "deepseek3", "deepseek-r1", "glm4.5", "kimi-k2",
 * "gpt-oss", ...). Returns TMPL_UNKNOWN for an unknown name. */
int template_by_name(const char *name);

/* Canonical name ("?" for TMPL_UNKNOWN or out of range). */
const char *template_name(enum tmpl_family f);

/* All accepted names, comma-separated, for error and help text. */
const char *template_names(void);

/* Text that ends an assistant turn, NULL-terminated (never NULL itself).
 * The session stops generating when the model emits one of these.
 * gpt-oss: "<|return|>" and "<|call|>" only; "<|end|>" ends the analysis
 * message inside a reply, not the reply. */
const char *const *template_stops(enum tmpl_family f);

/* The BOS text the published template starts with, or NULL. */
const char *template_bos(enum tmpl_family f);

/* A default system prompt the template text adds when the conversation has
 * none (Qwen2/2.5 ChatML), or NULL. Points into static storage. */
const char *template_default_system(const char *jinja);

/* Append the rendered conversation to out. opts may be NULL (defaults).
 * add_generation_prompt appends the assistant header the model continues
 * from. Returns 0, or -1 with a message in err (unknown family or role,
 * NULL message fields). */
int template_render(enum tmpl_family f, const struct chat_msg *msgs, size_t n,
		    bool add_generation_prompt, const struct tmpl_opts *opts,
		    struct buf *out, char *err, size_t errlen);

/* The same, and ends[i] (n of them, caller's) the bytes of out's new text
 * up to the end of message i's rendering: one pass gives every turn's
 * place in the prompt (a message the template leaves out, or moves to the
 * front, ends where the one before it ends or earlier). */
int template_render_ends(enum tmpl_family f, const struct chat_msg *msgs, size_t n,
			 bool add_generation_prompt, const struct tmpl_opts *opts,
			 struct buf *out, size_t *ends, char *err, size_t errlen);

/* The family for a model: override (a --chat-template name) if not NULL,
 * else detected from tokenizer.chat_template. If opts is not NULL and
 * opts->default_system is NULL, it is set from the template text.
 * Returns TMPL_UNKNOWN with an error naming the template's first 60
 * characters and suggesting --chat-template. */
enum tmpl_family template_from_gguf(const struct gguf *g, const char *override,
				    struct tmpl_opts *opts, char *err, size_t errlen);

#endif
