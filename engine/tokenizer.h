/* tokenizer.h - text <-> token ids, read from a GGUF's tokenizer.ggml.* keys.
 *
 * Two tokenizer models are supported:
 *  - byte-level BPE ("gpt2"): the family's pre-tokenizer regexes (chosen from
 *    tokenizer.ggml.pre, run through PCRE2 in UTF+UCP mode), the GPT-2
 *    byte-to-unicode mapping and merges applied by rank;
 *  - SentencePiece BPE ("llama"): U+2581 for spaces, bigram merges by score,
 *    <0xNN> byte fallback, add_space_prefix.
 * The behaviour follows llama.cpp's (src/llama-vocab.cpp, src/unicode.cpp) so
 * that the same text gives the same ids.
 *
 * A loaded tokenizer is immutable: every function taking a const pointer may
 * be called from several threads at once. */
#ifndef HEFT_TOKENIZER_H
#define HEFT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gguf;
struct buf;
struct tokenizer;

#define TOKEN_NULL (-1)

/* Token types as stored in tokenizer.ggml.token_type. */
enum token_type {
	TOKEN_TYPE_UNDEFINED = 0,
	TOKEN_TYPE_NORMAL = 1,
	TOKEN_TYPE_UNKNOWN = 2,
	TOKEN_TYPE_CONTROL = 3,
	TOKEN_TYPE_USER_DEFINED = 4,
	TOKEN_TYPE_UNUSED = 5,
	TOKEN_TYPE_BYTE = 6,
};

enum tokenizer_model {
	TOKENIZER_BPE, /* "gpt2": byte-level BPE */
	TOKENIZER_SPM, /* "llama": SentencePiece BPE */
};

/* Build the tokenizer of a model. On failure returns NULL and writes a
 * one-line reason to err (errlen bytes). Warnings (unknown pre-tokenizer,
 * out-of-range special ids, ...) go to stderr. */
struct tokenizer *tokenizer_load(const struct gguf *g, char *err, size_t errlen);
void tokenizer_free(struct tokenizer *t);

/* Tokenize len bytes of text (need not be NUL-terminated or valid UTF-8).
 * add_special: add BOS/EOS as the model asks (tokenizer.ggml.add_bos_token,
 * add_eos_token). parse_special: CONTROL tokens written in the text (e.g.
 * "<|im_start|>") become their ids; USER_DEFINED tokens are always matched
 * (as llama.cpp does). *out is malloc'd (free() it), *n_out its length; an
 * empty result gives *out = NULL, *n_out = 0. Returns 0, or -1 on an
 * internal failure (regex engine error, out of memory), *out = NULL. */
int tokenize(const struct tokenizer *t, const char *text, size_t len, bool add_special,
	     bool parse_special, int32_t **out, size_t *n_out);

/* Vocabulary facts. Ids are in [0, tokenizer_n_vocab()). */
size_t tokenizer_n_vocab(const struct tokenizer *t);
enum tokenizer_model tokenizer_model(const struct tokenizer *t);
const char *tokenizer_pre_name(const struct tokenizer *t); /* the pre-tokenizer in use */
int32_t tokenizer_bos(const struct tokenizer *t); /* TOKEN_NULL when absent */
int32_t tokenizer_eos(const struct tokenizer *t);
int32_t tokenizer_eot(const struct tokenizer *t);
int32_t tokenizer_eom(const struct tokenizer *t);
int32_t tokenizer_unk(const struct tokenizer *t);
int32_t tokenizer_pad(const struct tokenizer *t);
int32_t tokenizer_nl(const struct tokenizer *t);
bool tokenizer_add_bos(const struct tokenizer *t);
bool tokenizer_add_eos(const struct tokenizer *t);
/* End of generation: EOS, EOT, EOM and the tokens llama.cpp treats alike
 * (<|im_end|>, <|endoftext|>, <|eot_id|>, <|return|>, ...). */
bool tokenizer_is_eog(const struct tokenizer *t, int32_t id);
/* The token's type (enum token_type); TOKEN_TYPE_UNDEFINED for a bad id. */
enum token_type tokenizer_token_type(const struct tokenizer *t, int32_t id);
/* The token as stored in the vocabulary ("Ġthe", "▁the", "<0x0A>"), len in
 * *len; NULL for a bad id. */
const char *tokenizer_token_text(const struct tokenizer *t, int32_t id, size_t *len);
/* Find a token by its vocabulary text; TOKEN_NULL if absent. */
int32_t tokenizer_find(const struct tokenizer *t, const char *text, size_t len);

/* The bytes a token stands for (" the", "\n", one byte of a UTF-8
 * sequence...), *len set. CONTROL and UNKNOWN tokens give their text when
 * special is true and "" otherwise. Never NULL (a bad id gives ""). */
const char *token_piece(const struct tokenizer *t, int32_t id, bool special, size_t *len);

/* Detokenize flags. */
enum {
	DETOK_REMOVE_SPECIAL = 1 << 0,  /* drop a leading BOS / trailing EOS the model adds */
	DETOK_UNPARSE_SPECIAL = 1 << 1, /* render CONTROL tokens as their text */
	DETOK_NO_CLEAN_SPACES = 1 << 2, /* skip llama.cpp's " ." -> "." clean-up (BPE) */
	DETOK_KEEP_LEADING_SPACE = 1 << 3, /* SPM: keep the space added by add_space_prefix */
};

/* Ids -> text the way llama.cpp's llama_detokenize() does it: SPM strips the
 * leading space of the first piece (unless a BOS was removed before it), BPE
 * vocabularies with clean_spaces undo the tokenizer-side spacing of
 * punctuation. Writes at most cap bytes (no NUL) and returns the full length
 * (> cap means truncated, as snprintf). Invalid ids render as "". */
size_t detokenize(const struct tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
		  char *out, size_t cap);

/* Streaming detokenizer: feed ids one at a time; only complete, valid UTF-8
 * is appended to the output, an incomplete sequence at the end of a piece is
 * held back until the next piece completes it (invalid bytes come out as
 * U+FFFD). flags: DETOK_UNPARSE_SPECIAL. */
struct detok_stream {
	const struct tokenizer *t;
	unsigned flags;
	unsigned char pend[4];
	size_t npend;
};
void detok_stream_init(struct detok_stream *s, const struct tokenizer *t, unsigned flags);
/* Append the text that became complete to out; returns the bytes appended. */
size_t detok_stream_push(struct detok_stream *s, int32_t id, struct buf *out);
/* End of stream: a held-back incomplete sequence comes out as U+FFFD. */
size_t detok_stream_flush(struct detok_stream *s, struct buf *out);

#endif
