/* protocol.c - encode and decode heft's JSON Lines messages with jansson.
 *
 * Every message type is one row of msg_types[]: its wire name, the
 * direction it travels, and a decoder and encoder for its fields. Decoders
 * validate everything (types, ranges, UTF-8) so the engine and the front
 * end can trust a decoded struct; unknown extra fields are ignored so a
 * newer peer can add fields without breaking an older one. */
#include "protocol.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INT32_LIM ((int64_t)INT32_MAX)

/* ---- names ------------------------------------------------------------------ */

static const char *const errcode_names[MSG_E_COUNT] = {
	[MSG_E_PARSE] = "parse",
	[MSG_E_TOO_LONG] = "too_long",
	[MSG_E_BAD_MESSAGE] = "bad_message",
	[MSG_E_UNKNOWN_TYPE] = "unknown_type",
	[MSG_E_VERSION] = "version",
	[MSG_E_NO_MODEL] = "no_model",
	[MSG_E_LOAD] = "load",
	[MSG_E_BUSY] = "busy",
	[MSG_E_NOT_FOUND] = "not_found",
	[MSG_E_IO] = "io",
	[MSG_E_UNSUPPORTED] = "unsupported",
	[MSG_E_INTERNAL] = "internal",
};

static const char *const reason_names[DONE_REASON_COUNT] = {
	[DONE_EOS] = "eos",
	[DONE_LENGTH] = "length",
	[DONE_STOP] = "stop",
	[DONE_CANCEL] = "cancel",
	[DONE_ERROR] = "error",
	[DONE_CTX_FULL] = "ctx_full",
};

const char *const msg_load_io_names[LOAD_IO_COUNT] = {
	[LOAD_IO_AUTO] = "auto",
	[LOAD_IO_RAM] = "ram",
	[LOAD_IO_STREAM] = "stream",
	[LOAD_IO_MMAP] = "mmap",
};

/* The engine's policies, by the names its --cache-policy takes. */
const char *const msg_load_policy_names[LOAD_POLICY_COUNT] = {
#define POLICY_NAME(id, name) [LOAD_POLICY_##id] = name,
	CACHE_POLICIES(POLICY_NAME)
#undef POLICY_NAME
};

const char *msg_errcode_name(enum msg_errcode c)
{
	return (unsigned)c < MSG_E_COUNT ? errcode_names[c] : "?";
}

const char *msg_reason_name(enum msg_reason r)
{
	return (unsigned)r < DONE_REASON_COUNT ? reason_names[r] : "?";
}

/* Index of s in names[n], or -1. */
static int name_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (names[i] && strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* ---- errors ------------------------------------------------------------------- */

/* Error text quotes hostile input and may be cut mid-character by
 * snprintf; it goes to screens and logs, so keep it printable UTF-8 (no C0
 * or C1 control: U+009B is CSI on many terminals). */
static void tidy_text(char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t l = utf8_seq_len((const unsigned char *)s + i, n - i);
		if (!l || c < 0x20 || c == 0x7f || (l == 2 && c == 0xc2 && (unsigned char)s[i + 1] < 0xa0)) {
			s[i++] = '?'; /* a C1's second byte is then invalid alone: '?' too */
			continue;
		}
		i += l;
	}
}

void msg_err_set(struct msg_err *err, enum msg_errcode code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->text, sizeof err->text, fmt, ap);
	va_end(ap);
	tidy_text(err->text);
	err->code = code;
	err->has_id = false;
	err->id = 0;
}

void msg_error_event(struct msg *m, const struct msg_err *err)
{
	msg_error_event_text(m, err->code, err->text);
	m->error.has_id = err->has_id;
	m->error.id = err->id;
}

void msg_error_event_text(struct msg *m, enum msg_errcode code, const char *text)
{
	memset(m, 0, sizeof *m);
	m->type = MSG_ERROR;
	m->error.code = code;
	m->error.message = xstrdup(text);
	tidy_text(m->error.message);
}

bool msg_hello_check(const struct msg_hello *h, struct msg_err *err)
{
	if (h->protocol == PROTO_VERSION)
		return true;
	msg_err_set(err, MSG_E_VERSION,
		    "%s speaks protocol %lld, this side speaks %d",
		    h->program ? h->program : "peer", (long long)h->protocol, PROTO_VERSION);
	return false;
}

/* ---- decoding helpers ---------------------------------------------------------- */

/* What is being decoded: the object, a label for messages ("chat",
 * "chat.options") and where a failure goes. */
struct dec {
	json_t *obj;
	const char *what;
	struct msg_err *err;
};

static const char *json_kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

static bool bad(struct dec *d, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record "<what>: field "<key>": <reason>" and return false. */
static bool bad(struct dec *d, const char *key, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	d->err->code = MSG_E_BAD_MESSAGE;
	snprintf(d->err->text, sizeof d->err->text, "%s: field \"%s\": %s", d->what, key, why);
	return false;
}

/* Look key up. Absent and null both count as "not given" (null lets a
 * script spell an optional field without a value); that is an error only
 * for a required field. *out is NULL when not given. */
static bool field(struct dec *d, const char *key, bool required, json_t **out)
{
	json_t *j = json_object_get(d->obj, key);

	if (!j || json_is_null(j)) {
		*out = NULL;
		return required ? bad(d, key, "missing") : true;
	}
	*out = j;
	return true;
}

static bool int_value(struct dec *d, const char *key, json_t *j, int64_t lo, int64_t hi,
		      int64_t *out)
{
	if (!json_is_integer(j))
		return bad(d, key, "expected an integer, got %s", json_kind(j));
	json_int_t v = json_integer_value(j);
	if (v < lo || v > hi)
		return bad(d, key, "%lld is out of range [%lld, %lld]", (long long)v,
			   (long long)lo, (long long)hi);
	*out = v;
	return true;
}

static bool real_value(struct dec *d, const char *key, json_t *j, double lo, double hi,
		       double *out)
{
	if (!json_is_number(j))
		return bad(d, key, "expected a number, got %s", json_kind(j));
	double v = json_number_value(j);
	if (!(v >= lo && v <= hi))
		return bad(d, key, "%g is out of range [%g, %g]", v, lo, hi);
	*out = v;
	return true;
}

/* An integer field; *present (if given) says whether it was there. */
static bool get_int(struct dec *d, const char *key, bool required, int64_t lo, int64_t hi,
		    int64_t *out, bool *present)
{
	json_t *j;

	if (!field(d, key, required, &j))
		return false;
	if (present)
		*present = j != NULL;
	return !j || int_value(d, key, j, lo, hi, out);
}

static bool get_real(struct dec *d, const char *key, bool required, double lo, double hi,
		     double *out, bool *present)
{
	json_t *j;

	if (!field(d, key, required, &j))
		return false;
	if (present)
		*present = j != NULL;
	return !j || real_value(d, key, j, lo, hi, out);
}

static bool str_value(struct dec *d, const char *key, json_t *j, bool nonempty, char **out)
{
	if (!json_is_string(j))
		return bad(d, key, "expected a string, got %s", json_kind(j));
	const char *s = json_string_value(j);
	if (nonempty && !*s)
		return bad(d, key, "must not be empty");
	*out = xstrdup(s);
	return true;
}

/* A string field, copied into *out (left NULL when absent). */
static bool get_str(struct dec *d, const char *key, bool required, bool nonempty, char **out)
{
	json_t *j;

	if (!field(d, key, required, &j))
		return false;
	return !j || str_value(d, key, j, nonempty, out);
}

static bool get_id(struct dec *d, int64_t *id)
{
	return get_int(d, "id", true, 0, MSG_ID_MAX, id, NULL);
}

/* A nested object field: *sub describes it, labelled "<what>.<key>". */
static bool get_object(struct dec *d, const char *key, bool required, struct dec *sub,
		       char *label, size_t labellen)
{
	json_t *j;

	sub->obj = NULL;
	if (!field(d, key, required, &j))
		return false;
	if (!j)
		return true;
	if (!json_is_object(j))
		return bad(d, key, "expected an object, got %s", json_kind(j));
	snprintf(label, labellen, "%s.%s", d->what, key);
	*sub = (struct dec){ .obj = j, .what = label, .err = d->err };
	return true;
}

/* ---- encoding helpers ---------------------------------------------------------- */

/* jansson only fails on allocation failure; treat it like xmalloc does. */
static void put(json_t *o, const char *key, json_t *v)
{
	if (!v || json_object_set_new(o, key, v) != 0)
		die("protocol: out of memory while encoding");
}

static void push(json_t *a, json_t *v)
{
	if (!v || json_array_append_new(a, v) != 0)
		die("protocol: out of memory while encoding");
}

/* A token piece the engine split badly must still reach the screen as
 * something: hence the repair rather than a refusal. */
json_t *msg_json_str(const char *s)
{
	if (!s)
		s = "";
	size_t n = strlen(s);
	if (utf8_valid(s, n))
		return json_stringn_nocheck(s, n);

	struct buf b = { 0 };
	utf8_repair(&b, s, n);
	json_t *j = json_stringn_nocheck(b.p, b.len);
	buf_free(&b);
	return j;
}

static json_t *jint(int64_t v)
{
	return json_integer((json_int_t)v);
}

/* JSON cannot spell NaN or infinity; a typed field gets 0 rather than a
 * line the peer would reject. */
static json_t *jreal(double v)
{
	return json_real(isfinite(v) ? v : 0.0);
}

/* For free-form numbers: null means "not available"; whole numbers go out
 * as integers so counters read naturally ("hits":1234). */
static json_t *jnum(double v)
{
	if (!isfinite(v))
		return json_null();
	if (fabs(v) <= (double)MSG_ID_MAX && v == (double)(int64_t)v)
		return jint((int64_t)v);
	return json_real(v);
}

/* ---- sampler options ------------------------------------------------------------- */

enum opt_kind { OPTK_REAL, OPTK_INT, OPTK_STRINGS };

static const struct opt_desc {
	const char *name;
	enum opt_kind kind;
	double lo, hi;
	size_t off;
} opt_table[OPT_COUNT] = {
	[OPT_TEMP] = { "temp", OPTK_REAL, 0, 100, offsetof(struct msg_options, temp) },
	[OPT_TOP_K] = { "top_k", OPTK_INT, 0, INT32_MAX, offsetof(struct msg_options, top_k) },
	[OPT_TOP_P] = { "top_p", OPTK_REAL, 0, 1, offsetof(struct msg_options, top_p) },
	[OPT_MIN_P] = { "min_p", OPTK_REAL, 0, 1, offsetof(struct msg_options, min_p) },
	[OPT_REPEAT_PENALTY] = { "repeat_penalty", OPTK_REAL, 0, 100,
				 offsetof(struct msg_options, repeat_penalty) },
	[OPT_REPEAT_LAST_N] = { "repeat_last_n", OPTK_INT, 0, INT32_MAX,
				offsetof(struct msg_options, repeat_last_n) },
	[OPT_SEED] = { "seed", OPTK_INT, 0, (double)MSG_ID_MAX, offsetof(struct msg_options, seed) },
	[OPT_N_PREDICT] = { "n_predict", OPTK_INT, -1, INT32_MAX,
			    offsetof(struct msg_options, n_predict) },
	[OPT_STOP] = { "stop", OPTK_STRINGS, 0, 0, 0 },
	[OPT_PRESENCE_PENALTY] = { "presence_penalty", OPTK_REAL, -2, 2,
				   offsetof(struct msg_options, presence_penalty) },
	[OPT_FREQUENCY_PENALTY] = { "frequency_penalty", OPTK_REAL, -2, 2,
				    offsetof(struct msg_options, frequency_penalty) },
};

const char *msg_option_name(enum msg_opt o)
{
	return (unsigned)o < OPT_COUNT ? opt_table[o].name : NULL;
}

bool msg_option_range(enum msg_opt o, bool *is_int, double *lo, double *hi)
{
	if ((unsigned)o >= OPT_COUNT || opt_table[o].kind == OPTK_STRINGS)
		return false;
	*is_int = opt_table[o].kind == OPTK_INT;
	*lo = opt_table[o].lo;
	*hi = opt_table[o].hi;
	return true;
}

bool msg_option_lookup(const char *name, enum msg_opt *o)
{
	for (int i = 0; i < OPT_COUNT; i++) {
		if (strcmp(opt_table[i].name, name) == 0) {
			*o = (enum msg_opt)i;
			return true;
		}
	}
	return false;
}

static double *opt_real(struct msg_options *opts, const struct opt_desc *od)
{
	return (double *)((char *)opts + od->off);
}

static int64_t *opt_int(struct msg_options *opts, const struct opt_desc *od)
{
	return (int64_t *)((char *)opts + od->off);
}

static double opt_real_get(const struct msg_options *opts, const struct opt_desc *od)
{
	return *(const double *)((const char *)opts + od->off);
}

static int64_t opt_int_get(const struct msg_options *opts, const struct opt_desc *od)
{
	return *(const int64_t *)((const char *)opts + od->off);
}

void msg_options_free(struct msg_options *opts)
{
	for (size_t i = 0; i < opts->n_stop; i++)
		free(opts->stop[i]);
	free(opts->stop);
	opts->stop = NULL;
	opts->n_stop = 0;
	opts->present &= ~MSG_OPT_BIT(OPT_STOP);
}

/* "stop" is one string or an array of them. */
static bool decode_stop(struct dec *d, json_t *j, struct msg_options *opts)
{
	size_t n = json_is_array(j) ? json_array_size(j) : 1;

	if (!json_is_array(j) && !json_is_string(j))
		return bad(d, "stop", "expected a string or an array of strings, got %s",
			   json_kind(j));
	if (n > MSG_STOP_MAX)
		return bad(d, "stop", "%zu stop strings, at most %d allowed", n, MSG_STOP_MAX);
	msg_options_free(opts);
	opts->stop = xcalloc(n ? n : 1, sizeof *opts->stop);
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_is_array(j) ? json_array_get(j, i) : j;
		if (!str_value(d, "stop", s, true, &opts->stop[i]))
			return false;
		opts->n_stop++;
	}
	opts->present |= MSG_OPT_BIT(OPT_STOP);
	return true;
}

static bool decode_options(struct dec *d, struct msg_options *opts)
{
	for (int i = 0; i < OPT_COUNT; i++) {
		const struct opt_desc *od = &opt_table[i];
		json_t *j;
		if (!field(d, od->name, false, &j))
			return false;
		if (!j)
			continue;
		bool ok = true;
		switch (od->kind) {
		case OPTK_REAL:
			ok = real_value(d, od->name, j, od->lo, od->hi, opt_real(opts, od));
			break;
		case OPTK_INT:
			ok = int_value(d, od->name, j, (int64_t)od->lo, (int64_t)od->hi,
				       opt_int(opts, od));
			break;
		case OPTK_STRINGS:
			ok = decode_stop(d, j, opts);
			break;
		}
		if (!ok)
			return false;
		opts->present |= MSG_OPT_BIT(i);
	}
	return true;
}

/* The optional "options" object of chat, complete and set. */
static bool decode_options_field(struct dec *d, bool required, struct msg_options *opts)
{
	struct dec sub;
	char label[48];

	if (!get_object(d, "options", required, &sub, label, sizeof label))
		return false;
	return !sub.obj || decode_options(&sub, opts);
}

static void encode_options(json_t *o, const struct msg_options *opts)
{
	if (!opts->present)
		return;
	json_t *jo = json_object();
	for (int i = 0; i < OPT_COUNT; i++) {
		const struct opt_desc *od = &opt_table[i];
		if (!(opts->present & MSG_OPT_BIT(i)))
			continue;
		if (od->kind == OPTK_REAL) {
			put(jo, od->name, jreal(opt_real_get(opts, od)));
		} else if (od->kind == OPTK_INT) {
			put(jo, od->name, jint(opt_int_get(opts, od)));
		} else {
			json_t *a = json_array();
			for (size_t k = 0; k < opts->n_stop; k++)
				push(a, msg_json_str(opts->stop[k]));
			put(jo, od->name, a);
		}
	}
	put(o, "options", jo);
}

bool msg_options_set(struct msg_options *opts, const char *name, const char *value,
		     char *err, size_t errlen)
{
	enum msg_opt o;

	if (!msg_option_lookup(name, &o)) {
		snprintf(err, errlen, "unknown option \"%s\"", name);
		return false;
	}
	const struct opt_desc *od = &opt_table[o];
	if (od->kind == OPTK_REAL) {
		double v;
		if (!parse_f64(value, &v) || !(v >= od->lo && v <= od->hi)) {
			snprintf(err, errlen, "%s: expected a number in [%g, %g]", name, od->lo,
				 od->hi);
			return false;
		}
		*opt_real(opts, od) = v;
	} else if (od->kind == OPTK_INT) {
		int64_t v;
		if (!parse_i64(value, (int64_t)od->lo, (int64_t)od->hi, &v)) {
			snprintf(err, errlen, "%s: expected an integer in [%lld, %lld]", name,
				 (long long)od->lo, (long long)od->hi);
			return false;
		}
		*opt_int(opts, od) = v;
	} else {
		if (!*value || opts->n_stop >= MSG_STOP_MAX) {
			snprintf(err, errlen, "stop: need a non-empty string, at most %d",
				 MSG_STOP_MAX);
			return false;
		}
		opts->stop = xreallocarray(opts->stop, opts->n_stop + 1, sizeof *opts->stop);
		opts->stop[opts->n_stop++] = xstrdup(value);
	}
	opts->present |= MSG_OPT_BIT(o);
	return true;
}

/* ---- named numbers --------------------------------------------------------------- */

const struct msg_stat *msg_numbers_get(const struct msg_numbers *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].key, key) == 0)
			return &s->v[i];
	return NULL;
}

double msg_numbers_scalar(const struct msg_numbers *s, const char *key, double dflt)
{
	const struct msg_stat *st = msg_numbers_get(s, key);

	if (!st || st->is_array || st->n != 1 || isnan(st->v[0]))
		return dflt;
	return st->v[0];
}

static struct msg_stat *numbers_push(struct msg_numbers *s, const char *key, size_t n,
				     bool is_array)
{
	s->v = xreallocarray(s->v, s->n + 1, sizeof *s->v);
	struct msg_stat *st = &s->v[s->n++];
	st->key = xstrdup(key);
	st->v = xcalloc(n ? n : 1, sizeof *st->v);
	st->n = n;
	st->is_array = is_array;
	return st;
}

void msg_numbers_add(struct msg_numbers *s, const char *key, double v)
{
	numbers_push(s, key, 1, false)->v[0] = v;
}

void msg_numbers_add_array(struct msg_numbers *s, const char *key, const double *v, size_t n)
{
	struct msg_stat *st = numbers_push(s, key, n, true);

	if (n)
		memcpy(st->v, v, n * sizeof *v);
}

void msg_numbers_append(struct msg_numbers *dst, const struct msg_numbers *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (src->v[i].is_array)
			msg_numbers_add_array(dst, src->v[i].key, src->v[i].v, src->v[i].n);
		else
			msg_numbers_add(dst, src->v[i].key, src->v[i].v[0]);
}

void msg_numbers_free(struct msg_numbers *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].key);
		free(s->v[i].v);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static bool is_num_or_null(const json_t *j)
{
	return json_is_number(j) || json_is_null(j);
}

static double num_or_nan(const json_t *j)
{
	return json_is_number(j) ? json_number_value(j) : NAN;
}

/* True when j is an array holding only numbers and nulls. */
static bool numeric_array(json_t *j)
{
	size_t i;
	json_t *e;

	json_array_foreach(j, i, e)
		if (!is_num_or_null(e))
			return false;
	return true;
}

/* Free-form: numbers, nulls and numeric arrays are kept; anything else is
 * skipped, so an engine may add richer entries later without breaking us. */
static bool decode_numbers(struct dec *d, const char *key, bool required, struct msg_numbers *s)
{
	struct dec sub;
	char label[48];
	const char *k;
	json_t *v;

	if (!get_object(d, key, required, &sub, label, sizeof label))
		return false;
	if (!sub.obj)
		return true;
	json_object_foreach(sub.obj, k, v) {
		if (is_num_or_null(v)) {
			msg_numbers_add(s, k, num_or_nan(v));
		} else if (json_is_array(v) && numeric_array(v)) {
			size_t n = json_array_size(v);
			struct msg_stat *st = numbers_push(s, k, n, true);
			for (size_t i = 0; i < n; i++)
				st->v[i] = num_or_nan(json_array_get(v, i));
		}
	}
	return true;
}

static void encode_numbers(json_t *o, const char *key, const struct msg_numbers *s)
{
	json_t *jo = json_object();

	for (size_t i = 0; i < s->n; i++) {
		const struct msg_stat *st = &s->v[i];
		if (!st->is_array && st->n == 1) {
			put(jo, st->key, jnum(st->v[0]));
			continue;
		}
		json_t *a = json_array();
		for (size_t k = 0; k < st->n; k++)
			push(a, jnum(st->v[k]));
		put(jo, st->key, a);
	}
	put(o, key, jo);
}

/* ---- per-type codecs --------------------------------------------------------------- */

static bool dec_hello(struct dec *d, struct msg *m)
{
	struct msg_hello *h = &m->hello;

	return get_int(d, "protocol", true, 0, INT32_LIM, &h->protocol, NULL) &&
	       get_str(d, "program", false, false, &h->program) &&
	       get_str(d, "version", false, false, &h->version);
}

static void enc_hello(json_t *o, const struct msg *m)
{
	put(o, "protocol", jint(m->hello.protocol));
	if (m->hello.program)
		put(o, "program", msg_json_str(m->hello.program));
	if (m->hello.version)
		put(o, "version", msg_json_str(m->hello.version));
}

/* "mem" is bytes, or a size string ("8G") for people typing requests. */
static bool dec_mem(struct dec *d, uint64_t *mem)
{
	json_t *j;

	if (!field(d, "mem", false, &j))
		return false;
	if (!j)
		return true;
	if (json_is_string(j)) {
		if (!parse_size(json_string_value(j), mem) || *mem > (uint64_t)INT64_MAX)
			return bad(d, "mem", "not a size (bytes, or like \"8G\")");
		return true;
	}
	int64_t v;
	if (!int_value(d, "mem", j, 0, INT64_MAX, &v))
		return false;
	*mem = (uint64_t)v;
	return true;
}

/* An optional string field naming one of names[1..n) (names[0], the
 * "not given" value, is NULL); *out stays 0 when absent. */
static bool get_choice(struct dec *d, const char *key, const char *const *names, int n, int *out)
{
	json_t *j;
	char list[96] = "";

	if (!field(d, key, false, &j))
		return false;
	if (!j)
		return true;
	if (json_is_string(j)) {
		int i = name_index(names, n, json_string_value(j));
		if (i > 0) {
			*out = i;
			return true;
		}
	}
	for (int i = 1; i < n; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"",
			 i > 1 ? ", " : "", names[i]);
	return bad(d, key, "expected one of %s", list);
}

static bool get_bool(struct dec *d, const char *key, bool *out)
{
	json_t *j;

	if (!field(d, key, false, &j))
		return false;
	if (j && !json_is_boolean(j))
		return bad(d, key, "expected a boolean, got %s", json_kind(j));
	*out = j && json_is_true(j);
	return true;
}

static bool dec_load(struct dec *d, struct msg *m)
{
	struct msg_load *l = &m->load;
	int io = 0, pol = 0;
	bool ok = get_str(d, "model", true, true, &l->model) && dec_mem(d, &l->mem) &&
		  get_int(d, "ctx", false, 0, INT32_LIM, &l->ctx, NULL) &&
		  get_int(d, "threads", false, 0, 4096, &l->threads, NULL) &&
		  get_choice(d, "io", msg_load_io_names, LOAD_IO_COUNT, &io) &&
		  get_choice(d, "cache_policy", msg_load_policy_names, LOAD_POLICY_COUNT, &pol) &&
		  get_bool(d, "no_prefetch", &l->no_prefetch) &&
		  get_str(d, "chat_template", false, true, &l->chat_template);

	l->io = (enum msg_load_io)io;
	l->cache_policy = (enum msg_load_policy)pol;
	return ok;
}

static void enc_load(json_t *o, const struct msg *m)
{
	const struct msg_load *l = &m->load;

	put(o, "model", msg_json_str(l->model));
	if (l->mem)
		put(o, "mem", jint((int64_t)MIN(l->mem, (uint64_t)INT64_MAX)));
	if (l->ctx)
		put(o, "ctx", jint(l->ctx));
	if (l->threads)
		put(o, "threads", jint(l->threads));
	if (l->io > LOAD_IO_DEFAULT && l->io < LOAD_IO_COUNT)
		put(o, "io", msg_json_str(msg_load_io_names[l->io]));
	if (l->cache_policy > LOAD_POLICY_DEFAULT && l->cache_policy < LOAD_POLICY_COUNT)
		put(o, "cache_policy", msg_json_str(msg_load_policy_names[l->cache_policy]));
	if (l->no_prefetch)
		put(o, "no_prefetch", json_true());
	if (l->chat_template)
		put(o, "chat_template", msg_json_str(l->chat_template));
}

static bool dec_turns(struct dec *d, json_t *a, struct msg_chat *c)
{
	size_t n = json_array_size(a);

	if (!json_is_array(a))
		return bad(d, "messages", "expected an array, got %s", json_kind(a));
	if (n == 0)
		return bad(d, "messages", "must not be empty");
	c->messages = xcalloc(n, sizeof *c->messages);
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(a, i);
		char label[48];
		if (!json_is_object(t))
			return bad(d, "messages", "element %zu: expected an object, got %s", i,
				   json_kind(t));
		snprintf(label, sizeof label, "%s.messages[%zu]", d->what, i);
		struct dec sub = { .obj = t, .what = label, .err = d->err };
		c->n_messages = i + 1;	/* so msg_free sees a partial element */
		if (!get_str(&sub, "role", true, true, &c->messages[i].role) ||
		    !get_str(&sub, "content", true, false, &c->messages[i].content))
			return false;
	}
	return true;
}

static bool dec_chat(struct dec *d, struct msg *m)
{
	struct msg_chat *c = &m->chat;
	json_t *msgs;

	if (!get_id(d, &c->id) || !field(d, "messages", false, &msgs) ||
	    !get_str(d, "text", false, false, &c->text))
		return false;
	if (msgs && c->text)
		return bad(d, "text", "give either \"messages\" or \"text\", not both");
	if (!msgs && !c->text)
		return bad(d, "messages", "missing (or give \"text\")");
	if (msgs && !dec_turns(d, msgs, c))
		return false;
	return decode_options_field(d, false, &c->options);
}

static void enc_chat(json_t *o, const struct msg *m)
{
	const struct msg_chat *c = &m->chat;

	put(o, "id", jint(c->id));
	if (c->n_messages) {
		json_t *a = json_array();
		for (size_t i = 0; i < c->n_messages; i++) {
			json_t *t = json_object();
			put(t, "role", msg_json_str(c->messages[i].role));
			put(t, "content", msg_json_str(c->messages[i].content));
			push(a, t);
		}
		put(o, "messages", a);
	} else {
		put(o, "text", msg_json_str(c->text));
	}
	encode_options(o, &c->options);
}

static bool dec_complete(struct dec *d, struct msg *m)
{
	struct msg_complete *c = &m->complete;
	struct msg_options *op = &c->options;
	int64_t n_predict;
	bool has_n;

	if (!get_id(d, &c->id) || !get_str(d, "prompt", true, false, &c->prompt) ||
	    !get_int(d, "n_predict", false, -1, INT32_LIM, &n_predict, &has_n) ||
	    !decode_options_field(d, false, op))
		return false;
	/* The top-level shorthand yields to an explicit options.n_predict. */
	if (has_n && !(op->present & MSG_OPT_BIT(OPT_N_PREDICT))) {
		op->n_predict = n_predict;
		op->present |= MSG_OPT_BIT(OPT_N_PREDICT);
	}
	return true;
}

static void enc_complete(json_t *o, const struct msg *m)
{
	put(o, "id", jint(m->complete.id));
	put(o, "prompt", msg_json_str(m->complete.prompt));
	encode_options(o, &m->complete.options);
}

static bool dec_cancel(struct dec *d, struct msg *m)
{
	return get_int(d, "id", false, 0, MSG_ID_MAX, &m->cancel.id, &m->cancel.has_id);
}

static void enc_cancel(json_t *o, const struct msg *m)
{
	if (m->cancel.has_id)
		put(o, "id", jint(m->cancel.id));
}

static bool dec_truncate(struct dec *d, struct msg *m)
{
	return get_int(d, "turn", true, 0, INT32_LIM, &m->truncate.turn, NULL);
}

static void enc_truncate(json_t *o, const struct msg *m)
{
	put(o, "turn", jint(m->truncate.turn));
}

static bool dec_set(struct dec *d, struct msg *m)
{
	return decode_options_field(d, true, &m->set.options);
}

static void enc_set(json_t *o, const struct msg *m)
{
	encode_options(o, &m->set.options);
	if (!json_object_get(o, "options"))	/* required, even when empty */
		put(o, "options", json_object());
}

static bool dec_path(struct dec *d, struct msg *m)
{
	return get_str(d, "path", true, true, &m->save.path);
}

static void enc_path(json_t *o, const struct msg *m)
{
	put(o, "path", msg_json_str(m->save.path));
}

static bool dec_loaded(struct dec *d, struct msg *m)
{
	struct msg_loaded *l = &m->loaded;

	return get_str(d, "model", true, false, &l->model) &&
	       get_str(d, "arch", true, false, &l->arch) &&
	       get_int(d, "n_params", true, 0, INT64_MAX, &l->n_params, NULL) &&
	       get_int(d, "n_ctx", true, 0, INT32_LIM, &l->n_ctx, NULL) &&
	       get_int(d, "n_layer", false, 0, INT32_LIM, &l->n_layer, NULL) &&
	       get_int(d, "n_expert", false, 0, INT32_LIM, &l->n_expert, NULL) &&
	       get_int(d, "n_expert_used", false, 0, INT32_LIM, &l->n_expert_used, NULL) &&
	       get_int(d, "n_vocab", false, 0, INT32_LIM, &l->n_vocab, NULL) &&
	       decode_numbers(d, "plan", true, &l->plan) &&
	       get_str(d, "mode", false, false, &l->mode) &&
	       get_str(d, "cache_policy", false, false, &l->cache_policy) &&
	       get_str(d, "chat_template", false, false, &l->chat_template);
}

static void enc_loaded(json_t *o, const struct msg *m)
{
	const struct msg_loaded *l = &m->loaded;
	const struct {
		const char *key;
		int64_t v;
	} shape[] = {
		{ "n_layer", l->n_layer },
		{ "n_expert", l->n_expert },
		{ "n_expert_used", l->n_expert_used },
		{ "n_vocab", l->n_vocab },
	};

	put(o, "model", msg_json_str(l->model));
	put(o, "arch", msg_json_str(l->arch));
	put(o, "n_params", jint(l->n_params));
	put(o, "n_ctx", jint(l->n_ctx));
	for (size_t i = 0; i < ARRAY_LEN(shape); i++)
		if (shape[i].v)
			put(o, shape[i].key, jint(shape[i].v));
	encode_numbers(o, "plan", &l->plan);
	if (l->mode)
		put(o, "mode", msg_json_str(l->mode));
	if (l->cache_policy)
		put(o, "cache_policy", msg_json_str(l->cache_policy));
	if (l->chat_template)
		put(o, "chat_template", msg_json_str(l->chat_template));
}

static bool dec_progress(struct dec *d, struct msg *m)
{
	struct msg_progress *p = &m->progress;

	return get_str(d, "what", true, false, &p->what) &&
	       get_int(d, "done", true, 0, INT64_MAX, &p->done, NULL) &&
	       get_int(d, "total", true, 0, INT64_MAX, &p->total, NULL);
}

static void enc_progress(json_t *o, const struct msg *m)
{
	put(o, "what", msg_json_str(m->progress.what));
	put(o, "done", jint(m->progress.done));
	put(o, "total", jint(m->progress.total));
}

/* A day in milliseconds: anything longer per token is a broken clock. */
#define MS_MAX (86400.0 * 1000)

static bool dec_token(struct dec *d, struct msg *m)
{
	struct msg_token *t = &m->token;

	return get_id(d, &t->id) && get_int(d, "tok", true, 0, INT32_LIM, &t->tok, NULL) &&
	       get_str(d, "text", true, false, &t->text) &&
	       get_real(d, "t_ms", true, 0, MS_MAX, &t->t_ms, NULL) &&
	       get_real(d, "io_wait_ms", false, 0, MS_MAX, &t->io_wait_ms, &t->has_io_wait);
}

static void enc_token(json_t *o, const struct msg *m)
{
	const struct msg_token *t = &m->token;

	put(o, "id", jint(t->id));
	put(o, "tok", jint(t->tok));
	put(o, "text", msg_json_str(t->text));
	put(o, "t_ms", jreal(t->t_ms));
	if (t->has_io_wait)
		put(o, "io_wait_ms", jreal(t->io_wait_ms));
}

static bool dec_stats(struct dec *d, struct msg *m)
{
	return decode_numbers(d, "stats", true, &m->stats.stats);
}

static void enc_stats(json_t *o, const struct msg *m)
{
	encode_numbers(o, "stats", &m->stats.stats);
}

static bool dec_done(struct dec *d, struct msg *m)
{
	struct msg_done *dn = &m->done;
	char *reason = NULL;
	int r;

	bool has_gen_ms, has_n_ctx;

	if (!get_id(d, &dn->id) || !get_str(d, "reason", true, true, &reason))
		return false;
	/* A reason from a newer engine still ends the request. */
	r = name_index(reason_names, DONE_REASON_COUNT, reason);
	free(reason);
	dn->reason = r < 0 ? DONE_ERROR : (enum msg_reason)r;
	if (!get_int(d, "n_prompt", true, 0, INT64_MAX, &dn->n_prompt, NULL) ||
	    !get_int(d, "n_cached", false, 0, INT64_MAX, &dn->n_cached, NULL) ||
	    !get_int(d, "n_gen", true, 0, INT64_MAX, &dn->n_gen, NULL) ||
	    !get_real(d, "prompt_tok_s", true, 0, 1e12, &dn->prompt_tok_s, NULL) ||
	    !get_real(d, "gen_tok_s", true, 0, 1e12, &dn->gen_tok_s, NULL) ||
	    !get_real(d, "prompt_ms", false, 0, 1e12, &dn->prompt_ms, &dn->has_ms) ||
	    !get_real(d, "gen_ms", false, 0, 1e12, &dn->gen_ms, &has_gen_ms) ||
	    !get_int(d, "n_pos", false, 0, INT32_LIM, &dn->n_pos, &dn->has_pos) ||
	    !get_int(d, "n_ctx", false, 0, INT32_LIM, &dn->n_ctx, &has_n_ctx) ||
	    !get_str(d, "message", false, false, &dn->message))
		return false;
	if (dn->has_ms != has_gen_ms)
		return bad(d, dn->has_ms ? "gen_ms" : "prompt_ms", "give both or neither");
	if (dn->has_pos != has_n_ctx)
		return bad(d, dn->has_pos ? "n_ctx" : "n_pos", "give both or neither");
	return true;
}

static void enc_done(json_t *o, const struct msg *m)
{
	const struct msg_done *dn = &m->done;

	put(o, "id", jint(dn->id));
	put(o, "reason", msg_json_str(msg_reason_name(dn->reason)));
	put(o, "n_prompt", jint(dn->n_prompt));
	if (dn->n_cached)
		put(o, "n_cached", jint(dn->n_cached));
	put(o, "n_gen", jint(dn->n_gen));
	put(o, "prompt_tok_s", jreal(dn->prompt_tok_s));
	put(o, "gen_tok_s", jreal(dn->gen_tok_s));
	if (dn->has_ms) {
		put(o, "prompt_ms", jreal(dn->prompt_ms));
		put(o, "gen_ms", jreal(dn->gen_ms));
	}
	if (dn->has_pos) {
		put(o, "n_pos", jint(dn->n_pos));
		put(o, "n_ctx", jint(dn->n_ctx));
	}
	if (dn->message)
		put(o, "message", msg_json_str(dn->message));
}

static bool dec_error(struct dec *d, struct msg *m)
{
	struct msg_error *e = &m->error;
	char *code = NULL;
	int c;

	if (!get_str(d, "code", true, true, &code))
		return false;
	/* Codes a newer engine invents are still errors; show them generically. */
	c = name_index(errcode_names, MSG_E_COUNT, code);
	free(code);
	e->code = c < 0 ? MSG_E_INTERNAL : (enum msg_errcode)c;
	return get_str(d, "message", true, false, &e->message) &&
	       get_int(d, "id", false, 0, MSG_ID_MAX, &e->id, &e->has_id);
}

static void enc_error(json_t *o, const struct msg *m)
{
	const struct msg_error *e = &m->error;

	put(o, "code", msg_json_str(msg_errcode_name(e->code)));
	put(o, "message", msg_json_str(e->message));
	if (e->has_id)
		put(o, "id", jint(e->id));
}

/* ---- the type table ------------------------------------------------------------------ */

#define BOTH (MSG_REQUEST | MSG_EVENT)

static const struct msg_desc {
	const char *name;
	unsigned dir;	/* enum msg_dir bits */
	bool (*dec)(struct dec *d, struct msg *m);	/* NULL: no fields */
	void (*enc)(json_t *o, const struct msg *m);
} msg_types[MSG_TYPE_COUNT] = {
	[MSG_HELLO] = { "hello", BOTH, dec_hello, enc_hello },
	[MSG_LOAD] = { "load", MSG_REQUEST, dec_load, enc_load },
	[MSG_CHAT] = { "chat", MSG_REQUEST, dec_chat, enc_chat },
	[MSG_COMPLETE] = { "complete", MSG_REQUEST, dec_complete, enc_complete },
	[MSG_CANCEL] = { "cancel", MSG_REQUEST, dec_cancel, enc_cancel },
	[MSG_TRUNCATE] = { "truncate", MSG_REQUEST, dec_truncate, enc_truncate },
	[MSG_SET] = { "set", MSG_REQUEST, dec_set, enc_set },
	[MSG_STATS_REQUEST] = { "stats", MSG_REQUEST, NULL, NULL },
	[MSG_SAVE] = { "save", MSG_REQUEST, dec_path, enc_path },
	[MSG_RESTORE] = { "restore", MSG_REQUEST, dec_path, enc_path },
	[MSG_QUIT] = { "quit", MSG_REQUEST, NULL, NULL },
	[MSG_LOADED] = { "loaded", MSG_EVENT, dec_loaded, enc_loaded },
	[MSG_PROGRESS] = { "progress", MSG_EVENT, dec_progress, enc_progress },
	[MSG_TOKEN] = { "token", MSG_EVENT, dec_token, enc_token },
	[MSG_STATS] = { "stats", MSG_EVENT, dec_stats, enc_stats },
	[MSG_DONE] = { "done", MSG_EVENT, dec_done, enc_done },
	[MSG_ERROR] = { "error", MSG_EVENT, dec_error, enc_error },
};

const char *msg_type_name(enum msg_type t)
{
	if (t <= MSG_NONE || t >= MSG_TYPE_COUNT)
		return "?";
	return msg_types[t].name;
}

/* The type called name travelling in direction dir; MSG_NONE with *err
 * filled when there is none. */
static enum msg_type lookup_type(const char *name, enum msg_dir dir, struct msg_err *err)
{
	bool other_dir = false;

	for (int t = MSG_NONE + 1; t < MSG_TYPE_COUNT; t++) {
		if (strcmp(msg_types[t].name, name) != 0)
			continue;
		if (msg_types[t].dir & dir)
			return (enum msg_type)t;
		other_dir = true;
	}
	err->code = MSG_E_UNKNOWN_TYPE;
	if (other_dir)
		snprintf(err->text, sizeof err->text, "\"%s\" is %s, not %s", name,
			 dir == MSG_REQUEST ? "an event" : "a request",
			 dir == MSG_REQUEST ? "a request" : "an event");
	else
		snprintf(err->text, sizeof err->text, "unknown message type \"%.64s\"", name);
	return MSG_NONE;
}

/* ---- decode ------------------------------------------------------------------------- */

/* Checks jansson would also make, done first to name the problem and its
 * offset plainly ("NUL byte at 12") instead of echoing raw bytes back. */
static bool precheck(const char *line, size_t len, struct msg_err *err)
{
	const char *nul = memchr(line, '\0', len);

	if (len > PROTO_LINE_MAX) {
		msg_err_set(err, MSG_E_TOO_LONG, "line of %zu bytes exceeds the limit of %zu",
			    len, PROTO_LINE_MAX);
		return false;
	}
	if (len == 0) {
		msg_err_set(err, MSG_E_PARSE, "empty line");
		return false;
	}
	if (nul) {
		msg_err_set(err, MSG_E_PARSE, "NUL byte at offset %zu", (size_t)(nul - line));
		return false;
	}
	for (size_t i = 0; i < len;) {
		size_t l = utf8_seq_len((const unsigned char *)line + i, len - i);
		if (!l) {
			msg_err_set(err, MSG_E_PARSE, "invalid UTF-8 at offset %zu", i);
			return false;
		}
		i += l;
	}
	return true;
}

/* Note the id of a request early, so an error about it can name it. */
static void peek_id(json_t *obj, struct msg_err *err)
{
	json_t *id = json_object_get(obj, "id");

	if (json_is_integer(id) && json_integer_value(id) >= 0 &&
	    json_integer_value(id) <= MSG_ID_MAX) {
		err->has_id = true;
		err->id = json_integer_value(id);
	}
}

static bool decode_object(struct msg *m, json_t *obj, enum msg_dir dir, struct msg_err *err)
{
	json_t *jt = json_object_get(obj, "type");

	if (!jt) {
		err->code = MSG_E_BAD_MESSAGE;
		snprintf(err->text, sizeof err->text, "missing \"type\"");
		return false;
	}
	if (!json_is_string(jt)) {
		err->code = MSG_E_BAD_MESSAGE;
		snprintf(err->text, sizeof err->text, "\"type\" must be a string, not %s",
			 json_kind(jt));
		return false;
	}
	enum msg_type t = lookup_type(json_string_value(jt), dir, err);
	if (t == MSG_NONE)
		return false;
	m->type = t;
	struct dec d = { .obj = obj, .what = msg_types[t].name, .err = err };
	return !msg_types[t].dec || msg_types[t].dec(&d, m);
}

bool msg_decode(struct msg *m, const char *line, size_t len, enum msg_dir dir,
		struct msg_err *err)
{
	json_error_t je;

	memset(m, 0, sizeof *m);
	memset(err, 0, sizeof *err);
	if (len && line[len - 1] == '\r')
		len--;
	if (!precheck(line, len, err))
		return false;

	json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!obj) {
		msg_err_set(err, MSG_E_PARSE, "not valid JSON: %s (at byte %d)", je.text,
			    je.position);
		return false;
	}
	bool ok = false;
	if (!json_is_object(obj)) {
		msg_err_set(err, MSG_E_BAD_MESSAGE, "expected a JSON object, got %s",
			    json_kind(obj));
	} else {
		peek_id(obj, err);
		ok = decode_object(m, obj, dir, err);
	}
	json_decref(obj);
	if (!ok) {
		msg_free(m);
		tidy_text(err->text);
	}
	return ok;
}

/* ---- encode ------------------------------------------------------------------------- */

static int dump_to_buf(const char *p, size_t n, void *data)
{
	buf_append(data, p, n);
	return 0;
}

bool msg_encode(const struct msg *m, struct buf *out)
{
	if (m->type <= MSG_NONE || m->type >= MSG_TYPE_COUNT)
		return false;

	const struct msg_desc *md = &msg_types[m->type];
	json_t *o = json_object();
	if (!o)
		die("protocol: out of memory while encoding");
	put(o, "type", json_string(md->name));
	if (md->enc)
		md->enc(o, m);

	/* 15 digits: a value typed as 0.7 goes out as 0.7, not 0.69999999999999996,
	 * and any decimal a person or a clock produced survives the trip. */
	size_t start = out->len;
	int rc = json_dump_callback(o, dump_to_buf, out, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(o);
	if (rc != 0 || out->len - start > PROTO_LINE_MAX) {
		out->len = start;
		if (out->p)
			out->p[start] = '\0';
		return false;
	}
	buf_putc(out, '\n');
	return true;
}

/* ---- free --------------------------------------------------------------------------- */

void msg_free(struct msg *m)
{
	switch (m->type) {
	case MSG_HELLO:
		free(m->hello.program);
		free(m->hello.version);
		break;
	case MSG_LOAD:
		free(m->load.model);
		free(m->load.chat_template);
		break;
	case MSG_CHAT:
		for (size_t i = 0; i < m->chat.n_messages; i++) {
			free(m->chat.messages[i].role);
			free(m->chat.messages[i].content);
		}
		free(m->chat.messages);
		free(m->chat.text);
		msg_options_free(&m->chat.options);
		break;
	case MSG_COMPLETE:
		free(m->complete.prompt);
		msg_options_free(&m->complete.options);
		break;
	case MSG_SET:
		msg_options_free(&m->set.options);
		break;
	case MSG_SAVE:
	case MSG_RESTORE:
		free(m->save.path);
		break;
	case MSG_LOADED:
		free(m->loaded.model);
		free(m->loaded.arch);
		free(m->loaded.mode);
		free(m->loaded.cache_policy);
		free(m->loaded.chat_template);
		msg_numbers_free(&m->loaded.plan);
		break;
	case MSG_PROGRESS:
		free(m->progress.what);
		break;
	case MSG_TOKEN:
		free(m->token.text);
		break;
	case MSG_STATS:
		msg_numbers_free(&m->stats.stats);
		break;
	case MSG_DONE:
		free(m->done.message);
		break;
	case MSG_ERROR:
		free(m->error.message);
		break;
	default:
		break;
	}
	memset(m, 0, sizeof *m);
}
