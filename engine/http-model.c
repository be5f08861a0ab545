/* http-model.c - /tokenize, /detokenize and /api/show (http-model.h) in the
 * shapes llama-server's and ollama's clients read: {"tokens":[...]} (with
 * pieces, {"id","piece"} each, a piece that is not UTF-8 as its bytes),
 * {"content":"..."}, and ollama's details, model_info and capabilities. */
#include "http-model.h"

#include "gguf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int put(json_t *o, struct buf *out)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	buf_puts(out, s ? s : "{}");
	free(s);
	return 200;
}

static int refuse(struct buf *out, const char *why)
{
	buf_puts(out, why);
	return 400;
}

/* The body as an object; NULL with the reason in out. */
static json_t *object(const char *body, size_t len, struct buf *out)
{
	json_error_t je;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		buf_printf(out, "the body must be a JSON object%s%s", o ? "" : ": ", o ? "" : je.text);
		return NULL;
	}
	return o;
}

/* A flag of o: absent or null gives def; -1 when it is not a boolean. */
static int flag(json_t *o, const char *key, bool def)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return def;
	return json_is_boolean(v) ? json_is_true(v) : -1;
}

static json_t *piece_json(const struct tokenizer *t, int32_t id)
{
	size_t n;
	const char *p = token_piece(t, id, true, &n);
	if (utf8_valid(p, n))
		return json_stringn(p, n);
	json_t *bytes = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(bytes, json_integer((unsigned char)p[i]));
	return bytes;
}

int http_tokenize(const struct tokenizer *t, const char *body, size_t len, struct buf *out)
{
	json_t *o = object(body, len, out);
	if (!o)
		return 400;
	json_t *content = json_object_get(o, "content");
	int add = flag(o, "add_special", false), parse = flag(o, "parse_special", true);
	int pieces = flag(o, "with_pieces", false);
	if (!json_is_string(content) || add < 0 || parse < 0 || pieces < 0) {
		json_decref(o);
		return refuse(out, "expected {\"content\": string, \"add_special\", \"parse_special\", "
				   "\"with_pieces\": booleans}");
	}
	int32_t *ids;
	size_t n;
	if (tokenize(t, json_string_value(content), json_string_length(content), add, parse, &ids, &n) != 0) {
		json_decref(o);
		buf_puts(out, "the text could not be tokenized");
		return 500;
	}
	json_decref(o);
	json_t *tokens = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(tokens, pieces ? json_pack("{s:i, s:o}", "id", ids[i], "piece",
								 piece_json(t, ids[i]))
						     : json_integer(ids[i]));
	free(ids);
	return put(json_pack("{s:o}", "tokens", tokens), out);
}

int http_detokenize(const struct tokenizer *t, const char *body, size_t len, struct buf *out)
{
	json_t *o = object(body, len, out), *v;
	if (!o)
		return 400;
	json_t *tokens = json_object_get(o, "tokens");
	size_t n = json_array_size(tokens), i;
	if (!json_is_array(tokens) || n > (1u << 24)) {
		json_decref(o);
		return refuse(out, "expected {\"tokens\": [ids]}");
	}
	int32_t *ids = xcalloc(n ? n : 1, sizeof *ids);
	int64_t n_vocab = (int64_t)tokenizer_n_vocab(t);
	json_array_foreach(tokens, i, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= n_vocab) {
			free(ids);
			json_decref(o);
			buf_printf(out, "tokens[%zu] is not a token id (0 to %lld)", i, (long long)n_vocab - 1);
			return 400;
		}
		ids[i] = (int32_t)json_integer_value(v);
	}
	json_decref(o);
	size_t need = detokenize(t, ids, n, DETOK_UNPARSE_SPECIAL, NULL, 0);
	char *text = xmalloc(need + 1);
	detokenize(t, ids, n, DETOK_UNPARSE_SPECIAL, text, need + 1);
	free(ids);
	struct buf fixed = {0}; /* a sequence cut between ids is not UTF-8 */
	utf8_repair(&fixed, text, need);
	free(text);
	json_t *s = json_stringn(fixed.p ? fixed.p : "", fixed.len);
	buf_free(&fixed);
	return put(json_pack("{s:o}", "content", s ? s : json_string("")), out);
}

/* ollama's /api/show: what Open WebUI, continue and others read of a
 * model: its family, size class, context length and what it can do. */
int http_show(const struct model *m, const char *name, int n_ctx, const char *body, size_t len, struct buf *out)
{
	json_t *o = object(body, len, out);
	if (!o)
		return 400;
	json_t *want = json_object_get(o, "model");
	if (!want)
		want = json_object_get(o, "name");
	if (want && (!json_is_string(want) || strcmp(json_string_value(want), name))) {
		json_decref(o);
		buf_printf(out, "model not found; this server has \"%s\"", name);
		return 404;
	}
	json_decref(o);
	const char *arch = m->arch_name ? m->arch_name : "unknown";
	const char *tmpl = gguf_get_str(m->g, "tokenizer.chat_template");
	const char *gname = gguf_get_str(m->g, "general.name");
	char key[128];
	json_t *info = json_pack("{s:s}", "general.architecture", arch);
	if (gname && utf8_valid(gname, strlen(gname)))
		json_object_set_new(info, "general.name", json_string(gname));
	snprintf(key, sizeof key, "%s.context_length", arch);
	json_object_set_new(info, key, json_integer(m->hp.n_ctx_train));
	snprintf(key, sizeof key, "%s.embedding_length", arch);
	json_object_set_new(info, key, json_integer(m->hp.n_embd));
	snprintf(key, sizeof key, "%s.block_count", arch);
	json_object_set_new(info, key, json_integer(m->hp.n_layer));
	if (m->hp.n_expert) {
		snprintf(key, sizeof key, "%s.expert_count", arch);
		json_object_set_new(info, key, json_integer(m->hp.n_expert));
		snprintf(key, sizeof key, "%s.expert_used_count", arch);
		json_object_set_new(info, key, json_integer(m->hp.n_expert_used));
	}
	json_t *t = tmpl && utf8_valid(tmpl, strlen(tmpl)) ? json_string(tmpl) : json_string("");
	json_t *reply = json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s, s:[s], s:s, s:s}, s:o, s:[s], s:{s:i}}",
				  "license", "", "modelfile", "", "template", t, "details", "parent_model", "",
				  "format", "gguf", "family", arch, "families", arch, "parameter_size", "",
				  "quantization_level", "", "model_info", info, "capabilities", "completion",
				  "heft", "n_ctx", n_ctx);
	json_object_set_new(reply, "parameters", json_string(""));
	return put(reply, out);
}
