/* test-util.c - size parsing, byte formatting, UTF-8 validation, buffers,
 * heft's directories. */
#include "paths.h"
#include "util.h"
#include "test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void)
{
	uint64_t v = 0;
	CHECK(parse_size("6G", &v) && v == 6ull << 30);
	CHECK(parse_size("512M", &v) && v == 512ull << 20);
	CHECK(parse_size("4.5GiB", &v) && v == (uint64_t)(4.5 * (1ull << 30)));
	CHECK(parse_size("100k", &v) && v == 102400);
	CHECK(parse_size("123", &v) && v == 123);
	CHECK(!parse_size("", &v));
	CHECK(!parse_size("G", &v));
	CHECK(!parse_size("-1G", &v));
	CHECK(!parse_size("12X", &v));
	CHECK(!parse_size("1e30T", &v));

	/* A buffer that was only reserved is already a C string (a session's
	 * reply whose first token was half a UTF-8 character was read past its
	 * end by strlen: AddressSanitizer, serve --http). */
	struct buf rb = {0};
	buf_reserve(&rb, 40);
	CHECK(rb.p && rb.len == 0 && strlen(rb.p) == 0);
	buf_puts(&rb, "abc");
	buf_reserve(&rb, 500);
	CHECK(strcmp(rb.p, "abc") == 0);
	buf_free(&rb);

	int64_t i;
	CHECK(parse_i64("42", 0, 100, &i) && i == 42);
	CHECK(!parse_i64("101", 0, 100, &i));
	CHECK(!parse_i64("4x", 0, 100, &i));

	char b[32];
	CHECK(strcmp(fmt_bytes(b, sizeof b, 812), "812 B") == 0);
	CHECK(strcmp(fmt_bytes(b, sizeof b, 3565158), "3.40 MiB") == 0);
	/* rounded up at the last digit shown: parsed back, never less */
	CHECK(strcmp(fmt_bytes_up(b, sizeof b, 3565158), "3.40 MiB") == 0); /* 3.3999996 */
	CHECK(strcmp(fmt_bytes_up(b, sizeof b, 3565159), "3.41 MiB") == 0); /* 3.4000006 */
	CHECK(strcmp(fmt_bytes_up(b, sizeof b, 5ull << 30), "5.00 GiB") == 0);
	CHECK(strcmp(fmt_bytes_up(b, sizeof b, (23ull << 20) + 1), "23.1 MiB") == 0);
	CHECK(strcmp(fmt_bytes_up(b, sizeof b, (999ull << 20) + 1), "1000 MiB") == 0);
	CHECK(strcmp(fmt_bytes_up(b, sizeof b, 812), "812 B") == 0);
	for (uint64_t n = 1000; n < (1ull << 42); n = n * 7 / 5 + 12345) {
		char fig[32], *sp;
		fmt_bytes_up(fig, sizeof fig, n);
		if ((sp = strchr(fig, ' ')))
			memmove(sp, sp + 1, strlen(sp));
		CHECKF(parse_size(fig, &v) && v >= n, "%llu shown as %s", (unsigned long long)n, fig);
	}

	/* XDG: a relative XDG_CACHE_HOME is ignored (the spec), HOME decides */
	setenv("HOME", "/home/h", 1);
	setenv("XDG_CACHE_HOME", "rel/cache", 1);
	char *d = heft_cache_dir();
	CHECK(d && strcmp(d, "/home/h/.cache/heft") == 0);
	free(d);
	setenv("XDG_CACHE_HOME", "/x/cache", 1);
	d = heft_cache_dir();
	CHECK(d && strcmp(d, "/x/cache/heft") == 0);
	free(d);
	setenv("XDG_CACHE_HOME", "", 1);
	unsetenv("HOME");
	CHECK(heft_cache_dir() == NULL);
	char tmpl[] = "/tmp/heft-test-util.XXXXXX", deep[128];
	if (mkdtemp(tmpl)) {
		snprintf(deep, sizeof deep, "%s/a/b/c", tmpl);
		struct stat st;
		CHECK(mkdir_p(deep, 0700) == 0 && stat(deep, &st) == 0 && S_ISDIR(st.st_mode));
		CHECK(mkdir_p(deep, 0700) == 0); /* already there */
		snprintf(deep, sizeof deep, "%s/a/b/c/f", tmpl);
		FILE *fp = fopen(deep, "w");
		if (fp)
			fclose(fp);
		snprintf(deep, sizeof deep, "%s/a/b/c/f/g", tmpl);
		CHECK(mkdir_p(deep, 0700) == -1); /* a file in the way */
		snprintf(deep, sizeof deep, "%s/a/b/c/f", tmpl);
		errno = 0;
		CHECK(mkdir_p(deep, 0700) == -1 && errno == ENOTDIR); /* a file where the directory goes */
		char cmd[160];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
		CHECK(system(cmd) == 0);
	}

	CHECK(utf8_valid("h\xc3\xa9llo \xe2\x96\x81 \xf0\x9f\x98\x80", 15));
	CHECK(!utf8_valid("\xc3", 1));             /* truncated */
	CHECK(!utf8_valid("\xc0\xaf", 2));         /* overlong */
	CHECK(!utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	CHECK(!utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */

	/* The one UTF-8 repair: each bad byte becomes U+FFFD, nothing else is
	 * lost (the engine's session save used to drop a whole turn). */
	struct buf fix = {0};
	utf8_repair(&fix, "hello \xff world \xe6\x97 end", 21);
	CHECK(fix.p && !strcmp(fix.p, "hello \xef\xbf\xbd world \xef\xbf\xbd\xef\xbf\xbd end"));
	CHECK(utf8_valid(fix.p, fix.len));
	buf_clear(&fix);
	utf8_repair(&fix, "caf\xc3\xa9", 5);
	CHECK(!strcmp(fix.p, "caf\xc3\xa9"));
	buf_free(&fix);
	utf8_repair(&fix, "", 0);
	CHECK(fix.p && fix.len == 0);
	buf_free(&fix);

	struct buf bb = {0};
	for (int k = 0; k < 1000; k++)
		buf_printf(&bb, "%d,", k);
	CHECK(bb.len == strlen(bb.p));
	CHECK(strncmp(bb.p, "0,1,2,", 6) == 0);
	buf_free(&bb);

	uint64_t r;
	CHECK(!mul_u64(1ull << 40, 1ull << 30, &r));
	CHECK(mul_u64(1ull << 20, 1ull << 30, &r) && r == 1ull << 50);
	CHECK(!add_u64(UINT64_MAX, 1, &r));
	return test_done("test-util");
}
