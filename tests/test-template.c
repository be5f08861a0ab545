/* test-template.c - chat template detection and rendering.
 *
 * Every expected string is written from the family's published template
 * (named next to it) for the same two conversations:
 *   A: system + user + assistant + user, with the generation prompt;
 *   B: user + assistant + user, with the generation prompt. */
#include "template.h"
#include "test.h"
#include "util.h"

#include <string.h>

static const struct chat_msg conv_a[] = {
	{"system", "You are terse."},
	{"user", "Hi"},
	{"assistant", "Hello!"},
	{"user", "Bye?"},
};
static const struct chat_msg *conv_b = conv_a + 1;

static void expect_render(int line, enum tmpl_family f, const struct chat_msg *m, size_t n, bool gen,
			  const struct tmpl_opts *o, const char *want)
{
	struct buf b = {0};
	char err[512] = "";
	int rc = template_render(f, m, n, gen, o, &b, err, sizeof(err));
	if (rc != 0 || !b.p || strcmp(b.p, want)) {
		fprintf(stderr, "line %d: %s: render mismatch (rc %d %s)\n  want: [%s]\n  got:  [%s]\n", line,
			template_name(f), rc, err, want, b.p ? b.p : "(null)");
		test_failures++;
	}
	buf_free(&b);
}
#define EXPECT(f, m, n, gen, o, want) expect_render(__LINE__, f, m, n, gen, o, want)

static void test_chatml_qwen(void)
{
	/* llama.cpp src/llama-chat.cpp chatml; Qwen/Qwen2.5-7B-Instruct
	 * tokenizer_config.json for messages that carry a system prompt */
	EXPECT(TMPL_CHATML, conv_a, 4, true, NULL,
	       "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
	       "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye?<|im_end|>\n"
	       "<|im_start|>assistant\n");
	/* Qwen/Qwen2.5-7B-Instruct: its default system prompt when none is given */
	struct tmpl_opts o = {.default_system = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."};
	EXPECT(TMPL_CHATML, conv_b, 3, true, &o,
	       "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
	       "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
	       "<|im_start|>user\nBye?<|im_end|>\n<|im_start|>assistant\n");
	EXPECT(TMPL_CHATML, conv_b, 3, false, NULL,
	       "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
	       "<|im_start|>user\nBye?<|im_end|>\n");

	/* Qwen/Qwen3-8B tokenizer_config.json chat_template */
	EXPECT(TMPL_QWEN3, conv_a, 4, true, NULL,
	       "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
	       "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye?<|im_end|>\n"
	       "<|im_start|>assistant\n");
	/* enable_thinking=false */
	struct tmpl_opts off = {.thinking = TMPL_THINK_OFF};
	EXPECT(TMPL_QWEN3, conv_b, 3, true, &off,
	       "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
	       "<|im_start|>user\nBye?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
	/* a past turn's reasoning is dropped (content.split('</think>')[-1].lstrip('\n')) */
	const struct chat_msg think[] = {
		{"user", "Hi"},
		{"assistant", "<think>\nLet me greet.\n</think>\n\nHello!"},
		{"user", "Bye?"},
	};
	EXPECT(TMPL_QWEN3, think, 3, true, NULL,
	       "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
	       "<|im_start|>user\nBye?<|im_end|>\n<|im_start|>assistant\n");
	/* ...but kept for the turn after the last user query */
	EXPECT(TMPL_QWEN3, think, 2, false, NULL,
	       "<|im_start|>user\nHi<|im_end|>\n"
	       "<|im_start|>assistant\n<think>\nLet me greet.\n</think>\n\nHello!<|im_end|>\n");
}

static void test_llama(void)
{
	/* meta-llama/Meta-Llama-3-8B-Instruct tokenizer_config.json */
	EXPECT(TMPL_LLAMA3, conv_a, 4, true, NULL,
	       "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
	       "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
	       "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
	       "<|start_header_id|>user<|end_header_id|>\n\nBye?<|eot_id|>"
	       "<|start_header_id|>assistant<|end_header_id|>\n\n");
	struct tmpl_opts bos = {.emit_bos = true};
	const struct chat_msg untrimmed[] = {{"user", "  Hi \n"}};
	EXPECT(TMPL_LLAMA3, untrimmed, 1, true, &bos,
	       "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
	       "<|start_header_id|>assistant<|end_header_id|>\n\n");
	/* meta-llama/Llama-3.1-8B-Instruct tokenizer_config.json (no tools,
	 * date_string default "26 Jul 2024") */
	EXPECT(TMPL_LLAMA31, conv_a, 4, true, NULL,
	       "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
	       "Today Date: 26 Jul 2024\n\nYou are terse.<|eot_id|>"
	       "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
	       "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
	       "<|start_header_id|>user<|end_header_id|>\n\nBye?<|eot_id|>"
	       "<|start_header_id|>assistant<|end_header_id|>\n\n");
	EXPECT(TMPL_LLAMA31, conv_b, 1, true, NULL,
	       "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
	       "Today Date: 26 Jul 2024\n\n<|eot_id|>"
	       "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
	       "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void test_mistral(void)
{
	/* mistralai/Mixtral-8x7B-Instruct-v0.1 tokenizer_config.json (BOS left to
	 * the tokenizer); llama.cpp "llama2" */
	EXPECT(TMPL_LLAMA2, conv_b, 3, true, NULL, "[INST] Hi [/INST]Hello!</s>[INST] Bye? [/INST]");
	/* llama.cpp "llama2-sys" (https://huggingface.co/blog/llama2#how-to-prompt-llama-2) */
	EXPECT(TMPL_LLAMA2_SYS, conv_a, 4, true, NULL,
	       "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST]Hello!</s>[INST] Bye? [/INST]");
	/* mistralai/cookbook concept-deep-dive/tokenization/templates.md, v1 */
	EXPECT(TMPL_MISTRAL_V1, conv_a, 4, true, NULL,
	       " [INST] You are terse.\n\nHi [/INST] Hello!</s> [INST] Bye? [/INST]");
	/* same document, v3 and v3-tekken */
	EXPECT(TMPL_MISTRAL_V3, conv_a, 4, true, NULL,
	       "[INST] You are terse.\n\nHi[/INST] Hello!</s>[INST] Bye?[/INST]");
	EXPECT(TMPL_MISTRAL_V3_TEKKEN, conv_b, 3, true, NULL, "[INST]Hi[/INST]Hello!</s>[INST]Bye?[/INST]");
	/* mistralai/Mistral-Large-Instruct-2411 model card, "basic instruct template (v7)" */
	EXPECT(TMPL_MISTRAL_V7, conv_a, 4, true, NULL,
	       "[SYSTEM_PROMPT] You are terse.[/SYSTEM_PROMPT][INST] Hi[/INST] Hello!</s>[INST] Bye?[/INST]");
	/* mistralai/Mistral-Small-3.1-24B-Instruct-2503 chat template (v7-tekken) */
	EXPECT(TMPL_MISTRAL_V7_TEKKEN, conv_a, 4, true, NULL,
	       "[SYSTEM_PROMPT]You are terse.[/SYSTEM_PROMPT][INST]Hi[/INST]Hello!</s>[INST]Bye?[/INST]");
	EXPECT(TMPL_MISTRAL_V7_TEKKEN, conv_b, 3, true, NULL, "[INST]Hi[/INST]Hello!</s>[INST]Bye?[/INST]");
}

#define BOS "<｜begin▁of▁sentence｜>"
#define EOS "<｜end▁of▁sentence｜>"

static void test_deepseek(void)
{
	/* deepseek-ai/DeepSeek-V3 tokenizer_config.json */
	EXPECT(TMPL_DEEPSEEK3, conv_a, 4, true, NULL,
	       "You are terse.<｜User｜>Hi<｜Assistant｜>Hello!" EOS "<｜User｜>Bye?<｜Assistant｜>");
	struct tmpl_opts bos = {.emit_bos = true};
	EXPECT(TMPL_DEEPSEEK3, conv_b, 3, true, &bos,
	       BOS "<｜User｜>Hi<｜Assistant｜>Hello!" EOS "<｜User｜>Bye?<｜Assistant｜>");
	/* llama.cpp models/templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja:
	 * content.split('</think>')[-1]; prompt "<｜Assistant｜><think>\n" */
	const struct chat_msg r1[] = {
		{"system", "You are terse."},
		{"user", "Hi"},
		{"assistant", "<think>\ngreet\n</think>\n\nHello!"},
		{"user", "Bye?"},
	};
	EXPECT(TMPL_DEEPSEEK_R1, r1, 4, true, NULL,
	       "You are terse.<｜User｜>Hi<｜Assistant｜>\n\nHello!" EOS "<｜User｜>Bye?<｜Assistant｜><think>\n");
	EXPECT(TMPL_DEEPSEEK_R1, conv_b, 3, true, NULL,
	       "<｜User｜>Hi<｜Assistant｜>Hello!" EOS "<｜User｜>Bye?<｜Assistant｜><think>\n");
	/* llama.cpp models/templates/deepseek-ai-DeepSeek-V3.1.jinja (thinking
	 * defaults to false) */
	EXPECT(TMPL_DEEPSEEK_V31, conv_a, 4, true, NULL,
	       "You are terse.<｜User｜>Hi<｜Assistant｜></think>Hello!" EOS "<｜User｜>Bye?<｜Assistant｜></think>");
	struct tmpl_opts on = {.thinking = TMPL_THINK_ON};
	EXPECT(TMPL_DEEPSEEK_V31, conv_b, 3, true, &on,
	       "<｜User｜>Hi<｜Assistant｜></think>Hello!" EOS "<｜User｜>Bye?<｜Assistant｜><think>");
}

static void test_glm_kimi_gptoss(void)
{
	/* zai-org/GLM-4.5 chat_template.jinja (llama.cpp models/templates/glm_4_5.jinja) */
	EXPECT(TMPL_GLM45, conv_a, 4, true, NULL,
	       "[gMASK]<sop><|system|>\nYou are terse.<|user|>\nHi<|assistant|>\n<think></think>\nHello!"
	       "<|user|>\nBye?<|assistant|>");
	struct tmpl_opts off = {.thinking = TMPL_THINK_OFF};
	const struct chat_msg glm[] = {
		{"user", "Hi"},
		{"assistant", "<think>greet</think>\nHello!"},
		{"user", "Bye?/nothink"},
	};
	EXPECT(TMPL_GLM45, glm, 3, true, &off,
	       "[gMASK]<sop><|user|>\nHi/nothink<|assistant|>\n<think></think>\nHello!"
	       "<|user|>\nBye?/nothink<|assistant|>\n<think></think>");

	/* moonshotai/Kimi-K2-Instruct chat_template (llama.cpp
	 * models/templates/moonshotai-Kimi-K2.jinja) */
	EXPECT(TMPL_KIMI_K2, conv_a, 4, true, NULL,
	       "<|im_system|>system<|im_middle|>You are terse.<|im_end|>"
	       "<|im_user|>user<|im_middle|>Hi<|im_end|>"
	       "<|im_assistant|>assistant<|im_middle|>Hello!<|im_end|>"
	       "<|im_user|>user<|im_middle|>Bye?<|im_end|>"
	       "<|im_assistant|>assistant<|im_middle|>");
	EXPECT(TMPL_KIMI_K2, conv_b, 3, true, NULL,
	       "<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|>"
	       "<|im_user|>user<|im_middle|>Hi<|im_end|>"
	       "<|im_assistant|>assistant<|im_middle|>Hello!<|im_end|>"
	       "<|im_user|>user<|im_middle|>Bye?<|im_end|>"
	       "<|im_assistant|>assistant<|im_middle|>");

	/* openai/gpt-oss-120b chat_template.jinja (no tools) */
#define OSS_SYS(effort)                                                                            \
	"<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"   \
	"Knowledge cutoff: 2024-06\nCurrent date: 2025-08-05\n\nReasoning: " effort "\n\n"          \
	"# Valid channels: analysis, commentary, final. Channel must be included for every "       \
	"message.<|end|>"
	struct tmpl_opts oss = {.date = "2025-08-05"};
	EXPECT(TMPL_GPT_OSS, conv_a, 4, true, &oss,
	       OSS_SYS("medium") "<|start|>developer<|message|># Instructions\n\nYou are terse.\n\n<|end|>"
				 "<|start|>user<|message|>Hi<|end|>"
				 "<|start|>assistant<|channel|>final<|message|>Hello!<|end|>"
				 "<|start|>user<|message|>Bye?<|end|><|start|>assistant");
	oss.reasoning_effort = "high";
	EXPECT(TMPL_GPT_OSS, conv_b, 3, true, &oss,
	       OSS_SYS("high") "<|start|>user<|message|>Hi<|end|>"
			       "<|start|>assistant<|channel|>final<|message|>Hello!<|end|>"
			       "<|start|>user<|message|>Bye?<|end|><|start|>assistant");
	/* the last assistant turn without a generation prompt ends in <|return|>;
	 * raw harmony output keeps only its final channel */
	const struct chat_msg raw[] = {
		{"user", "Hi"},
		{"assistant", "<|channel|>analysis<|message|>greet<|end|><|start|>assistant<|channel|>final<|message|>Hello!<|return|>"},
	};
	EXPECT(TMPL_GPT_OSS, raw, 2, false, &oss,
	       OSS_SYS("high") "<|start|>user<|message|>Hi<|end|>"
			       "<|start|>assistant<|channel|>final<|message|>Hello!<|return|>");
}

static void test_detect(void)
{
	static const struct {
		const char *snippet;
		enum tmpl_family want;
	} cases[] = {
		/* Qwen/Qwen2.5-7B-Instruct */
		{"{%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
		 "assistant.<|im_end|>\\n' }}\n{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + "
		 "message.content + '<|im_end|>' + '\\n' }}",
		 TMPL_CHATML},
		/* Qwen/Qwen3-8B */
		{"{%- if '</think>' in content %}{%- set reasoning_content = content.split('</think>')[0].rstrip('\\n')"
		 ".split('<think>')[-1].lstrip('\\n') %}{{- '<|im_start|>' + message.role + '\\n<think>\\n' }}",
		 TMPL_QWEN3},
		/* meta-llama/Meta-Llama-3-8B-Instruct */
		{"{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
		 "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
		 "'<|eot_id|>' %}",
		 TMPL_LLAMA3},
		/* meta-llama/Llama-3.1-8B-Instruct */
		{"{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}{{- \"Cutting Knowledge Date: December "
		 "2023\\n\" }}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}",
		 TMPL_LLAMA31},
		/* mistralai/Mixtral-8x7B-Instruct-v0.1 */
		{"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
		 "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + "
		 "eos_token}}",
		 TMPL_LLAMA2},
		/* mistralai/Mistral-7B-Instruct-v0.3 */
		{"{%- if tools is not none and (message == user_messages[-1]) %}{{- \"[AVAILABLE_TOOLS] [\" }}"
		 "{{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}",
		 TMPL_MISTRAL_V3},
		/* mistralai/Mistral-Small-3.1-24B-Instruct-2503 */
		{"{{- '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}{{- '[INST]' + message['content'] + "
		 "'[/INST]' }}",
		 TMPL_MISTRAL_V7_TEKKEN},
		/* mistralai/Mistral-Large-Instruct-2411 */
		{"{{- '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}{{- '[INST] ' + message['content'] "
		 "+ '[/INST]' }}",
		 TMPL_MISTRAL_V7},
		/* deepseek-ai/DeepSeek-V3 */
		{"{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}"
		 "{{'<｜User｜>' + message['content']}}{{'<｜Assistant｜>' + message['content'] + "
		 "'<｜end▁of▁sentence｜>'}}",
		 TMPL_DEEPSEEK3},
		/* llama.cpp models/templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja */
		{"{%- if '</think>' in content -%}{%- set content = content.split('</think>')[-1] -%}{%- endif -%}"
		 "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{{'<｜User｜>' + message['content']}}",
		 TMPL_DEEPSEEK_R1},
		/* llama.cpp models/templates/deepseek-ai-DeepSeek-V3.1.jinja */
		{"{{'<｜User｜>' + message['content']}}{%- if ns.is_last_user -%}{{'<｜Assistant｜></think>'}}"
		 "{{content + '<｜end▁of▁sentence｜>'}}",
		 TMPL_DEEPSEEK_V31},
		/* llama.cpp models/templates/glm_4_5.jinja */
		{"[gMASK]<sop>\n{%- if tools -%}\n<|system|>\n# Tools{%- if m.role == 'user' -%}<|user|>\n"
		 "{{ '\\n<think></think>' }}",
		 TMPL_GLM45},
		/* llama.cpp models/templates/moonshotai-Kimi-K2.jinja */
		{"{{ '<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|>' }}"
		 "{{ '<|im_assistant|>assistant<|im_middle|>' }}",
		 TMPL_KIMI_K2},
		/* openai/gpt-oss-120b */
		{"{{- \"<|start|>system<|message|>\" }}{{- \"<|start|>assistant<|channel|>final<|message|>\" + "
		 "message.content + \"<|end|>\" }}",
		 TMPL_GPT_OSS},
		/* google/gemma-2-9b-it: not a family we render */
		{"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}", TMPL_UNKNOWN},
		/* microsoft/phi-4 uses <|im_start|> but is not ChatML */
		{"{{'<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>'}}", TMPL_UNKNOWN},
		/* THUDM/glm-4-9b-chat: no <think>, another turn format */
		{"[gMASK]<sop>{% for item in messages %}<|{{ item['role'] }}|>\n{{ item['content'] }}", TMPL_UNKNOWN},
		{"", TMPL_UNKNOWN},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		enum tmpl_family got = template_detect(cases[i].snippet);
		CHECKF(got == cases[i].want, "case %zu: detected %s, want %s", i, template_name(got),
		       template_name(cases[i].want));
	}
	CHECK(template_detect(NULL) == TMPL_UNKNOWN);

	CHECK(!strcmp(template_default_system(cases[0].snippet),
		      "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."));
	CHECK(template_default_system(cases[1].snippet) == NULL);
	CHECK(template_default_system(NULL) == NULL);
}

static void test_names_and_stops(void)
{
	for (int f = 1; f < TMPL_FAMILY_COUNT; f++) {
		CHECKF(template_by_name(template_name(f)) == f, "name %s", template_name(f));
		CHECKF(template_stops(f)[0] != NULL, "stops of %s", template_name(f));
		CHECKF(strstr(template_names(), template_name(f)) != NULL, "%s listed", template_name(f));
	}
	CHECK(template_by_name("mistral-v7") == TMPL_MISTRAL_V7);
	CHECK(template_by_name("deepseek-r1") == TMPL_DEEPSEEK_R1);
	CHECK(template_by_name("glm4") == TMPL_GLM45);
	CHECK(template_by_name("nonsense") == TMPL_UNKNOWN);
	CHECK(template_by_name("") == TMPL_UNKNOWN);
	CHECK(template_by_name(NULL) == TMPL_UNKNOWN);
	CHECK(!strcmp(template_stops(TMPL_QWEN3)[0], "<|im_end|>"));
	CHECK(!strcmp(template_stops(TMPL_LLAMA3)[0], "<|eot_id|>"));
	CHECK(!strcmp(template_stops(TMPL_GPT_OSS)[0], "<|return|>"));
	CHECK(template_stops(TMPL_UNKNOWN)[0] == NULL);
	CHECK(template_stops((enum tmpl_family)999)[0] == NULL);
	CHECK(!strcmp(template_name((enum tmpl_family)-3), "?"));
	CHECK(!strcmp(template_bos(TMPL_LLAMA3), "<|begin_of_text|>"));
	CHECK(template_bos(TMPL_QWEN3) == NULL);
}

static void test_errors(void)
{
	struct buf b = {0};
	char err[512] = "";
	CHECK(template_render(TMPL_UNKNOWN, conv_a, 4, true, NULL, &b, err, sizeof(err)) == -1);
	CHECK(strstr(err, "--chat-template") != NULL);
	const struct chat_msg tool[] = {{"tool", "42"}};
	CHECK(template_render(TMPL_CHATML, tool, 1, true, NULL, &b, err, sizeof(err)) == -1);
	CHECK(strstr(err, "tool") != NULL);
	const struct chat_msg nulls[] = {{"user", NULL}};
	CHECK(template_render(TMPL_QWEN3, nulls, 1, true, NULL, &b, err, sizeof(err)) == -1);
	const struct chat_msg nullrole[] = {{NULL, "x"}};
	CHECK(template_render(TMPL_QWEN3, nullrole, 1, true, NULL, &b, err, sizeof(err)) == -1);
	CHECK(template_render(TMPL_QWEN3, NULL, 2, true, NULL, &b, err, sizeof(err)) == -1);
	/* no messages: just the generation prompt; empty content is fine */
	CHECK(template_render(TMPL_QWEN3, NULL, 0, true, NULL, &b, err, sizeof(err)) == 0);
	CHECK(!strcmp(b.p, "<|im_start|>assistant\n"));
	buf_clear(&b);
	CHECK(template_render(TMPL_MISTRAL_V7, NULL, 0, false, NULL, &b, err, sizeof(err)) == 0);
	CHECK(b.p && b.len == 0 && b.p[0] == '\0');
	buf_free(&b);
	EXPECT(TMPL_CHATML, ((const struct chat_msg[]){{"user", ""}}), 1, true, NULL,
	       "<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n");
	/* every family survives every small input */
	for (int f = 1; f < TMPL_FAMILY_COUNT; f++) {
		for (size_t n = 0; n <= 4; n++) {
			struct buf o = {0};
			struct tmpl_opts opt = {.thinking = TMPL_THINK_OFF, .emit_bos = true};
			CHECK(template_render(f, conv_a + 4 - n, n, n % 2, &opt, &o, err, sizeof(err)) == 0);
			buf_free(&o);
		}
	}
	/* template_from_gguf without a model or with an unknown override */
	err[0] = '\0';
	CHECK(template_from_gguf(NULL, NULL, NULL, err, sizeof(err)) == TMPL_UNKNOWN);
	CHECK(strstr(err, "--chat-template") != NULL);
	CHECK(template_from_gguf(NULL, "nope", NULL, err, sizeof(err)) == TMPL_UNKNOWN);
	CHECK(strstr(err, "nope") != NULL);
	CHECK(template_from_gguf(NULL, "qwen3", NULL, err, sizeof(err)) == TMPL_QWEN3);
}

int main(void)
{
	test_chatml_qwen();
	test_llama();
	test_mistral();
	test_deepseek();
	test_glm_kimi_gptoss();
	test_detect();
	test_names_and_stops();
	test_errors();
	return test_done("test-template");
}
