/* tokenizer.c - byte-level BPE and SentencePiece BPE tokenizers from GGUF
 * metadata, matching llama.cpp's behaviour (src/llama-vocab.cpp and
 * src/unicode.cpp were read as the reference; this is an independent
 * implementation).
 *
 * Byte-level BPE: the text is split by the family's pre-tokenizer regexes
 * (applied one after the other: every regex splits each piece left by the
 * previous one into its matches and the gaps between them), then every piece
 * is merged byte by byte with the merge list (lowest rank first, leftmost
 * first on ties). Token strings and merges are decoded through the GPT-2
 * byte<->unicode mapping once at load time, so the merge loop works on raw
 * bytes with interned string ids.
 *
 * SentencePiece BPE: spaces become U+2581, a space is prefixed after BOS /
 * special tokens (add_space_prefix), the characters are merged greedily by
 * the score of the resulting token, and characters that form no token fall
 * back to <0xNN> byte tokens. */

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer.h"

#include "gguf.h"
#include "util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* token attributes, as llama.cpp's llama_token_attr */
enum {
	A_UNDEFINED = 0,
	A_UNKNOWN = 1 << 0,
	A_UNUSED = 1 << 1,
	A_NORMAL = 1 << 2,
	A_CONTROL = 1 << 3,
	A_USER = 1 << 4,
	A_BYTE = 1 << 5,
	A_LSTRIP = 1 << 7,
	A_RSTRIP = 1 << 8,
};

/* ---- hashing --------------------------------------------------------------- */

static inline uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, s, 8);
		h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)s[i] << (8 * i);
	h = (h ^ v) * 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

static inline uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* ---- interned byte strings ------------------------------------------------- */

struct strent {
	size_t off;   /* into arena */
	uint32_t len;
	uint32_t hash;
	int32_t tok; /* token id with exactly these bytes, or -1 */
};

struct strtab {
	char *arena;
	size_t alen, acap;
	struct strent *e;
	size_t n, cap;
	uint32_t *slots; /* entry index + 1; 0 = empty */
	size_t mask;
};

static void strtab_grow_slots(struct strtab *st)
{
	size_t nslots = st->slots ? (st->mask + 1) * 2 : 1024;
	free(st->slots);
	st->slots = xcalloc(nslots, sizeof(*st->slots));
	st->mask = nslots - 1;
	for (size_t i = 0; i < st->n; i++) {
		size_t j = st->e[i].hash & st->mask;
		while (st->slots[j])
			j = (j + 1) & st->mask;
		st->slots[j] = (uint32_t)i + 1;
	}
}

static int32_t strtab_find(const struct strtab *st, const char *s, size_t n)
{
	if (!st->slots || n > UINT32_MAX)
		return -1;
	uint32_t h = (uint32_t)hash_bytes(s, n);
	size_t j = h & st->mask;
	for (;;) {
		uint32_t k = st->slots[j];
		if (!k)
			return -1;
		const struct strent *e = &st->e[k - 1];
		if (e->hash == h && e->len == n && !memcmp(st->arena + e->off, s, n))
			return (int32_t)(k - 1);
		j = (j + 1) & st->mask;
	}
}

/* Returns the index of s, adding it if new; *added tells which. */
static int32_t strtab_intern(struct strtab *st, const char *s, size_t n, bool *added)
{
	int32_t i = strtab_find(st, s, n);
	if (added)
		*added = i < 0;
	if (i >= 0)
		return i;
	if ((st->n + 1) * 2 > st->mask + 1 || !st->slots)
		strtab_grow_slots(st);
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 1024;
		st->e = xreallocarray(st->e, st->cap, sizeof(*st->e));
	}
	if (st->alen + n + 1 > st->acap) {
		size_t c = st->acap ? st->acap : 65536;
		while (c < st->alen + n + 1)
			c *= 2;
		st->arena = xrealloc(st->arena, c);
		st->acap = c;
	}
	memcpy(st->arena + st->alen, s, n);
	st->arena[st->alen + n] = 0;
	struct strent *e = &st->e[st->n];
	e->off = st->alen;
	e->len = (uint32_t)n;
	e->hash = (uint32_t)hash_bytes(s, n);
	e->tok = -1;
	st->alen += n + 1;
	size_t j = e->hash & st->mask;
	while (st->slots[j])
		j = (j + 1) & st->mask;
	st->slots[j] = (uint32_t)st->n + 1;
	return (int32_t)st->n++;
}

static void strtab_free(struct strtab *st)
{
	free(st->arena);
	free(st->e);
	free(st->slots);
	memset(st, 0, sizeof(*st));
}

/* ---- merge table: (left, right) interned ids -> rank, result -------------- */

struct merge_slot {
	uint64_t key; /* (left << 32 | right) + 1; 0 = empty */
	uint32_t rank;
	uint32_t result;
};

struct merge_map {
	struct merge_slot *s;
	size_t mask;
	size_t n;
};

static void merge_map_init(struct merge_map *m, size_t n)
{
	size_t c = 16;
	while (c < n * 2 + 16)
		c *= 2;
	m->s = xcalloc(c, sizeof(*m->s));
	m->mask = c - 1;
	m->n = 0;
}

/* Insert unless present (the first occurrence of a pair keeps its rank). */
static void merge_map_put(struct merge_map *m, uint32_t l, uint32_t r, uint32_t rank, uint32_t result)
{
	uint64_t key = (((uint64_t)l << 32) | r) + 1;
	size_t j = hash_u64(key) & m->mask;
	while (m->s[j].key) {
		if (m->s[j].key == key)
			return;
		j = (j + 1) & m->mask;
	}
	m->s[j].key = key;
	m->s[j].rank = rank;
	m->s[j].result = result;
	m->n++;
}

static inline const struct merge_slot *merge_map_get(const struct merge_map *m, uint32_t l, uint32_t r)
{
	uint64_t key = (((uint64_t)l << 32) | r) + 1;
	size_t j = hash_u64(key) & m->mask;
	while (m->s[j].key) {
		if (m->s[j].key == key)
			return &m->s[j];
		j = (j + 1) & m->mask;
	}
	return NULL;
}

/* ---- the GPT-2 byte <-> unicode mapping ------------------------------------ */

/* byte -> code point, and code point (< 324) -> byte + 1 (0 = not mapped) */
static uint16_t g_byte_cp[256];
static uint16_t g_cp_byte[324];
static pthread_once_t g_byte_once = PTHREAD_ONCE_INIT;

static void byte_map_init(void)
{
	int n = 0;
	for (int b = 0; b < 256; b++) {
		bool direct = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
		g_byte_cp[b] = (uint16_t)(direct ? b : 256 + n++);
	}
	for (int b = 0; b < 256; b++)
		g_cp_byte[g_byte_cp[b]] = (uint16_t)(b + 1);
}

/* Decode one UTF-8 code point (strict); returns its length or 0. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t l = utf8_seq_len(s, n);
	if (!l)
		return 0;
	uint32_t c;
	switch (l) {
	case 1: c = s[0]; break;
	case 2: c = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F); break;
	case 3: c = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F); break;
	default:
		c = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
		    ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
		break;
	}
	*cp = c;
	return l;
}

static size_t utf8_encode(uint32_t c, char *o)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xC0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xE0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		o[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
	o[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

/* Decode a byte-level token string ("Ġthe") to its bytes (" the"). Returns
 * false if a character is outside the 256-character alphabet. */
static bool gpt2_decode(const char *s, size_t n, struct buf *out)
{
	buf_clear(out);
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		uint32_t cp;
		size_t l = utf8_decode(p + i, n - i, &cp);
		if (!l || cp >= 324 || !g_cp_byte[cp])
			return false;
		buf_putc(out, (char)(g_cp_byte[cp] - 1));
		i += l;
	}
	return true;
}

/* ---- pre-tokenizers -------------------------------------------------------- */

enum pre_family {
	PF_DEFAULT,
	PF_GPT2,
	PF_LLAMA3,
	PF_DEEPSEEK_LLM,
	PF_DEEPSEEK_CODER,
	PF_DEEPSEEK3,
	PF_FALCON,
	PF_STARCODER,
	PF_QWEN2,
	PF_QWEN35,
	PF_GPT4O,
	PF_TEKKEN,
	PF_KIMI_K2,
	PF_SEED_CODER,
	PF_BAILINGMOE,
	PF_PORO,
	PF_VIKING,
	PF_COUNT
};

#define MAX_REGEX 6

/* llama.cpp runs this exact regex through a hand-written matcher that also
 * implements the trailing "|\s+" of the original GPT-2 pattern. */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_CONTRACT "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3 \
	RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2 \
	RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* CJK ranges written as code points: 一-龥 ࠀ-一 가-퟿ */
#define RE_CJK_DS "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* 一-龥 ぀-ゟ ゠-ヿ */
#define RE_CJK_DS3 "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+"
/* llama.cpp matches \p{S} through a table in which '~' is no symbol; the
 * DeepSeek-V3 pattern is written so that '~' behaves the same here. */
#define RE_DS3_MAIN                                                                  \
	"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"                        \
	"|(?:~|[^\\r\\n\\p{L}\\p{P}\\p{S}])?[\\p{L}\\p{M}]+"                           \
	"| ?(?:(?!~)[\\p{P}\\p{S}])+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT4O                                                                              \
	"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" RE_CONTRACT "?"  \
	"|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" RE_CONTRACT "?" \
	"|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_TEKKEN                                                                 \
	"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+"      \
	"|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"     \
	"|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Kimi K2: llama.cpp's hand-written matcher, as a regex. Han = its ranges. */
#define RE_HAN                                                                              \
	"[\\x{4E00}-\\x{9FFF}\\x{3400}-\\x{4DBF}\\x{20000}-\\x{2A6DF}\\x{2A700}-\\x{2B73F}"       \
	"\\x{2B740}-\\x{2B81F}\\x{2B820}-\\x{2CEAF}\\x{2CEB0}-\\x{2EBEF}\\x{F900}-\\x{FAFF}"      \
	"\\x{2F800}-\\x{2FA1F}]"
#define RE_KIMI_K2                                                                      \
	RE_HAN "+|[^\\r\\n\\p{L}\\p{N}]?(?:(?!" RE_HAN ")\\p{L})+" RE_CONTRACT "?"          \
	"|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* " ?[^(\s|.,!?…。，、।۔،)]+" */
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"

static const char *const pre_regexes[PF_COUNT][MAX_REGEX + 1] = {
	[PF_DEFAULT] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL},
	[PF_GPT2] = {RE_GPT2, NULL},
	[PF_LLAMA3] = {RE_LLAMA3, NULL},
	[PF_DEEPSEEK_LLM] = {
		"[\r\n]",
		/* \s?[A-Za-zµÀ-ÖØ-öø-ƺ...]+ : the cased letters of DeepSeek's tokenizer.json */
		"\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
		"\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"
		"\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"
		"\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}"
		"\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
		"\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"
		"\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}"
		"\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}"
		"\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}"
		"\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
		"\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"
		"\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}"
		"\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}"
		"\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
		"\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}"
		"\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
		"\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
		"\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
		/* \s?[!-/:-~！-／：-～‘-‟　-。]+ */
		"\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
		"\\s+$",
		RE_CJK_DS,
		"\\p{N}+",
		NULL},
	[PF_DEEPSEEK_CODER] = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK_DS, "\\p{N}", NULL},
	[PF_DEEPSEEK3] = {"\\p{N}{1,3}", RE_CJK_DS3, RE_DS3_MAIN, NULL},
	[PF_FALCON] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]", NULL},
	[PF_STARCODER] = {"\\p{N}", RE_GPT2, NULL},
	[PF_QWEN2] = {RE_QWEN2, NULL},
	[PF_QWEN35] = {RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*"
		       "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
		       NULL},
	[PF_GPT4O] = {RE_GPT4O, NULL},
	[PF_TEKKEN] = {RE_TEKKEN, NULL},
	[PF_KIMI_K2] = {RE_KIMI_K2, NULL},
	[PF_SEED_CODER] = {RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+"
			   "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
			   NULL},
	[PF_BAILINGMOE] = {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
			   "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
			   NULL},
	[PF_PORO] = {RE_PORO, NULL},
	[PF_VIKING] = {RE_PORO, "\\p{N}", NULL},
};

enum {
	PRE_IGNORE_MERGES = 1, /* a piece that is a whole token is not merged */
	PRE_NO_CLEAN = 2,      /* clean_spaces = false */
	PRE_ADD_BOS = 4,       /* add_bos defaults to true */
	PRE_NO_BOS = 8,        /* no default BOS id */
};

static const struct {
	const char *name;
	enum pre_family fam;
	unsigned flags;
} pre_names[] = {
	{"default", PF_DEFAULT, 0},
	{"gpt-2", PF_GPT2, 0}, {"phi-2", PF_GPT2, 0}, {"jina-es", PF_GPT2, 0}, {"jina-de", PF_GPT2, 0},
	{"gigachat", PF_GPT2, 0}, {"jina-v2-es", PF_GPT2, 0}, {"jina-v2-de", PF_GPT2, 0},
	{"a.x-4.0", PF_GPT2, 0}, {"mellum", PF_GPT2, 0}, {"modern-bert", PF_GPT2, 0},
	{"exaone4", PF_GPT2, 0}, {"mpt", PF_GPT2, 0}, {"olmo", PF_GPT2, 0}, {"jais", PF_GPT2, 0},
	{"jina-v1-en", PF_GPT2, 0}, {"jina-v2-code", PF_GPT2, 0}, {"roberta-bpe", PF_GPT2, 0},
	{"trillion", PF_GPT2, PRE_NO_CLEAN}, {"granite-docling", PF_GPT2, PRE_NO_CLEAN},
	{"llama3", PF_LLAMA3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
	{"llama-v3", PF_LLAMA3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
	{"llama-bpe", PF_LLAMA3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
	{"falcon3", PF_LLAMA3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
	{"falcon-h1", PF_LLAMA3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
	{"pixtral", PF_LLAMA3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
	{"midm-2.0", PF_LLAMA3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
	{"lfm2", PF_LLAMA3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
	{"jina-v5-nano", PF_LLAMA3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
	{"dbrx", PF_LLAMA3, 0}, {"smaug-bpe", PF_LLAMA3, 0},
	{"glm4", PF_LLAMA3, PRE_NO_BOS}, {"chatglm-bpe", PF_LLAMA3, PRE_NO_BOS},
	{"deepseek-llm", PF_DEEPSEEK_LLM, PRE_NO_CLEAN},
	{"deepseek-coder", PF_DEEPSEEK_CODER, PRE_NO_CLEAN},
	{"deepseek-v3", PF_DEEPSEEK3, PRE_NO_CLEAN}, {"hunyuan-dense", PF_DEEPSEEK3, PRE_NO_CLEAN},
	{"joyai-llm", PF_DEEPSEEK3, PRE_NO_CLEAN}, {"hy_v4", PF_DEEPSEEK3, PRE_NO_CLEAN},
	{"falcon", PF_FALCON, 0},
	{"starcoder", PF_STARCODER, 0}, {"refact", PF_STARCODER, 0}, {"codeshell", PF_STARCODER, 0},
	{"exaone", PF_STARCODER, 0}, {"minerva-7b", PF_STARCODER, 0}, {"mellum2", PF_STARCODER, 0},
	{"command-r", PF_STARCODER, PRE_NO_CLEAN}, {"smollm", PF_STARCODER, PRE_NO_CLEAN},
	{"qwen2", PF_QWEN2, PRE_NO_CLEAN}, {"deepseek-r1-qwen", PF_QWEN2, PRE_NO_CLEAN},
	{"kormo", PF_QWEN2, PRE_NO_CLEAN}, {"f2llmv2", PF_QWEN2, PRE_NO_CLEAN},
	{"megrez", PF_QWEN2, 0}, {"stablelm2", PF_QWEN2, 0},
	{"hunyuan", PF_QWEN2, PRE_NO_CLEAN}, {"solar-open", PF_QWEN2, PRE_NO_CLEAN},
	{"grok-2", PF_QWEN2, PRE_NO_CLEAN},
	{"qwen35", PF_QWEN35, PRE_NO_CLEAN},
	{"gpt-4o", PF_GPT4O, PRE_NO_CLEAN}, {"llama4", PF_GPT4O, PRE_NO_CLEAN},
	{"kanana2", PF_GPT4O, PRE_NO_CLEAN}, {"talkie", PF_GPT4O, PRE_NO_CLEAN},
	{"minimax-m2", PF_GPT4O, PRE_NO_CLEAN},
	{"tekken", PF_TEKKEN, PRE_NO_CLEAN | PRE_IGNORE_MERGES | PRE_ADD_BOS},
	{"kimi-k2", PF_KIMI_K2, PRE_NO_CLEAN},
	{"seed-coder", PF_SEED_CODER, PRE_NO_CLEAN},
	{"bailingmoe", PF_BAILINGMOE, PRE_NO_CLEAN}, {"bailingmoe2", PF_BAILINGMOE, PRE_NO_CLEAN},
	{"llada-moe", PF_BAILINGMOE, PRE_NO_CLEAN},
	{"poro-chat", PF_PORO, PRE_NO_CLEAN}, {"bloom", PF_PORO, 0}, {"gpt3-finnish", PF_PORO, 0},
	{"viking", PF_VIKING, PRE_NO_CLEAN},
};

/* The Unicode White_Space set, which llama.cpp uses for \s. */
#define WS_MEMBERS                                                                         \
	"\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"         \
	"\\x{202F}\\x{205F}\\x{3000}"

/* Rewrite \s and \S into explicit classes of WS_MEMBERS. */
static bool rewrite_regex(const char *re, struct buf *out)
{
	bool inside = false;
	buf_clear(out);
	for (size_t i = 0; re[i]; i++) {
		char c = re[i];
		if (c == '\\' && re[i + 1]) {
			char d = re[i + 1];
			if (d == 's') {
				buf_puts(out, inside ? WS_MEMBERS : "[" WS_MEMBERS "]");
			} else if (d == 'S') {
				if (inside)
					return false;
				buf_puts(out, "[^" WS_MEMBERS "]");
			} else {
				buf_putc(out, c);
				buf_putc(out, d);
			}
			i++;
			continue;
		}
		if (c == '[' && !inside) {
			inside = true;
			buf_putc(out, c);
			if (re[i + 1] == '^') {
				buf_putc(out, '^');
				i++;
			}
			continue;
		}
		if (c == ']' && inside)
			inside = false;
		buf_putc(out, c);
	}
	return !inside;
}

struct pre_set {
	int n;
	pcre2_code *code[MAX_REGEX];
};

static pthread_mutex_t g_pre_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pre_set *g_pre[PF_COUNT];

/* Compile (once per process) the regex set of a family. */
static const struct pre_set *pre_get(enum pre_family f, char *err, size_t errlen)
{
	pthread_mutex_lock(&g_pre_lock);
	struct pre_set *ps = g_pre[f];
	if (ps) {
		pthread_mutex_unlock(&g_pre_lock);
		return ps;
	}
	ps = xcalloc(1, sizeof(*ps));
	struct buf rb = {0};
	for (int i = 0; pre_regexes[f][i]; i++) {
		if (!rewrite_regex(pre_regexes[f][i], &rb)) {
			snprintf(err, errlen, "internal error: bad pre-tokenizer regex %d", i);
			goto fail;
		}
		int ec;
		PCRE2_SIZE eo;
		pcre2_code *c = pcre2_compile((PCRE2_SPTR)rb.p, rb.len,
					      PCRE2_UTF | PCRE2_UCP | PCRE2_NO_AUTO_CAPTURE | PCRE2_DOLLAR_ENDONLY, &ec,
					      &eo, NULL);
		if (!c) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(ec, msg, sizeof(msg));
			snprintf(err, errlen, "pre-tokenizer regex %d does not compile: %s (at %zu)", i, (char *)msg,
				 (size_t)eo);
			goto fail;
		}
		(void)pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
		ps->code[ps->n++] = c;
	}
	buf_free(&rb);
	g_pre[f] = ps;
	pthread_mutex_unlock(&g_pre_lock);
	return ps;
fail:
	buf_free(&rb);
	for (int i = 0; i < ps->n; i++)
		pcre2_code_free(ps->code[i]);
	free(ps);
	pthread_mutex_unlock(&g_pre_lock);
	return NULL;
}

/* ---- the tokenizer ---------------------------------------------------------- */

struct tokenizer {
	enum tokenizer_model model;
	size_t n_vocab;
	/* vocabulary text (raw, as in the file) */
	char *text_arena;
	size_t *text_off;
	uint32_t *text_len;
	float *score;
	uint16_t *attr;
	/* decoded pieces (special=true rendering) */
	char *piece_arena;
	size_t *piece_off;
	uint32_t *piece_len;

	/* lookup: SPM raw text -> id; BPE decoded bytes -> id, plus merge
	 * intermediates (tok = -1) */
	struct strtab st;
	struct strtab raw; /* BPE: raw text -> id, for tokenizer_find() */
	int32_t byte_iid[256]; /* BPE: interned id of each single byte */
	struct merge_map merges;

	/* special tokens matched in the text, longest first */
	int32_t *special;
	size_t n_special;
	uint64_t *special_pfx; /* bitmap of the first two bytes (65536 bits) */
	bool special_first[256]; /* one-byte special tokens */

	const struct pre_set *pre;
	char pre_name[64];
	bool spm_split; /* SPM: merges never cross the start of a run of U+2581 */
	bool ignore_merges, clean_spaces, add_space_prefix, add_bos, add_eos;
	int32_t bos, eos, eot, eom, unk, sep, pad, nl;
	uint8_t *eog; /* n_vocab flags */
};

static bool valid_id(const struct tokenizer *t, int64_t id)
{
	return id >= 0 && (uint64_t)id < t->n_vocab;
}

static const char *tok_text(const struct tokenizer *t, int32_t id, size_t *len)
{
	*len = t->text_len[id];
	return t->text_arena + t->text_off[id];
}

static int32_t find_text(const struct tokenizer *t, const char *s, size_t n)
{
	int32_t i = strtab_find(&t->st, s, n);
	return i < 0 ? -1 : t->st.e[i].tok;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void tokenizer_free(struct tokenizer *t)
{
	if (!t)
		return;
	free(t->text_arena);
	free(t->text_off);
	free(t->text_len);
	free(t->score);
	free(t->attr);
	free(t->piece_arena);
	free(t->piece_off);
	free(t->piece_len);
	strtab_free(&t->st);
	strtab_free(&t->raw);
	free(t->merges.s);
	free(t->special);
	free(t->special_pfx);
	free(t->eog);
	free(t);
}

/* Integer element i of a numeric GGUF array as int64; false if not numeric. */
static bool arr_int(const struct gguf_value *v, uint64_t i, int64_t *out)
{
	const void *d = v->arr.data;
	switch (v->arr.type) {
	case GGUF_UINT8: *out = ((const uint8_t *)d)[i]; return true;
	case GGUF_INT8: *out = ((const int8_t *)d)[i]; return true;
	case GGUF_UINT16: *out = ((const uint16_t *)d)[i]; return true;
	case GGUF_INT16: *out = ((const int16_t *)d)[i]; return true;
	case GGUF_UINT32: *out = ((const uint32_t *)d)[i]; return true;
	case GGUF_INT32: *out = ((const int32_t *)d)[i]; return true;
	case GGUF_UINT64: *out = (int64_t)((const uint64_t *)d)[i]; return true;
	case GGUF_INT64: *out = ((const int64_t *)d)[i]; return true;
	default: return false;
	}
}

static bool arr_float(const struct gguf_value *v, uint64_t i, float *out)
{
	const void *d = v->arr.data;
	int64_t x;
	switch (v->arr.type) {
	case GGUF_FLOAT32: *out = ((const float *)d)[i]; return true;
	case GGUF_FLOAT64: *out = (float)((const double *)d)[i]; return true;
	default:
		if (!arr_int(v, i, &x))
			return false;
		*out = (float)x;
		return true;
	}
}

static void set_special_id(const struct gguf *g, const char *key, int32_t *id, size_t n_vocab)
{
	/* a default out of range is disabled */
	if (*id >= 0 && (size_t)*id >= n_vocab)
		*id = TOKEN_NULL;
	uint64_t v;
	if (!gguf_get(g, key))
		return;
	if (!gguf_get_u64(g, key, &v)) {
		warnx_("tokenizer: %s has a bad type, ignored", key);
		return;
	}
	if (v >= n_vocab) {
		/* e.g. padding_token_id = 0xFFFFFFFF written for "none" */
		if (v != 0xFFFFFFFFull && v != UINT64_MAX)
			warnx_("tokenizer: %s = %llu is out of the vocabulary (%zu tokens), ignored", key,
			       (unsigned long long)v, n_vocab);
		return;
	}
	*id = (int32_t)v;
}

static const struct tokenizer *g_sort_tok;
static pthread_mutex_t g_sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int special_cmp(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	uint32_t lx = g_sort_tok->text_len[x], ly = g_sort_tok->text_len[y];
	if (lx != ly)
		return lx > ly ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void build_pieces(struct tokenizer *t)
{
	struct buf pa = {0};
	t->piece_off = xcalloc(t->n_vocab, sizeof(*t->piece_off));
	t->piece_len = xcalloc(t->n_vocab, sizeof(*t->piece_len));
	buf_reserve(&pa, t->n_vocab * 4 + 16);
	for (size_t id = 0; id < t->n_vocab; id++) {
		size_t n;
		const char *s = tok_text(t, (int32_t)id, &n);
		uint16_t a = t->attr[id];
		size_t start = pa.len;
		if (a & (A_UNKNOWN | A_CONTROL | A_USER)) {
			buf_append(&pa, s, n);
		} else if (a & A_NORMAL) {
			if (t->model == TOKENIZER_SPM) {
				for (size_t i = 0; i < n; i++) {
					if (i + 2 < n && !memcmp(s + i, "\xE2\x96\x81", 3)) {
						buf_putc(&pa, ' ');
						i += 2;
					} else {
						buf_putc(&pa, s[i]);
					}
				}
			} else {
				const unsigned char *p = (const unsigned char *)s;
				size_t i = 0;
				while (i < n) {
					uint32_t cp;
					size_t l = utf8_decode(p + i, n - i, &cp);
					if (!l) { /* not UTF-8: keep the byte */
						buf_putc(&pa, s[i]);
						i++;
					} else if (cp < 324 && g_cp_byte[cp]) {
						buf_putc(&pa, (char)(g_cp_byte[cp] - 1));
						i += l;
					} else { /* outside the byte alphabet: keep as is */
						buf_append(&pa, s + i, l);
						i += l;
					}
				}
			}
		} else if (a & A_BYTE) {
			unsigned v;
			char tail;
			if (n == 6 && sscanf(s, "<0x%2x%c", &v, &tail) == 2 && tail == '>')
				buf_putc(&pa, (char)v);
			else
				buf_append(&pa, s, n);
		}
		t->piece_off[id] = start;
		t->piece_len[id] = (uint32_t)(pa.len - start);
	}
	t->piece_arena = pa.p ? pa.p : xcalloc(1, 1);
}

static int32_t spm_byte_token(const struct tokenizer *t, unsigned char c)
{
	char b[8];
	snprintf(b, sizeof(b), "<0x%02X>", c);
	int32_t id = find_text(t, b, 6);
	if (id >= 0)
		return id;
	return find_text(t, (const char *)&c, 1);
}

struct tokenizer *tokenizer_load(const struct gguf *g, char *err, size_t errlen)
{
	pthread_once(&g_byte_once, byte_map_init);
	seterr(err, errlen, "unknown error");

	const char *model = gguf_get_str(g, "tokenizer.ggml.model");
	if (!model) {
		seterr(err, errlen, "no tokenizer.ggml.model: the model has no tokenizer");
		return NULL;
	}
	struct tokenizer *t = xcalloc(1, sizeof(*t));
	t->bos = t->eos = t->eot = t->eom = t->unk = t->sep = t->pad = t->nl = TOKEN_NULL;
	unsigned pre_flags = 0;
	enum pre_family fam = PF_GPT2;
	if (!strcmp(model, "llama")) {
		t->model = TOKENIZER_SPM;
		t->bos = 1;
		t->eos = 2;
		t->unk = 0;
		t->add_space_prefix = true;
		t->add_bos = true;
		t->clean_spaces = false;
		snprintf(t->pre_name, sizeof(t->pre_name), "spm");
	} else if (!strcmp(model, "gpt2")) {
		t->model = TOKENIZER_BPE;
		t->bos = 11;
		t->eos = 11;
		t->clean_spaces = true;
		const char *pre = gguf_get_str(g, "tokenizer.ggml.pre");
		if (!pre || !*pre) {
			warnx_("tokenizer: no tokenizer.ggml.pre; using the 'default' pre-tokenizer");
			fam = PF_DEFAULT;
			snprintf(t->pre_name, sizeof(t->pre_name), "default");
		} else {
			size_t i;
			for (i = 0; i < ARRAY_LEN(pre_names); i++)
				if (!strcmp(pre, pre_names[i].name))
					break;
			if (i == ARRAY_LEN(pre_names)) {
				warnx_("tokenizer: unknown pre-tokenizer '%s'; falling back to the GPT-2 regex "
				       "(tokenization may differ from the original)",
				       pre);
				fam = PF_GPT2;
				snprintf(t->pre_name, sizeof(t->pre_name), "gpt-2");
			} else {
				fam = pre_names[i].fam;
				pre_flags = pre_names[i].flags;
				snprintf(t->pre_name, sizeof(t->pre_name), "%s", pre);
			}
		}
		t->ignore_merges = pre_flags & PRE_IGNORE_MERGES;
		t->clean_spaces = !(pre_flags & PRE_NO_CLEAN);
		t->add_bos = pre_flags & PRE_ADD_BOS;
		if (pre_flags & PRE_NO_BOS)
			t->bos = TOKEN_NULL;
	} else if (!strcmp(model, "no_vocab") || !strcmp(model, "none")) {
		seterr(err, errlen, "the model has no tokenizer (tokenizer.ggml.model = %s)", model);
		goto fail;
	} else {
		seterr(err, errlen, "unsupported tokenizer model '%s' (supported: gpt2, llama)", model);
		goto fail;
	}
	bool b;
	if (gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b))
		t->add_space_prefix = b;

	/* the vocabulary */
	const struct gguf_value *tv = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_VTYPE_COUNT);
	if (!tv) {
		seterr(err, errlen, "no tokenizer.ggml.tokens array");
		goto fail;
	}
	if (tv->arr.type != GGUF_STRING) {
		seterr(err, errlen, "tokenizer.ggml.tokens is an array of %s, not of strings",
		       gguf_vtype_name(tv->arr.type));
		goto fail;
	}
	if (tv->arr.n == 0) {
		seterr(err, errlen, "empty vocabulary (tokenizer.ggml.tokens has no entries)");
		goto fail;
	}
	if (tv->arr.n >= INT32_MAX) {
		seterr(err, errlen, "vocabulary too large (%llu tokens)", (unsigned long long)tv->arr.n);
		goto fail;
	}
	size_t n = t->n_vocab = (size_t)tv->arr.n;
	const struct gguf_str *toks = tv->arr.data;

	const struct gguf_value *sv = gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_VTYPE_COUNT);
	if (sv) {
		float f;
		if (sv->arr.n < n || (sv->arr.n && !arr_float(sv, 0, &f))) {
			seterr(err, errlen, "tokenizer.ggml.scores: %llu %s for %zu tokens",
			       (unsigned long long)sv->arr.n, gguf_vtype_name(sv->arr.type), n);
			goto fail;
		}
	}
	const struct gguf_value *yv = gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_VTYPE_COUNT);
	if (yv) {
		int64_t x;
		if (yv->arr.n < n || (yv->arr.n && !arr_int(yv, 0, &x))) {
			seterr(err, errlen, "tokenizer.ggml.token_type: %llu %s for %zu tokens",
			       (unsigned long long)yv->arr.n, gguf_vtype_name(yv->arr.type), n);
			goto fail;
		}
	}

	t->text_off = xcalloc(n, sizeof(*t->text_off));
	t->text_len = xcalloc(n, sizeof(*t->text_len));
	t->score = xcalloc(n, sizeof(*t->score));
	t->attr = xcalloc(n, sizeof(*t->attr));
	t->eog = xcalloc(n, 1);
	struct buf ta = {0};
	char tmp[48];
	for (size_t i = 0; i < n; i++) {
		const char *s = toks[i].ptr;
		size_t l = (size_t)toks[i].len;
		if (!s)
			l = 0;
		if (l == 0) {
			int k = snprintf(tmp, sizeof(tmp), "[EMPTY_%zu]", i);
			s = tmp;
			l = (size_t)k;
		}
		if (l >= UINT32_MAX) {
			buf_free(&ta);
			seterr(err, errlen, "token %zu is too long", i);
			goto fail;
		}
		t->text_off[i] = ta.len;
		t->text_len[i] = (uint32_t)l;
		buf_append(&ta, s, l);
		buf_putc(&ta, 0);
		if (sv)
			arr_float(sv, i, &t->score[i]);
		uint16_t a = A_NORMAL;
		if (yv) {
			int64_t ty = 0;
			arr_int(yv, i, &ty);
			switch (ty) {
			case TOKEN_TYPE_NORMAL: a = A_NORMAL; break;
			case TOKEN_TYPE_UNKNOWN: a = A_UNKNOWN; break;
			case TOKEN_TYPE_CONTROL: a = A_CONTROL; break;
			case TOKEN_TYPE_USER_DEFINED: a = A_USER; break;
			case TOKEN_TYPE_UNUSED: a = A_UNUSED; break;
			case TOKEN_TYPE_BYTE: a = A_BYTE; break;
			default: a = A_UNDEFINED; break;
			}
		}
		t->attr[i] = a;
	}
	t->text_arena = ta.p;

	/* lookup table */
	size_t n_dup = 0;
	struct buf db = {0};
	for (size_t i = 0; i < n; i++) {
		size_t l;
		const char *s = tok_text(t, (int32_t)i, &l);
		if (t->model == TOKENIZER_BPE) {
			int32_t r = strtab_intern(&t->raw, s, l, NULL);
			if (t->raw.e[r].tok < 0)
				t->raw.e[r].tok = (int32_t)i;
			if (!gpt2_decode(s, l, &db))
				continue; /* never produced by the byte-level pre-tokenizer */
			s = db.p;
			l = db.len;
		}
		bool added;
		int32_t k = strtab_intern(&t->st, s, l, &added);
		if (t->st.e[k].tok < 0)
			t->st.e[k].tok = (int32_t)i;
		else
			n_dup++;
	}
	if (n_dup)
		warnx_("tokenizer: %zu duplicate token string(s) in the vocabulary; the first id is used", n_dup);

	if (t->model == TOKENIZER_BPE) {
		for (int c = 0; c < 256; c++) {
			char ch = (char)c;
			t->byte_iid[c] = strtab_intern(&t->st, &ch, 1, NULL);
		}
		const struct gguf_value *mv = gguf_get_arr(g, "tokenizer.ggml.merges", GGUF_VTYPE_COUNT);
		if (!mv) {
			buf_free(&db);
			seterr(err, errlen, "byte-level BPE vocabulary without tokenizer.ggml.merges");
			goto fail;
		}
		if (mv->arr.type != GGUF_STRING) {
			buf_free(&db);
			seterr(err, errlen, "tokenizer.ggml.merges is an array of %s, not of strings",
			       gguf_vtype_name(mv->arr.type));
			goto fail;
		}
		const struct gguf_str *ms = mv->arr.data;
		size_t nm = (size_t)MIN(mv->arr.n, (uint64_t)UINT32_MAX - 1);
		merge_map_init(&t->merges, nm);
		struct buf lb = {0}, rb = {0};
		size_t n_bad = 0;
		for (size_t i = 0; i < nm; i++) {
			const char *s = ms[i].ptr;
			size_t l = s ? (size_t)ms[i].len : 0;
			const char *sp = l > 1 ? memchr(s + 1, ' ', l - 1) : NULL;
			if (!sp || !gpt2_decode(s, (size_t)(sp - s), &lb) ||
			    !gpt2_decode(sp + 1, l - (size_t)(sp - s) - 1, &rb) || !lb.len || !rb.len) {
				n_bad++;
				continue;
			}
			int32_t li = strtab_intern(&t->st, lb.p, lb.len, NULL);
			int32_t ri = strtab_intern(&t->st, rb.p, rb.len, NULL);
			buf_append(&lb, rb.p, rb.len);
			int32_t res = strtab_intern(&t->st, lb.p, lb.len, NULL);
			merge_map_put(&t->merges, (uint32_t)li, (uint32_t)ri, (uint32_t)i, (uint32_t)res);
		}
		buf_free(&lb);
		buf_free(&rb);
		if (n_bad)
			warnx_("tokenizer: %zu malformed merge(s) ignored", n_bad);
		t->pre = pre_get(fam, err, errlen);
		if (!t->pre) {
			buf_free(&db);
			goto fail;
		}
	}
	buf_free(&db);

	/* special ids */
	set_special_id(g, "tokenizer.ggml.bos_token_id", &t->bos, n);
	set_special_id(g, "tokenizer.ggml.eos_token_id", &t->eos, n);
	set_special_id(g, "tokenizer.ggml.eot_token_id", &t->eot, n);
	set_special_id(g, "tokenizer.ggml.eom_token_id", &t->eom, n);
	set_special_id(g, "tokenizer.ggml.unknown_token_id", &t->unk, n);
	set_special_id(g, "tokenizer.ggml.seperator_token_id", &t->sep, n);
	set_special_id(g, "tokenizer.ggml.padding_token_id", &t->pad, n);
	if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b))
		t->add_bos = b;
	if (gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b))
		t->add_eos = b;
	if (t->add_bos && t->bos == TOKEN_NULL) {
		seterr(err, errlen, "tokenizer.ggml.add_bos_token is true, but there is no valid BOS token id");
		goto fail;
	}
	if (t->add_eos && t->eos == TOKEN_NULL) {
		seterr(err, errlen, "tokenizer.ggml.add_eos_token is true, but there is no valid EOS token id");
		goto fail;
	}

	/* "<｜end▁of▁sentence｜>" (DeepSeek) */
#define DS_EOS_TEXT ("<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>")
	/* EOT / EOM / end-of-generation tokens recognised by their text, as
	 * llama.cpp does */
	static const char *const eot_texts[] = {
		"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
		"<EOT>", "_<EOT>", "[EOT]", DS_EOS_TEXT,
		"<end_of_utterance>",
	};
	static const char *const eog_texts[] = {
		"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
		"<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
		"<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
		DS_EOS_TEXT, "[e~[",
		/* FIM pad / repo / file separator tokens */
		"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", "<|fim_repo|>", "<|repo_name|>",
		"<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>",
	};
	if (t->eot == TOKEN_NULL) {
		for (size_t k = 0; k < ARRAY_LEN(eot_texts) && t->eot == TOKEN_NULL; k++) {
			int32_t id = tokenizer_find(t, eot_texts[k], strlen(eot_texts[k]));
			if (id >= 0) {
				t->eot = id;
				t->attr[id] |= A_CONTROL;
			}
		}
	}
	if (t->eom == TOKEN_NULL) {
		int32_t id = tokenizer_find(t, "<|eom_id|>", 10);
		if (id >= 0) {
			t->eom = id;
			t->attr[id] |= A_CONTROL;
		}
	}
	for (size_t k = 0; k < ARRAY_LEN(eog_texts); k++) {
		int32_t id = tokenizer_find(t, eog_texts[k], strlen(eog_texts[k]));
		if (id >= 0) {
			t->eog[id] = 1;
			t->attr[id] |= A_CONTROL;
		}
	}
	/* gpt-oss (harmony): these structural tokens are always rendered */
	static const char *const harmony[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};
	for (size_t k = 0; k < ARRAY_LEN(harmony); k++) {
		int32_t id = tokenizer_find(t, harmony[k], strlen(harmony[k]));
		if (id >= 0)
			t->attr[id] = A_USER;
	}
	if (t->eos >= 0)
		t->eog[t->eos] = 1;
	if (t->eot >= 0)
		t->eog[t->eot] = 1;
	if (t->eom >= 0)
		t->eog[t->eom] = 1;
	{
		int32_t ret = tokenizer_find(t, "<|return|>", 10), call = tokenizer_find(t, "<|call|>", 8);
		int32_t calls = tokenizer_find(t, "<|calls|>", 9), flush = tokenizer_find(t, "<|flush|>", 9);
		int32_t end = tokenizer_find(t, "<|end|>", 7);
		if (end >= 0 && ((ret >= 0 && call >= 0) || ((call >= 0 || calls >= 0) && flush >= 0))) {
			t->eog[end] = 0;
			t->attr[end] = A_USER;
		}
	}

	/* special tokens matched in text: CONTROL, USER_DEFINED, UNKNOWN;
	 * longest first (ties by id) */
	size_t ns = 0;
	for (size_t i = 0; i < n; i++)
		if (t->attr[i] & (A_CONTROL | A_USER | A_UNKNOWN))
			ns++;
	t->special = xcalloc(ns + 1, sizeof(*t->special));
	t->special_pfx = xcalloc(65536 / 64, sizeof(uint64_t));
	for (size_t i = 0; i < n; i++) {
		if (!(t->attr[i] & (A_CONTROL | A_USER | A_UNKNOWN)))
			continue;
		t->special[t->n_special++] = (int32_t)i;
		size_t l;
		const unsigned char *s = (const unsigned char *)tok_text(t, (int32_t)i, &l);
		if (l == 1) {
			t->special_first[s[0]] = true;
		} else {
			unsigned k = (unsigned)s[0] << 8 | s[1];
			t->special_pfx[k / 64] |= 1ull << (k % 64);
		}
	}
	pthread_mutex_lock(&g_sort_lock);
	g_sort_tok = t;
	qsort(t->special, t->n_special, sizeof(*t->special), special_cmp);
	g_sort_tok = NULL;
	pthread_mutex_unlock(&g_sort_lock);

	/* Phi-3: special tokens swallow the whitespace after them */
	const char *gname = gguf_get_str(g, "general.name");
	if (gname) {
		char low[256];
		size_t k;
		for (k = 0; gname[k] && k + 1 < sizeof(low); k++)
			low[k] = (char)tolower((unsigned char)gname[k]);
		low[k] = 0;
		if (strstr(low, "phi-3") || strstr(low, "phi3")) {
			for (size_t i = 0; i < t->n_special; i++)
				t->attr[t->special[i]] |= A_RSTRIP;
			int32_t id = tokenizer_find(t, "</s>", 4);
			if (id >= 0)
				t->attr[id] |= A_RSTRIP;
			static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
			for (size_t j = 0; j < ARRAY_LEN(keep); j++) {
				id = tokenizer_find(t, keep[j], strlen(keep[j]));
				if (id >= 0)
					t->attr[id] &= (uint16_t)~A_RSTRIP;
			}
		}
	}

	build_pieces(t);

	if (t->model == TOKENIZER_SPM) {
		t->spm_split = true;
		for (size_t i = 0; i < n && t->spm_split; i++) {
			size_t l, lead = 0;
			const char *s = tok_text(t, (int32_t)i, &l);
			while (lead + 3 <= l && !memcmp(s + lead, "\xE2\x96\x81", 3))
				lead += 3;
			if (memmem(s + lead, l - lead, "\xE2\x96\x81", 3))
				t->spm_split = false;
		}
	}

	/* newline token */
	if (t->model == TOKENIZER_SPM) {
		t->nl = spm_byte_token(t, '\n');
		if (t->nl < 0)
			t->nl = t->pad;
	} else {
		int32_t *ids = NULL;
		size_t nids = 0;
		if (tokenize(t, "\n", 1, false, false, &ids, &nids) == 0 && nids > 0)
			t->nl = ids[0];
		else
			t->nl = t->pad;
		free(ids);
	}
	seterr(err, errlen, "ok");
	return t;
fail:
	tokenizer_free(t);
	return NULL;
}

/* ---- accessors ------------------------------------------------------------ */

size_t tokenizer_n_vocab(const struct tokenizer *t) { return t->n_vocab; }
enum tokenizer_model tokenizer_model(const struct tokenizer *t) { return t->model; }
const char *tokenizer_pre_name(const struct tokenizer *t) { return t->pre_name; }
int32_t tokenizer_bos(const struct tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const struct tokenizer *t) { return t->eos; }
int32_t tokenizer_eot(const struct tokenizer *t) { return t->eot; }
int32_t tokenizer_eom(const struct tokenizer *t) { return t->eom; }
int32_t tokenizer_unk(const struct tokenizer *t) { return t->unk; }
int32_t tokenizer_pad(const struct tokenizer *t) { return t->pad; }
int32_t tokenizer_nl(const struct tokenizer *t) { return t->nl; }
bool tokenizer_add_bos(const struct tokenizer *t) { return t->add_bos; }
bool tokenizer_add_eos(const struct tokenizer *t) { return t->add_eos; }

bool tokenizer_is_eog(const struct tokenizer *t, int32_t id)
{
	return valid_id(t, id) && t->eog[id];
}

enum token_type tokenizer_token_type(const struct tokenizer *t, int32_t id)
{
	if (!valid_id(t, id))
		return TOKEN_TYPE_UNDEFINED;
	uint16_t a = t->attr[id];
	if (a & A_UNKNOWN)
		return TOKEN_TYPE_UNKNOWN;
	if (a & A_CONTROL)
		return TOKEN_TYPE_CONTROL;
	if (a & A_USER)
		return TOKEN_TYPE_USER_DEFINED;
	if (a & A_UNUSED)
		return TOKEN_TYPE_UNUSED;
	if (a & A_BYTE)
		return TOKEN_TYPE_BYTE;
	if (a & A_NORMAL)
		return TOKEN_TYPE_NORMAL;
	return TOKEN_TYPE_UNDEFINED;
}

const char *tokenizer_token_text(const struct tokenizer *t, int32_t id, size_t *len)
{
	if (!valid_id(t, id)) {
		if (len)
			*len = 0;
		return NULL;
	}
	size_t l;
	const char *s = tok_text(t, id, &l);
	if (len)
		*len = l;
	return s;
}

int32_t tokenizer_find(const struct tokenizer *t, const char *text, size_t len)
{
	const struct strtab *st = t->model == TOKENIZER_SPM ? &t->st : &t->raw;
	int32_t i = strtab_find(st, text, len);
	return i < 0 ? TOKEN_NULL : st->e[i].tok;
}

const char *token_piece(const struct tokenizer *t, int32_t id, bool special, size_t *len)
{
	if (!valid_id(t, id) || (!special && (t->attr[id] & (A_UNKNOWN | A_CONTROL)))) {
		*len = 0;
		return "";
	}
	*len = t->piece_len[id];
	return t->piece_arena + t->piece_off[id];
}

/* ---- tokenization ---------------------------------------------------------- */

struct ivec {
	int32_t *p;
	size_t n, cap;
};

static void ivec_push(struct ivec *v, int32_t x)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->p = xreallocarray(v->p, v->cap, sizeof(*v->p));
	}
	v->p[v->n++] = x;
}

struct frag {
	int32_t id; /* token, or -1 for raw text */
	size_t off, len;
};

struct fvec {
	struct frag *p;
	size_t n, cap;
};

static void fvec_push(struct fvec *v, int32_t id, size_t off, size_t len)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->p = xreallocarray(v->p, v->cap, sizeof(*v->p));
	}
	v->p[v->n++] = (struct frag){id, off, len};
}

struct seg {
	size_t off, len;
};

struct svec {
	struct seg *p;
	size_t n, cap;
};

static inline void svec_push(struct svec *v, size_t off, size_t len)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 256;
		v->p = xreallocarray(v->p, v->cap, sizeof(*v->p));
	}
	v->p[v->n].off = off;
	v->p[v->n].len = len;
	v->n++;
}

/* BPE work area */
struct sym {
	int32_t prev, next;
	uint32_t start, len;
	int32_t iid;
};

struct bigram {
	uint32_t rank; /* BPE rank; for SPM unused */
	float score;   /* SPM */
	int32_t left, right;
	uint32_t llen, rlen; /* BPE: lengths when queued; SPM: llen = size */
	int32_t result;
};

struct work {
	struct sym *sym;
	size_t sym_cap;
	struct bigram *heap;
	size_t nheap, heap_cap;
	struct svec seg[2];
	struct buf text; /* sanitized / escaped text */
	pcre2_match_data *md;
	pcre2_match_context *mc;
	pcre2_jit_stack *js;
};

static void work_free(struct work *w)
{
	free(w->sym);
	free(w->heap);
	free(w->seg[0].p);
	free(w->seg[1].p);
	buf_free(&w->text);
	if (w->md)
		pcre2_match_data_free(w->md);
	if (w->mc)
		pcre2_match_context_free(w->mc);
	if (w->js)
		pcre2_jit_stack_free(w->js);
}

static void work_syms(struct work *w, size_t n)
{
	if (n > w->sym_cap) {
		w->sym_cap = MAX(n, 2 * w->sym_cap);
		w->sym = xreallocarray(w->sym, w->sym_cap, sizeof(*w->sym));
	}
}

/* BPE heap: lowest rank first, then leftmost */
static inline bool bpe_less(const struct bigram *a, const struct bigram *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

/* SPM heap: highest score first, then leftmost */
static inline bool spm_less(const struct bigram *a, const struct bigram *b)
{
	return a->score > b->score || (a->score == b->score && a->left < b->left);
}

#define HEAP_FUNCS(NAME, LESS)                                                        \
	static void NAME##_push(struct work *w, const struct bigram *x)                 \
	{                                                                               \
		if (w->nheap == w->heap_cap) {                                          \
			w->heap_cap = w->heap_cap ? w->heap_cap * 2 : 64;               \
			w->heap = xreallocarray(w->heap, w->heap_cap, sizeof(*w->heap)); \
		}                                                                       \
		size_t i = w->nheap++;                                                  \
		while (i > 0) {                                                         \
			size_t p = (i - 1) / 2;                                         \
			if (!LESS(x, &w->heap[p]))                                      \
				break;                                                  \
			w->heap[i] = w->heap[p];                                        \
			i = p;                                                          \
		}                                                                       \
		w->heap[i] = *x;                                                        \
	}                                                                               \
	static struct bigram NAME##_pop(struct work *w)                                 \
	{                                                                               \
		struct bigram top = w->heap[0];                                         \
		struct bigram last = w->heap[--w->nheap];                               \
		size_t i = 0, n = w->nheap;                                             \
		for (;;) {                                                              \
			size_t c = 2 * i + 1;                                           \
			if (c >= n)                                                     \
				break;                                                  \
			if (c + 1 < n && LESS(&w->heap[c + 1], &w->heap[c]))            \
				c++;                                                    \
			if (!LESS(&w->heap[c], &last))                                  \
				break;                                                  \
			w->heap[i] = w->heap[c];                                        \
			i = c;                                                          \
		}                                                                       \
		if (n)                                                                  \
			w->heap[i] = last;                                              \
		return top;                                                             \
	}

HEAP_FUNCS(bpe_heap, bpe_less)
HEAP_FUNCS(spm_heap, spm_less)

static inline void bpe_try(const struct tokenizer *t, struct work *w, int32_t l, int32_t r)
{
	if (l < 0 || r < 0)
		return;
	const struct merge_slot *m = merge_map_get(&t->merges, (uint32_t)w->sym[l].iid, (uint32_t)w->sym[r].iid);
	if (!m)
		return;
	struct bigram b = {.rank = m->rank, .left = l, .right = r, .llen = w->sym[l].len,
			   .rlen = w->sym[r].len, .result = (int32_t)m->result};
	bpe_heap_push(w, &b);
}

/* Merge one pre-tokenized piece and append its ids. */
static void bpe_word(const struct tokenizer *t, struct work *w, const unsigned char *s, size_t n,
		     struct ivec *out)
{
	if (n == 0)
		return;
	if (n == 1 || t->ignore_merges) {
		int32_t id = find_text(t, (const char *)s, n);
		if (id >= 0) {
			ivec_push(out, id);
			return;
		}
	}
	work_syms(w, n);
	struct sym *sym = w->sym;
	for (size_t i = 0; i < n; i++) {
		sym[i].prev = (int32_t)i - 1;
		sym[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
		sym[i].start = (uint32_t)i;
		sym[i].len = 1;
		sym[i].iid = t->byte_iid[s[i]];
	}
	w->nheap = 0;
	for (size_t i = 1; i < n; i++)
		bpe_try(t, w, (int32_t)i - 1, (int32_t)i);
	while (w->nheap) {
		struct bigram b = bpe_heap_pop(w);
		struct sym *L = &sym[b.left], *R = &sym[b.right];
		if (L->len != b.llen || R->len != b.rlen || L->next != b.right)
			continue; /* stale */
		L->len += R->len;
		L->iid = b.result;
		R->len = 0;
		L->next = R->next;
		if (R->next >= 0)
			sym[R->next].prev = b.left;
		bpe_try(t, w, L->prev, b.left);
		bpe_try(t, w, b.left, L->next);
	}
	for (int32_t i = 0; i >= 0; i = sym[i].next) {
		int32_t id = t->st.e[sym[i].iid].tok;
		if (id >= 0) {
			ivec_push(out, id);
			continue;
		}
		/* a merge result that is no token: its bytes one by one */
		for (uint32_t k = 0; k < sym[i].len; k++) {
			int32_t bid = t->st.e[t->byte_iid[s[sym[i].start + k]]].tok;
			if (bid >= 0)
				ivec_push(out, bid);
		}
	}
}

/* llama.cpp's view of UTF-8: a valid (possibly overlong) sequence is one code
 * point, anything else one U+FFFD per byte. Code points are re-encoded in
 * shortest form; surrogates and values past U+10FFFF become U+FFFD too. */
static void sanitize_utf8(const unsigned char *s, size_t n, struct buf *out)
{
	buf_clear(out);
	buf_reserve(out, n + 16);
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c < 0x80) {
			size_t j = i + 1;
			while (j < n && s[j] < 0x80)
				j++;
			buf_append(out, s + i, j - i);
			i = j;
			continue;
		}
		size_t l = 0;
		uint32_t cp = 0;
		if ((c & 0xE0) == 0xC0) {
			l = 2;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			l = 3;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			l = 4;
			cp = c & 0x07;
		}
		bool ok = l && i + l <= n;
		for (size_t k = 1; ok && k < l; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				ok = false;
			else
				cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		char enc[4];
		if (!ok) {
			buf_append(out, "\xEF\xBF\xBD", 3);
			i++;
			continue;
		}
		if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			cp = 0xFFFD;
		buf_append(out, enc, utf8_encode(cp, enc));
		i += l;
	}
}

/* Split every segment of in by regex re into matches and gaps. */
static int regex_split(const pcre2_code *re, struct work *w, const char *text, const struct svec *in,
		       struct svec *out)
{
	out->n = 0;
	for (size_t k = 0; k < in->n; k++) {
		const char *sub = text + in->p[k].off;
		size_t len = in->p[k].len, pos = 0, last = 0;
		while (pos < len) {
			int rc = pcre2_match(re, (PCRE2_SPTR)sub, len, pos, PCRE2_NO_UTF_CHECK, w->md, w->mc);
			if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
				if (!w->js) {
					w->js = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, NULL);
					if (w->js)
						pcre2_jit_stack_assign(w->mc, NULL, w->js);
					rc = pcre2_match(re, (PCRE2_SPTR)sub, len, pos, PCRE2_NO_UTF_CHECK, w->md,
							 w->mc);
				}
				if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
					rc = pcre2_match(re, (PCRE2_SPTR)sub, len, pos,
							 PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, w->md, w->mc);
			}
			if (rc == PCRE2_ERROR_NOMATCH)
				break;
			if (rc < 0) {
				PCRE2_UCHAR msg[128];
				pcre2_get_error_message(rc, msg, sizeof(msg));
				warnx_("tokenizer: regex match failed: %s", (char *)msg);
				return -1;
			}
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
			size_t ms = ov[0], me = ov[1];
			if (me <= ms) { /* empty match: step over one character */
				pos = ms + 1;
				while (pos < len && ((unsigned char)sub[pos] & 0xC0) == 0x80)
					pos++;
				continue;
			}
			if (ms > last)
				svec_push(out, in->p[k].off + last, ms - last);
			svec_push(out, in->p[k].off + ms, me - ms);
			last = pos = me;
		}
		if (last < len)
			svec_push(out, in->p[k].off + last, len - last);
	}
	return 0;
}

static int bpe_fragment(const struct tokenizer *t, struct work *w, const char *raw, size_t rlen,
			struct ivec *out)
{
	/* PCRE2 in UTF mode needs valid UTF-8 */
	const char *text = raw;
	if (!utf8_valid(raw, rlen)) {
		sanitize_utf8((const unsigned char *)raw, rlen, &w->text);
		text = w->text.p;
		rlen = w->text.len;
	}
	struct svec *cur = &w->seg[0], *nxt = &w->seg[1];
	cur->n = 0;
	svec_push(cur, 0, rlen);
	for (int i = 0; i < t->pre->n; i++) {
		if (regex_split(t->pre->code[i], w, text, cur, nxt) < 0)
			return -1;
		struct svec *tmp = cur;
		cur = nxt;
		nxt = tmp;
	}
	for (size_t k = 0; k < cur->n; k++)
		bpe_word(t, w, (const unsigned char *)text + cur->p[k].off, cur->p[k].len, out);
	return 0;
}

static inline void spm_try(const struct tokenizer *t, struct work *w, int32_t l, int32_t r)
{
	if (l < 0 || r < 0)
		return;
	size_t size = (size_t)w->sym[l].len + w->sym[r].len;
	int32_t id = find_text(t, w->text.p + w->sym[l].start, size);
	if (id < 0)
		return;
	struct bigram b = {.score = t->score[id], .left = l, .right = r, .llen = (uint32_t)size};
	spm_heap_push(w, &b);
}

/* SPM-merge the n bytes of w->text at off and append the ids. */
static void spm_merge(const struct tokenizer *t, struct work *w, size_t off0, size_t n, struct ivec *out)
{
	static const uint8_t u8len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
	const char *tx = w->text.p;
	work_syms(w, n);
	struct sym *sym = w->sym;
	size_t ns = 0, off = off0, end = off0 + n;
	while (off < end) {
		size_t l = MIN((size_t)u8len[(unsigned char)tx[off] >> 4], end - off);
		sym[ns].start = (uint32_t)off;
		sym[ns].len = (uint32_t)l;
		sym[ns].prev = (int32_t)ns - 1;
		off += l;
		sym[ns].next = off == end ? -1 : (int32_t)ns + 1;
		ns++;
	}
	w->nheap = 0;
	for (size_t k = 1; k < ns; k++)
		spm_try(t, w, (int32_t)k - 1, (int32_t)k);
	while (w->nheap) {
		struct bigram b = spm_heap_pop(w);
		struct sym *L = &sym[b.left], *R = &sym[b.right];
		if (L->len == 0 || R->len == 0 || L->len + R->len != b.llen)
			continue;
		L->len += R->len;
		R->len = 0;
		L->next = R->next;
		if (R->next >= 0)
			sym[R->next].prev = b.left;
		spm_try(t, w, L->prev, b.left);
		spm_try(t, w, b.left, L->next);
	}
	for (int32_t k = 0; k >= 0; k = sym[k].next) {
		int32_t id = find_text(t, tx + sym[k].start, sym[k].len);
		if (id >= 0) {
			ivec_push(out, id);
			continue;
		}
		for (uint32_t j = 0; j < sym[k].len; j++) {
			int32_t bid = spm_byte_token(t, (unsigned char)tx[sym[k].start + j]);
			if (bid < 0)
				bid = t->unk;
			if (bid >= 0)
				ivec_push(out, bid);
		}
	}
}

#define SPM_SPACE "\xE2\x96\x81"

static void spm_fragment(const struct tokenizer *t, struct work *w, const char *raw, size_t rlen,
			 bool prefix_space, struct ivec *out)
{
	struct buf *tx = &w->text;
	buf_clear(tx);
	buf_reserve(tx, rlen + 4);
	if (prefix_space)
		buf_append(tx, SPM_SPACE, 3);
	size_t i = 0;
	while (i < rlen) {
		const char *sp = memchr(raw + i, ' ', rlen - i);
		size_t e = sp ? (size_t)(sp - raw) : rlen;
		buf_append(tx, raw + i, e - i);
		if (!sp)
			break;
		buf_append(tx, SPM_SPACE, 3);
		i = e + 1;
	}
	size_t n = tx->len;
	if (n == 0)
		return;
	if (n > UINT32_MAX - 8) {
		/* not reachable for inputs a context holds; degrade to bytes */
		for (size_t k = 0; k < n; k++)
			ivec_push(out, spm_byte_token(t, (unsigned char)tx->p[k]));
		return;
	}
	if (!t->spm_split) {
		spm_merge(t, w, 0, n, out);
		return;
	}
	/* No token has a U+2581 after its leading run of them, so no merge can
	 * join a character that is no U+2581 with a U+2581 after it: the text is
	 * cut before every run of U+2581 (on the same character boundaries the
	 * merge uses) and the pieces are merged independently, with the same
	 * result and small heaps. */
	static const uint8_t u8len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
	const char *p = tx->p;
	size_t start = 0, pos = 0;
	bool prev_space = false;
	while (pos < n) {
		size_t l = MIN((size_t)u8len[(unsigned char)p[pos] >> 4], n - pos);
		bool space = l == 3 && !memcmp(p + pos, SPM_SPACE, 3);
		if (space && !prev_space && pos > start) {
			spm_merge(t, w, start, pos - start, out);
			start = pos;
		}
		prev_space = space;
		pos += l;
	}
	spm_merge(t, w, start, n - start, out);
}

static inline bool is_space_c(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Cut the special tokens out of the text, llama.cpp style: token by token,
 * longest first, every occurrence in every remaining raw fragment. */
static void partition(const struct tokenizer *t, const char *text, size_t len, bool parse_special,
		      struct fvec *frags)
{
	frags->n = 0;
	if (len == 0)
		return;
	fvec_push(frags, -1, 0, len);
	if (!t->n_special)
		return;
	/* where could a special token start? (first one or two bytes) */
	const unsigned char *u = (const unsigned char *)text;
	struct {
		size_t *p;
		size_t n, cap;
	} cand = {0};
	bool many = false;
	for (size_t i = 0; i < len; i++) {
		bool hit = t->special_first[u[i]];
		if (!hit && i + 1 < len) {
			unsigned k = (unsigned)u[i] << 8 | u[i + 1];
			hit = t->special_pfx[k / 64] >> (k % 64) & 1;
		}
		if (!hit)
			continue;
		if (cand.n == 4096) { /* many candidates: test presence with memmem */
			many = true;
			break;
		}
		if (cand.n == cand.cap) {
			cand.cap = cand.cap ? cand.cap * 2 : 16;
			cand.p = xreallocarray(cand.p, cand.cap, sizeof(*cand.p));
		}
		cand.p[cand.n++] = i;
	}
	if (many)
		cand.n = 0;
	else if (!cand.n)
		return;
	struct fvec nf = {0};
	for (size_t si = 0; si < t->n_special; si++) {
		int32_t id = t->special[si];
		uint16_t a = t->attr[id];
		if (!parse_special && (a & (A_CONTROL | A_UNKNOWN)))
			continue;
		size_t sl;
		const char *ss = tok_text(t, id, &sl);
		if (sl == 0 || sl > len)
			continue;
		bool present = false;
		if (cand.n) {
			for (size_t c = 0; c < cand.n && !present; c++)
				present = cand.p[c] + sl <= len && !memcmp(text + cand.p[c], ss, sl);
		} else {
			present = memmem(text, len, ss, sl) != NULL;
		}
		if (!present)
			continue;
		nf.n = 0;
		for (size_t fi = 0; fi < frags->n; fi++) {
			struct frag f = frags->p[fi];
			if (f.id >= 0) {
				fvec_push(&nf, f.id, 0, 0);
				continue;
			}
			size_t pos = f.off, end = f.off + f.len;
			const char *m;
			while (pos < end && (m = memmem(text + pos, end - pos, ss, sl))) {
				size_t mo = (size_t)(m - text);
				size_t ll = mo - pos;
				if (a & A_LSTRIP)
					while (ll > 0 && is_space_c(text[pos + ll - 1]))
						ll--;
				if (ll > 0)
					fvec_push(&nf, -1, pos, ll);
				fvec_push(&nf, id, 0, 0);
				pos = mo + sl;
				if (a & A_RSTRIP)
					while (pos < end && is_space_c(text[pos]))
						pos++;
			}
			if (pos < end)
				fvec_push(&nf, -1, pos, end - pos);
		}
		struct fvec tmp = *frags;
		*frags = nf;
		nf = tmp;
	}
	free(nf.p);
	free(cand.p);
}

int tokenize(const struct tokenizer *t, const char *text, size_t len, bool add_special, bool parse_special,
	     int32_t **out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	if (!text)
		len = 0;
	struct ivec res = {0};
	struct fvec frags = {0};
	struct work w = {0};
	int rc = 0;

	partition(t, text, len, parse_special, &frags);

	if (add_special && t->add_bos && t->bos >= 0)
		ivec_push(&res, t->bos);
	if (t->model == TOKENIZER_SPM) {
		bool prev_special = true;
		for (size_t i = 0; i < frags.n; i++) {
			if (frags.p[i].id >= 0) {
				ivec_push(&res, frags.p[i].id);
				prev_special = true;
				continue;
			}
			spm_fragment(t, &w, text + frags.p[i].off, frags.p[i].len,
				     t->add_space_prefix && prev_special, &res);
			prev_special = false;
		}
	} else {
		for (size_t i = 0; i < frags.n; i++) {
			if (frags.p[i].id >= 0) {
				ivec_push(&res, frags.p[i].id);
				continue;
			}
			if (!w.md) {
				w.md = pcre2_match_data_create(4, NULL);
				w.mc = pcre2_match_context_create(NULL);
				if (!w.md || !w.mc) {
					rc = -1;
					break;
				}
			}
			if (bpe_fragment(t, &w, text + frags.p[i].off, frags.p[i].len, &res) < 0) {
				rc = -1;
				break;
			}
		}
	}
	if (rc == 0 && add_special && t->add_eos && t->eos >= 0)
		ivec_push(&res, t->eos);
	work_free(&w);
	free(frags.p);
	if (rc < 0) {
		free(res.p);
		return -1;
	}
	if (res.n == 0) {
		free(res.p);
		return 0;
	}
	*out = res.p;
	*n_out = res.n;
	return 0;
}

/* ---- detokenization -------------------------------------------------------- */

static size_t clean_spaces(char *text, size_t total)
{
	/* the three passes of llama.cpp's llama_detokenize() */
	size_t t1 = total, n = total ? 1 : 0;
	for (size_t i = 1; i < t1; i++) {
		char x = text[i];
		if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
			n--;
		text[n++] = x;
	}
	size_t t2 = n;
	n = t2 ? 1 : 0;
	for (size_t i = 1; i < t2; i++) {
		char x = text[i];
		if (x == '\'' && i + 1 < t2 && text[i - 1] == ' ' && text[i + 1] == ' ') {
			n--;
			text[++i] = '\0';
		}
		text[n++] = x;
	}
	size_t t3 = n;
	n = t3 ? 1 : 0;
	for (size_t i = 1; i < t3; i++) {
		char x = text[i];
		if (text[i - 1] == ' ' && x == '\'' && i + 1 < t3) {
			char x1 = text[i + 1];
			if (x1 == 's' || x1 == 'm')
				n--;
			else if (i + 2 < t3) {
				char x2 = text[i + 2];
				if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e'))
					n--;
			}
		}
		text[n++] = x;
	}
	return n;
}

size_t detokenize(const struct tokenizer *t, const int32_t *ids, size_t n, unsigned flags, char *out, size_t cap)
{
	bool remove_space = t->add_space_prefix && !(flags & DETOK_KEEP_LEADING_SPACE);
	bool special = flags & DETOK_UNPARSE_SPECIAL;
	if ((flags & DETOK_REMOVE_SPECIAL) && t->add_bos && n > 0 && ids[0] == t->bos) {
		remove_space = false;
		ids++;
		n--;
	}
	if ((flags & DETOK_REMOVE_SPECIAL) && t->add_eos && n > 0 && ids[n - 1] == t->eos)
		n--;
	struct buf b = {0};
	for (size_t i = 0; i < n; i++) {
		size_t l;
		const char *p = token_piece(t, ids[i], special, &l);
		if (remove_space && l && p[0] == ' ') {
			p++;
			l--;
		}
		remove_space = false;
		buf_append(&b, p, l);
	}
	size_t total = b.len;
	if (t->clean_spaces && !(flags & DETOK_NO_CLEAN_SPACES) && total)
		total = clean_spaces(b.p, total);
	if (out && cap)
		memcpy(out, b.p, MIN(total, cap));
	buf_free(&b);
	return total;
}

void detok_stream_init(struct detok_stream *s, const struct tokenizer *t, unsigned flags)
{
	memset(s, 0, sizeof(*s));
	s->t = t;
	s->flags = flags;
}

static size_t stream_bytes(struct detok_stream *s, const unsigned char *p, size_t n, struct buf *out)
{
	size_t before = out->len;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (s->npend) {
			if ((c & 0xC0) == 0x80) {
				s->pend[s->npend++] = c;
				size_t need = (s->pend[0] & 0xE0) == 0xC0 ? 2 : (s->pend[0] & 0xF0) == 0xE0 ? 3 : 4;
				if (s->npend == need) {
					if (utf8_seq_len(s->pend, need) == need)
						buf_append(out, s->pend, need);
					else
						buf_append(out, "\xEF\xBF\xBD", 3);
					s->npend = 0;
				}
				continue;
			}
			buf_append(out, "\xEF\xBF\xBD", 3); /* cut short */
			s->npend = 0;
		}
		if (c < 0x80)
			buf_putc(out, (char)c);
		else if (c >= 0xC2 && c <= 0xF4)
			s->pend[s->npend++] = c;
		else
			buf_append(out, "\xEF\xBF\xBD", 3);
	}
	return out->len - before;
}

size_t detok_stream_push(struct detok_stream *s, int32_t id, struct buf *out)
{
	size_t l;
	const char *p = token_piece(s->t, id, s->flags & DETOK_UNPARSE_SPECIAL, &l);
	buf_reserve(out, l + 4);
	return stream_bytes(s, (const unsigned char *)p, l, out);
}

size_t detok_stream_flush(struct detok_stream *s, struct buf *out)
{
	if (!s->npend)
		return 0;
	s->npend = 0;
	buf_append(out, "\xEF\xBF\xBD", 3);
	return 3;
}
