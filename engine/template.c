/* template.c - chat template families: detection by substrings, rendering
 * by hand. Each renderer follows its family's published Jinja template for
 * plain-text system/user/assistant messages; the comment above each one
 * names the template it follows. Jinja's "trim" is Python's str.strip(). */
#include "template.h"

#include "gguf.h"
#include "role.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DS_BOS "<｜begin▁of▁sentence｜>"
#define DS_EOS "<｜end▁of▁sentence｜>"
#define DS_USER "<｜User｜>"
#define DS_ASSISTANT "<｜Assistant｜>"

struct family_info {
	const char *name;
	const char *bos;
	const char *stops[4];
};

static const struct family_info families[TMPL_FAMILY_COUNT] = {
	[TMPL_UNKNOWN] = {"?", NULL, {NULL}},
	[TMPL_CHATML] = {"chatml", NULL, {"<|im_end|>", NULL}},
	[TMPL_QWEN3] = {"qwen3", NULL, {"<|im_end|>", NULL}},
	[TMPL_LLAMA3] = {"llama3", "<|begin_of_text|>", {"<|eot_id|>", NULL}},
	[TMPL_LLAMA31] = {"llama3.1", "<|begin_of_text|>", {"<|eot_id|>", "<|eom_id|>", NULL}},
	[TMPL_LLAMA2] = {"llama2", "<s>", {"</s>", NULL}},
	[TMPL_LLAMA2_SYS] = {"llama2-sys", "<s>", {"</s>", NULL}},
	[TMPL_LLAMA2_SYS_BOS] = {"llama2-sys-bos", "<s>", {"</s>", NULL}},
	[TMPL_LLAMA2_SYS_STRIP] = {"llama2-sys-strip", "<s>", {"</s>", NULL}},
	[TMPL_MISTRAL_V1] = {"mistral-v1", "<s>", {"</s>", NULL}},
	[TMPL_MISTRAL_V3] = {"mistral-v3", "<s>", {"</s>", NULL}},
	[TMPL_MISTRAL_V3_TEKKEN] = {"mistral-v3-tekken", "<s>", {"</s>", NULL}},
	[TMPL_MISTRAL_V7] = {"mistral-v7", "<s>", {"</s>", NULL}},
	[TMPL_MISTRAL_V7_TEKKEN] = {"mistral-v7-tekken", "<s>", {"</s>", NULL}},
	[TMPL_DEEPSEEK3] = {"deepseek3", DS_BOS, {DS_EOS, NULL}},
	[TMPL_DEEPSEEK_R1] = {"deepseek-r1", DS_BOS, {DS_EOS, NULL}},
	[TMPL_DEEPSEEK_V31] = {"deepseek-v3.1", DS_BOS, {DS_EOS, NULL}},
	/* GLM's generation_config lists <|user|> and <|observation|> as EOS. */
	[TMPL_GLM45] = {"glm4.5", NULL, {"<|user|>", "<|observation|>", "<|endoftext|>", NULL}},
	[TMPL_KIMI_K2] = {"kimi-k2", NULL, {"<|im_end|>", NULL}},
	[TMPL_GPT_OSS] = {"gpt-oss", NULL, {"<|return|>", "<|call|>", NULL}},
};

static const struct {
	const char *alias;
	enum tmpl_family f;
} aliases[] = {
	{"qwen2", TMPL_CHATML},     {"qwen", TMPL_CHATML},       {"llama3.2", TMPL_LLAMA31},
	{"llama3.3", TMPL_LLAMA31}, {"mistral", TMPL_MISTRAL_V7}, {"mixtral", TMPL_LLAMA2},
	{"deepseek-v3", TMPL_DEEPSEEK3}, {"deepseek-v3.1", TMPL_DEEPSEEK_V31},
	{"deepseek-r1", TMPL_DEEPSEEK_R1}, {"glm4", TMPL_GLM45},  {"glm-4.5", TMPL_GLM45},
	{"glm4.6", TMPL_GLM45},     {"kimi", TMPL_KIMI_K2},      {"harmony", TMPL_GPT_OSS},
};

const char *template_name(enum tmpl_family f)
{
	if ((int)f < 0 || f >= TMPL_FAMILY_COUNT)
		return "?";
	return families[f].name;
}

const char *template_names(void)
{
	return "chatml, qwen3, llama3, llama3.1, llama2, llama2-sys, llama2-sys-bos, "
	       "llama2-sys-strip, mistral-v1, mistral-v3, mistral-v3-tekken, mistral-v7, "
	       "mistral-v7-tekken, deepseek3, deepseek-r1, deepseek-v3.1, glm4.5, kimi-k2, gpt-oss";
}

const char *const *template_stops(enum tmpl_family f)
{
	if ((int)f < 0 || f >= TMPL_FAMILY_COUNT)
		f = TMPL_UNKNOWN;
	return families[f].stops;
}

const char *template_bos(enum tmpl_family f)
{
	if ((int)f < 0 || f >= TMPL_FAMILY_COUNT)
		return NULL;
	return families[f].bos;
}

int template_by_name(const char *name)
{
	if (!name || !*name)
		return TMPL_UNKNOWN;
	for (int f = 1; f < TMPL_FAMILY_COUNT; f++)
		if (!strcmp(name, families[f].name))
			return f;
	for (size_t i = 0; i < ARRAY_LEN(aliases); i++)
		if (!strcmp(name, aliases[i].alias))
			return aliases[i].f;
	return TMPL_UNKNOWN;
}

/* ---- detection ---- */

static bool has(const char *s, const char *needle)
{
	return strstr(s, needle) != NULL;
}

static enum tmpl_family detect_mistral(const char *t)
{
	if (has(t, "[SYSTEM_PROMPT]")) {
		/* llama.cpp calls every [SYSTEM_PROMPT] template v7; the tekken
		 * ones (Mistral Small 3.x) write '[INST]' without the space. */
		if (has(t, "'[INST]' +") && !has(t, "'[INST] '"))
			return TMPL_MISTRAL_V7_TEKKEN;
		return TMPL_MISTRAL_V7;
	}
	if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
		if (has(t, " [INST]"))
			return TMPL_MISTRAL_V1;
		if (has(t, "\"[INST]\""))
			return TMPL_MISTRAL_V3_TEKKEN;
		return TMPL_MISTRAL_V3;
	}
	if (has(t, "content.strip()"))
		return TMPL_LLAMA2_SYS_STRIP;
	if (has(t, "bos_token + '[INST]"))
		return TMPL_LLAMA2_SYS_BOS;
	if (has(t, "<<SYS>>"))
		return TMPL_LLAMA2_SYS;
	return TMPL_LLAMA2;
}

enum tmpl_family template_detect(const char *t)
{
	if (!t || !*t)
		return TMPL_UNKNOWN;
	/* Most specific markers first: Kimi and harmony templates mention
	 * strings other families also use. */
	if (has(t, "<|im_assistant|>") && has(t, "<|im_middle|>"))
		return TMPL_KIMI_K2;
	if (has(t, "<|start|>") && has(t, "<|channel|>"))
		return TMPL_GPT_OSS;
	if (has(t, "<|im_start|>")) {
		if (has(t, "<|im_sep|>") || has(t, "<end_of_utterance>"))
			return TMPL_UNKNOWN; /* Phi-4, SmolVLM: not ChatML */
		return has(t, "<think>") ? TMPL_QWEN3 : TMPL_CHATML;
	}
	if (!strncmp(t, "mistral", 7) || has(t, "[INST]"))
		return detect_mistral(t);
	if (has(t, "[gMASK]<sop>")) {
		/* GLM-4-9B (no <think>) and GLM-4.7+ (clear_thinking, no newline
		 * after <|user|>) format turns differently. */
		if (has(t, "<think>") && !has(t, "clear_thinking"))
			return TMPL_GLM45;
		return TMPL_UNKNOWN;
	}
	if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
		return has(t, "Cutting Knowledge Date") ? TMPL_LLAMA31 : TMPL_LLAMA3;
	if (has(t, DS_ASSISTANT) && has(t, DS_USER) && has(t, DS_EOS)) {
		if (has(t, DS_ASSISTANT "</think>"))
			return TMPL_DEEPSEEK_V31;
		if (has(t, "</think>"))
			return TMPL_DEEPSEEK_R1;
		return TMPL_DEEPSEEK3;
	}
	return TMPL_UNKNOWN;
}

const char *template_default_system(const char *t)
{
	static const char *const known[] = {
		/* Qwen/Qwen2.5-*-Instruct tokenizer_config.json */
		"You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
		/* Qwen/Qwen2-*-Instruct tokenizer_config.json */
		"You are a helpful assistant.",
	};
	if (!t || !has(t, "<|im_start|>") || has(t, "<think>"))
		return NULL;
	for (size_t i = 0; i < ARRAY_LEN(known); i++) {
		char pat[128];
		snprintf(pat, sizeof(pat), "system\\n%s<|im_end|>", known[i]);
		if (has(t, pat))
			return known[i];
	}
	return NULL;
}

/* ---- rendering helpers ---- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Append s[0..n) with the characters in set removed from the ends. */
static void put_stripped(struct buf *out, const char *s, size_t n, bool left, bool right,
			 bool newlines_only)
{
	while (left && n && (newlines_only ? *s == '\n' : is_space(*s)))
		s++, n--;
	while (right && n && (newlines_only ? s[n - 1] == '\n' : is_space(s[n - 1])))
		n--;
	buf_append(out, s, n);
}

static void put_trim(struct buf *out, const char *s)
{
	put_stripped(out, s, strlen(s), true, true, false);
}

static bool only_space(const char *s)
{
	for (; *s; s++)
		if (!is_space(*s))
			return false;
	return true;
}

/* Last occurrence of needle in s. */
static const char *strrstr(const char *s, const char *needle)
{
	const char *last = NULL;
	for (const char *p = s; (p = strstr(p, needle)); p++)
		last = p;
	return last;
}

/* content.split('</think>')[-1]: the text after the last "</think>". */
static const char *after_last_think(const char *c)
{
	const char *p = strrstr(c, "</think>");
	return p ? p + 8 : c;
}

/* A past assistant turn "...<think>R</think>C", as the Qwen3 and GLM-4.5
 * templates take it apart: the reasoning R, from the last <think> before
 * the first </think>, newlines trimmed at both ends, as [*rs, *re); the
 * return value is C, the text after the last </think> without leading
 * newlines. With no </think> the reasoning is empty and C is the text. */
static const char *split_reasoning(const char *c, const char **rs, const char **re)
{
	const char *close = strstr(c, "</think>");
	*rs = *re = c;
	if (!close)
		return c;
	const char *e = close, *b = c;
	while (e > c && e[-1] == '\n')
		e--;
	for (const char *p = c; (p = strstr(p, "<think>")) && p < e; p++)
		b = p + 7;
	if (b > e)
		b = e;
	while (b < e && *b == '\n')
		b++;
	*rs = b;
	*re = e;
	c = after_last_think(c);
	while (*c == '\n')
		c++;
	return c;
}

struct render {
	enum tmpl_family f;
	const struct chat_msg *msgs;
	size_t n;
	bool gen;
	const struct tmpl_opts *o;
	struct buf *out;
	enum role *roles;
	size_t *ends, start; /* template_render_ends */
};

/* Message i is rendered: where its text ends. */
static void mark(struct render *r, size_t i)
{
	if (r->ends)
		r->ends[i] = r->out->len - r->start;
}

static void put_bos(struct render *r)
{
	if (r->o->emit_bos && families[r->f].bos)
		buf_puts(r->out, families[r->f].bos);
}

/* ChatML: llama.cpp's chatml renderer, e.g. Qwen/Qwen2.5-7B-Instruct. */
static void render_chatml(struct render *r)
{
	if (r->o->default_system && (r->n == 0 || r->roles[0] != ROLE_SYSTEM))
		buf_printf(r->out, "<|im_start|>system\n%s<|im_end|>\n", r->o->default_system);
	for (size_t i = 0; i < r->n; i++) {
		buf_printf(r->out, "<|im_start|>%s\n%s<|im_end|>\n", r->msgs[i].role, r->msgs[i].content);
		mark(r, i);
	}
	if (r->gen)
		buf_puts(r->out, "<|im_start|>assistant\n");
}

/* Qwen/Qwen3-*: tokenizer_config.json chat_template. Reasoning is kept only
 * for assistant turns after the last user query. */
static void render_qwen3(struct render *r)
{
	size_t last_query = r->n ? r->n - 1 : 0;
	for (size_t i = r->n; i-- > 0;) {
		if (r->roles[i] == ROLE_USER) {
			last_query = i;
			break;
		}
	}
	for (size_t i = 0; i < r->n; i++) {
		const char *c = r->msgs[i].content;
		if (r->roles[i] != ROLE_ASSISTANT) {
			buf_printf(r->out, "<|im_start|>%s\n%s<|im_end|>\n", r->msgs[i].role, c);
			mark(r, i);
			continue;
		}
		const char *rs, *re; /* reasoning_content */
		c = split_reasoning(c, &rs, &re);
		buf_puts(r->out, "<|im_start|>assistant\n");
		if (i > last_query && (i == r->n - 1 || re > rs)) {
			buf_puts(r->out, "<think>\n");
			put_stripped(r->out, rs, (size_t)(re - rs), true, true, true);
			buf_puts(r->out, "\n</think>\n\n");
			while (*c == '\n')
				c++;
		}
		buf_puts(r->out, c);
		buf_puts(r->out, "<|im_end|>\n");
		mark(r, i);
	}
	if (r->gen) {
		buf_puts(r->out, "<|im_start|>assistant\n");
		if (r->o->thinking == TMPL_THINK_OFF)
			buf_puts(r->out, "<think>\n\n</think>\n\n");
	}
}

/* meta-llama/Meta-Llama-3-8B-Instruct: header, trimmed content, <|eot_id|>. */
static void render_llama3(struct render *r)
{
	put_bos(r);
	for (size_t i = 0; i < r->n; i++) {
		buf_printf(r->out, "<|start_header_id|>%s<|end_header_id|>\n\n", r->msgs[i].role);
		put_trim(r->out, r->msgs[i].content);
		buf_puts(r->out, "<|eot_id|>");
		mark(r, i);
	}
	if (r->gen)
		buf_puts(r->out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* meta-llama/Llama-3.1-8B-Instruct (also 3.2, 3.3) without tools: a system
 * block always, with the knowledge and current dates. */
static void render_llama31(struct render *r)
{
	size_t i = 0;
	put_bos(r);
	buf_printf(r->out, "<|start_header_id|>system<|end_header_id|>\n\n"
			   "Cutting Knowledge Date: December 2023\nToday Date: %s\n\n",
		   r->o->date ? r->o->date : "26 Jul 2024");
	if (r->n && r->roles[0] == ROLE_SYSTEM)
		put_trim(r->out, r->msgs[i++].content);
	buf_puts(r->out, "<|eot_id|>");
	if (i)
		mark(r, 0);
	for (; i < r->n; i++) {
		buf_printf(r->out, "<|start_header_id|>%s<|end_header_id|>\n\n", r->msgs[i].role);
		put_trim(r->out, r->msgs[i].content);
		buf_puts(r->out, "<|eot_id|>");
		mark(r, i);
	}
	if (r->gen)
		buf_puts(r->out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* Llama 2 and Mixtral-8x7B-Instruct ("[INST] user [/INST]answer</s>"),
 * the variants as llama.cpp distinguishes them. */
static void render_llama2(struct render *r)
{
	bool sys = r->f != TMPL_LLAMA2;
	bool bos_inside = r->f == TMPL_LLAMA2_SYS_BOS;
	bool strip = r->f == TMPL_LLAMA2_SYS_STRIP;
	bool inside = true;
	put_bos(r);
	buf_puts(r->out, "[INST] ");
	for (size_t i = 0; i < r->n; i++) {
		const char *c = r->msgs[i].content;
		if (!inside) {
			inside = true;
			buf_puts(r->out, bos_inside ? "<s>[INST] " : "[INST] ");
		}
		if (r->roles[i] == ROLE_SYSTEM && sys)
			buf_puts(r->out, "<<SYS>>\n");
		if (strip)
			put_trim(r->out, c);
		else
			buf_puts(r->out, c);
		if (r->roles[i] == ROLE_SYSTEM) {
			buf_puts(r->out, sys ? "\n<</SYS>>\n\n" : "\n");
		} else if (r->roles[i] == ROLE_USER) {
			buf_puts(r->out, " [/INST]");
		} else {
			buf_puts(r->out, "</s>");
			inside = false;
		}
		mark(r, i);
	}
}

/* Mistral v1/v3/v3-tekken (mistralai/cookbook concept-deep-dive/tokenization
 * templates.md, as llama.cpp renders them): the system prompt opens the
 * first [INST] block. The prompt ends at [/INST]; nothing is added for
 * add_generation_prompt. */
static void render_mistral(struct render *r)
{
	const char *lead = r->f == TMPL_MISTRAL_V1 ? " " : "";
	const char *trail = r->f == TMPL_MISTRAL_V3_TEKKEN ? "" : " ";
	bool trim_answer = r->f == TMPL_MISTRAL_V3;
	bool inside = false;
	put_bos(r);
	for (size_t i = 0; i < r->n; i++) {
		const char *c = r->msgs[i].content;
		if (!inside) {
			buf_printf(r->out, "%s[INST]%s", lead, trail);
			inside = true;
		}
		if (r->roles[i] == ROLE_SYSTEM) {
			buf_printf(r->out, "%s\n\n", c);
		} else if (r->roles[i] == ROLE_USER) {
			buf_printf(r->out, "%s%s[/INST]", c, lead);
		} else {
			buf_puts(r->out, trail);
			if (trim_answer)
				put_trim(r->out, c);
			else
				buf_puts(r->out, c);
			buf_puts(r->out, "</s>");
			inside = false;
		}
		mark(r, i);
	}
}

/* Mistral v7 (mistralai/Mistral-Large-Instruct-2411) and v7-tekken
 * (mistralai/Mistral-Small-3.1-24B-Instruct-2503), as llama.cpp renders
 * them: [SYSTEM_PROMPT] blocks where the system messages are. */
static void render_mistral_v7(struct render *r)
{
	const char *sp = r->f == TMPL_MISTRAL_V7 ? " " : "";
	put_bos(r);
	for (size_t i = 0; i < r->n; i++) {
		const char *c = r->msgs[i].content;
		if (r->roles[i] == ROLE_SYSTEM)
			buf_printf(r->out, "[SYSTEM_PROMPT]%s%s[/SYSTEM_PROMPT]", sp, c);
		else if (r->roles[i] == ROLE_USER)
			buf_printf(r->out, "[INST]%s%s[/INST]", sp, c);
		else
			buf_printf(r->out, "%s%s</s>", sp, c);
		mark(r, i);
	}
}

/* deepseek-ai/DeepSeek-V3, DeepSeek-R1 and DeepSeek-V3.1
 * tokenizer_config.json: every system message, joined by a blank line,
 * comes first; then <｜User｜>/<｜Assistant｜> turns. */
static void render_deepseek(struct render *r)
{
	bool first_sp = true;
	put_bos(r);
	for (size_t i = 0; i < r->n; i++) {
		if (r->roles[i] != ROLE_SYSTEM)
			continue;
		if (!first_sp)
			buf_puts(r->out, "\n\n");
		buf_puts(r->out, r->msgs[i].content);
		first_sp = false;
	}
	bool last_user = false;
	for (size_t i = 0; i < r->n; i++) {
		const char *c = r->msgs[i].content;
		if (r->roles[i] == ROLE_USER) {
			buf_printf(r->out, DS_USER "%s", c);
			last_user = true;
		} else if (r->roles[i] == ROLE_ASSISTANT) {
			if (r->f == TMPL_DEEPSEEK_V31) {
				/* content.split('</think>', 1)[1] */
				const char *p = strstr(c, "</think>");
				if (p)
					c = p + 8;
				if (last_user)
					buf_puts(r->out, DS_ASSISTANT "</think>");
				buf_printf(r->out, "%s" DS_EOS, c);
			} else {
				if (r->f == TMPL_DEEPSEEK_R1)
					c = after_last_think(c);
				buf_printf(r->out, DS_ASSISTANT "%s" DS_EOS, c);
			}
			last_user = false;
		}
		mark(r, i); /* a system message: where the turns it sits between meet */
	}
	if (!r->gen)
		return;
	if (r->f == TMPL_DEEPSEEK_V31) {
		if (last_user)
			buf_puts(r->out, r->o->thinking == TMPL_THINK_ON ? DS_ASSISTANT "<think>"
									  : DS_ASSISTANT "</think>");
	} else if (r->f == TMPL_DEEPSEEK_R1) {
		buf_puts(r->out, DS_ASSISTANT "<think>\n");
	} else {
		buf_puts(r->out, DS_ASSISTANT);
	}
}

/* zai-org/GLM-4.5 chat_template.jinja (GLM-4.6 renders text turns alike).
 * Past reasoning is dropped: an empty <think></think> marks each answer. */
static void render_glm45(struct render *r)
{
	bool nothink = r->o->thinking == TMPL_THINK_OFF;
	size_t last_user = (size_t)-1;
	for (size_t i = 0; i < r->n; i++)
		if (r->roles[i] == ROLE_USER)
			last_user = i;
	buf_puts(r->out, "[gMASK]<sop>");
	for (size_t i = 0; i < r->n; i++) {
		const char *c = r->msgs[i].content;
		if (r->roles[i] == ROLE_USER) {
			size_t len = strlen(c);
			buf_printf(r->out, "<|user|>\n%s", c);
			if (nothink && (len < 8 || strcmp(c + len - 8, "/nothink")))
				buf_puts(r->out, "/nothink");
		} else if (r->roles[i] == ROLE_SYSTEM) {
			buf_printf(r->out, "<|system|>\n%s", c);
		} else {
			const char *rs, *re;
			c = split_reasoning(c, &rs, &re);
			buf_puts(r->out, "<|assistant|>");
			if (last_user != (size_t)-1 && i > last_user && re > rs) {
				buf_puts(r->out, "\n<think>");
				put_stripped(r->out, rs, (size_t)(re - rs), true, true, false);
				buf_puts(r->out, "</think>");
			} else {
				buf_puts(r->out, "\n<think></think>");
			}
			if (!only_space(c)) {
				buf_putc(r->out, '\n');
				put_trim(r->out, c);
			}
		}
		mark(r, i);
	}
	if (r->gen)
		buf_puts(r->out, nothink ? "<|assistant|>\n<think></think>" : "<|assistant|>");
}

/* moonshotai/Kimi-K2-Instruct chat_template: a default system message when
 * the conversation does not start with one. */
static void render_kimi(struct render *r)
{
	static const char *const tag[] = {
		[ROLE_SYSTEM] = "<|im_system|>system<|im_middle|>",
		[ROLE_USER] = "<|im_user|>user<|im_middle|>",
		[ROLE_ASSISTANT] = "<|im_assistant|>assistant<|im_middle|>",
	};
	if (r->n && r->roles[0] != ROLE_SYSTEM)
		buf_puts(r->out, "<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|>");
	for (size_t i = 0; i < r->n; i++) {
		buf_printf(r->out, "%s%s<|im_end|>", tag[r->roles[i]], r->msgs[i].content);
		mark(r, i);
	}
	if (r->gen)
		buf_puts(r->out, tag[ROLE_ASSISTANT]);
}

/* A past reply may still hold raw harmony markup; keep its final channel. */
static void put_harmony_final(struct buf *out, const char *c)
{
	const char *p = strrstr(c, "<|channel|>final<|message|>");
	if (!p) {
		buf_puts(out, c);
		return;
	}
	p += strlen("<|channel|>final<|message|>");
	size_t n = strlen(p);
	const char *e = strstr(p, "<|end|>");
	const char *e2 = strstr(p, "<|return|>");
	if (e2 && (!e || e2 < e))
		e = e2;
	buf_append(out, p, e ? (size_t)(e - p) : n);
}

/* openai/gpt-oss-120b chat_template.jinja without tools: a system message
 * with model identity, dates and reasoning effort; the user's system prompt
 * becomes the developer message; past answers in the final channel (their
 * analysis dropped). Only a leading system message is used, as there. */
static void render_gpt_oss(struct render *r)
{
	char today[32];
	const char *date = r->o->date;
	if (!date) {
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(today, sizeof(today), "%Y-%m-%d", &tm);
		date = today;
	}
	buf_printf(r->out,
		   "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
		   "Knowledge cutoff: 2024-06\nCurrent date: %s\n\nReasoning: %s\n\n"
		   "# Valid channels: analysis, commentary, final. Channel must be included for every "
		   "message.<|end|>",
		   date, r->o->reasoning_effort ? r->o->reasoning_effort : "medium");
	size_t i = 0;
	if (r->n && r->roles[0] == ROLE_SYSTEM) {
		if (*r->msgs[0].content)
			buf_printf(r->out, "<|start|>developer<|message|># Instructions\n\n%s\n\n<|end|>",
				   r->msgs[0].content);
		mark(r, 0);
		i = 1;
	}
	for (; i < r->n; i++) {
		if (r->roles[i] == ROLE_USER) {
			buf_printf(r->out, "<|start|>user<|message|>%s<|end|>", r->msgs[i].content);
		} else if (r->roles[i] == ROLE_ASSISTANT) {
			buf_puts(r->out, "<|start|>assistant<|channel|>final<|message|>");
			put_harmony_final(r->out, r->msgs[i].content);
			buf_puts(r->out, i == r->n - 1 && !r->gen ? "<|return|>" : "<|end|>");
		}
		mark(r, i);
	}
	if (r->gen)
		buf_puts(r->out, "<|start|>assistant");
}

int template_render(enum tmpl_family f, const struct chat_msg *msgs, size_t n,
		    bool add_generation_prompt, const struct tmpl_opts *opts,
		    struct buf *out, char *err, size_t errlen)
{
	return template_render_ends(f, msgs, n, add_generation_prompt, opts, out, NULL, err, errlen);
}

int template_render_ends(enum tmpl_family f, const struct chat_msg *msgs, size_t n,
			 bool add_generation_prompt, const struct tmpl_opts *opts,
			 struct buf *out, size_t *ends, char *err, size_t errlen)
{
	static const struct tmpl_opts defaults;
	if ((int)f <= TMPL_UNKNOWN || f >= TMPL_FAMILY_COUNT) {
		snprintf(err, errlen, "no chat template (family %d); choose one with --chat-template (%s)",
			 (int)f, template_names());
		return -1;
	}
	if (n && !msgs) {
		snprintf(err, errlen, "chat template: no messages");
		return -1;
	}
	enum role *roles = n ? xcalloc(n, sizeof(*roles)) : NULL;
	for (size_t i = 0; i < n; i++) {
		const char *role = msgs[i].role;
		if (!role || !msgs[i].content) {
			snprintf(err, errlen, "chat template: message %zu has no %s", i,
				 role ? "content" : "role");
			free(roles);
			return -1;
		}
		int k = role_lookup(role);
		if (k >= 0) {
			roles[i] = (enum role)k;
		} else {
			snprintf(err, errlen, "chat template %s: unsupported role \"%.40s\" in message %zu",
				 template_name(f), role, i);
			free(roles);
			return -1;
		}
	}
	struct render r = {f, msgs, n, add_generation_prompt, opts ? opts : &defaults, out, roles, ends, out->len};
	for (size_t i = 0; ends && i < n; i++)
		ends[i] = 0;
	buf_reserve(out, 64); /* an empty rendering is still a NUL-terminated string */
	switch (f) {
	case TMPL_CHATML: render_chatml(&r); break;
	case TMPL_QWEN3: render_qwen3(&r); break;
	case TMPL_LLAMA3: render_llama3(&r); break;
	case TMPL_LLAMA31: render_llama31(&r); break;
	case TMPL_LLAMA2:
	case TMPL_LLAMA2_SYS:
	case TMPL_LLAMA2_SYS_BOS:
	case TMPL_LLAMA2_SYS_STRIP: render_llama2(&r); break;
	case TMPL_MISTRAL_V1:
	case TMPL_MISTRAL_V3:
	case TMPL_MISTRAL_V3_TEKKEN: render_mistral(&r); break;
	case TMPL_MISTRAL_V7:
	case TMPL_MISTRAL_V7_TEKKEN: render_mistral_v7(&r); break;
	case TMPL_DEEPSEEK3:
	case TMPL_DEEPSEEK_R1:
	case TMPL_DEEPSEEK_V31: render_deepseek(&r); break;
	case TMPL_GLM45: render_glm45(&r); break;
	case TMPL_KIMI_K2: render_kimi(&r); break;
	case TMPL_GPT_OSS: render_gpt_oss(&r); break;
	default: break;
	}
	out->p[out->len] = '\0';
	free(roles);
	return 0;
}

/* The first 60 characters of a template, control characters shown as
 * spaces, cut at a UTF-8 boundary. */
static void template_excerpt(const char *t, char *dst, size_t dstlen)
{
	size_t i = 0, j = 0;
	while (t[i] && i < 60 && j + 5 < dstlen) {
		size_t k = utf8_seq_len((const unsigned char *)t + i, strlen(t + i));
		if (k == 0) {
			dst[j++] = '?';
			i++;
			continue;
		}
		if (i + k > 60)
			break;
		if (k == 1 && iscntrl((unsigned char)t[i]))
			dst[j++] = ' ';
		else
			for (size_t m = 0; m < k; m++)
				dst[j++] = t[i + m];
		i += k;
	}
	if (t[i] && j + 3 < dstlen)
		dst[j++] = '.', dst[j++] = '.', dst[j++] = '.';
	dst[j] = '\0';
}

enum tmpl_family template_from_gguf(const struct gguf *g, const char *override,
				    struct tmpl_opts *opts, char *err, size_t errlen)
{
	const char *t = g ? gguf_get_str(g, "tokenizer.chat_template") : NULL;
	enum tmpl_family f;
	if (override) {
		f = (enum tmpl_family)template_by_name(override);
		if (f == TMPL_UNKNOWN)
			snprintf(err, errlen, "unknown chat template \"%.60s\" (known: %s)", override,
				 template_names());
	} else if (!t || !*t) {
		f = TMPL_UNKNOWN;
		snprintf(err, errlen, "model has no tokenizer.chat_template; choose one with "
				      "--chat-template NAME (%s)", template_names());
	} else {
		f = template_detect(t);
		if (f == TMPL_UNKNOWN) {
			char ex[256];
			template_excerpt(t, ex, sizeof(ex));
			snprintf(err, errlen, "unrecognised chat template \"%s\"; choose one with "
					      "--chat-template NAME (%s)", ex, template_names());
		}
	}
	if (f != TMPL_UNKNOWN && opts && !opts->default_system && (f == TMPL_CHATML))
		opts->default_system = template_default_system(t);
	return f;
}
