/* test-sanitize.c - model output, messages and names from files never
 * reach the terminal raw. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sanitize.h"
#include "test.h"

static char *san(const char *s, size_t n, enum san_mode mode, bool utf8)
{
	static struct buf b;
	buf_clear(&b);
	sanitize_append(&b, s, n, mode, utf8);
	return b.p ? b.p : (char *)"";
}

#define S(lit, mode, utf8) san(lit, sizeof(lit) - 1, mode, utf8)

/* No byte of the output is a C0 control other than the layout ones. */
static bool clean(const char *s, bool allow_layout)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c < 0x20 && !(allow_layout && (c == '\n' || c == '\t'))) || c == 0x7f)
			return false;
	}
	return true;
}

int main(void)
{
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "en_US.UTF-8");

	CHECK(!strcmp(S("plain text", SAN_TEXT, true), "plain text"));
	CHECK(!strcmp(S("\033[31mred\033[0m", SAN_TEXT, true), "^[[31mred^[[0m"));
	CHECK(!strcmp(S("\033]0;title\a", SAN_TEXT, true), "^[]0;title^G"));
	CHECK(!strcmp(S("a\rb\bc\x7f", SAN_TEXT, true), "a^Mb^Hc^?"));
	CHECK(!strcmp(S("line1\nline2\tx", SAN_TEXT, true), "line1\nline2\tx"));
	CHECK(!strcmp(S("line1\nline2\tx", SAN_INLINE, true), "line1\\nline2\\tx"));
	/* NUL inside the text is shown, not a terminator */
	CHECK(!strcmp(S("a\0b", SAN_TEXT, true), "a^@b"));
	/* C1 controls (CSI as U+009B) and bidi overrides are shown */
	CHECK(!strcmp(S("\xc2\x9b" "31m", SAN_TEXT, true), "<9B>31m"));
	CHECK(!strcmp(S("abc\xe2\x80\xae" "def", SAN_TEXT, true), "abc<U+202E>def"));
	/* valid UTF-8 passes; invalid bytes become U+FFFD */
	CHECK(!strcmp(S("caf\xc3\xa9 \xe6\x97\xa5", SAN_TEXT, true), "caf\xc3\xa9 \xe6\x97\xa5"));
	CHECK(!strcmp(S("x\xff" "y", SAN_TEXT, true), "x\xef\xbf\xbdy"));
	CHECK(!strcmp(S("\xe6\x97", SAN_TEXT, true), "\xef\xbf\xbd\xef\xbf\xbd"));
	/* ASCII terminals get '?' for anything non-ASCII */
	CHECK(!strcmp(S("caf\xc3\xa9", SAN_TEXT, false), "caf?"));

	/* Every byte value, alone and after a lead byte: output stays clean. */
	for (int i = 0; i < 256; i++) {
		char in[3] = { (char)i, (char)0xc2, (char)i };
		CHECKF(clean(san(in, 1, SAN_TEXT, true), true), "byte %02x", i);
		CHECKF(clean(san(in, 1, SAN_INLINE, true), false), "byte %02x inline", i);
		CHECKF(clean(san(in + 1, 2, SAN_INLINE, true), false), "c2 %02x", i);
		CHECKF(clean(san(in + 1, 2, SAN_INLINE, false), false), "c2 %02x ascii", i);
	}

	/* Messages (the engine's diagnostics): escaped whatever the locale,
	 * every printable character kept. */
	setlocale(LC_CTYPE, "C");
	struct buf m = { 0 };
	const char hostile[] = "architecture '\033[2J\033]0;X\a\xc2\x9b' caf\xc3\xa9 \xff";
	sanitize_msg(&m, hostile, sizeof hostile - 1);
	CHECKF(!strcmp(m.p, "architecture '^[[2J^[]0;X^G<9B>' caf\xc3\xa9 \xef\xbf\xbd"), "msg: %s", m.p);
	buf_free(&m);

	/* warnx_ quotes names from files: through the sanitizer. */
	char path[] = "/tmp/test-sanitize.XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	int saved = dup(2);
	dup2(fd, 2);
	warnx_("%s: architecture '%s' is not supported", "m.gguf", "\033[2J\033]0;X\a");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	size_t n;
	char *err = read_file(path, &n, 4096);
	unlink(path);
	CHECKF(err && !memchr(err, 0x1b, n) && !memchr(err, 0x07, n) && strstr(err, "'^[[2J^[]0;X^G'"), "warnx_: %s", err);
	free(err);

	/* A stream of pieces: a character cut between two writes arrives whole,
	 * controls are shown. */
	char *out = NULL;
	size_t outlen = 0;
	FILE *fp = open_memstream(&out, &outlen);
	sanitize_write(fp, "a\xe6\x97", 3, true);
	sanitize_write(fp, "\xa5\033[2J\xc2\x9b\n", 8, true);
	sanitize_write(fp, "\033", 1, false);
	fclose(fp);
	CHECKF(outlen == 14 && !memcmp(out, "a\xe6\x97\xa5^[[2J^[[\n\033", 14), "write: %.*s", (int)outlen, out);
	free(out);
	return test_done("test-sanitize");
}
