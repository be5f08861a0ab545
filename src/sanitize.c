/* sanitize.c - visible notation for control characters in untrusted text. */
#include <stdio.h>
#include <wctype.h>

#include "sanitize.h"

static void put_cp(struct buf *out, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(out, b, n);
}

static uint32_t decode(const unsigned char *s, size_t len)
{
	uint32_t cp = len == 1 ? s[0] : len == 2 ? s[0] & 0x1fu : len == 3 ? s[0] & 0x0fu : s[0] & 0x07u;

	for (size_t i = 1; i < len; i++)
		cp = cp << 6 | (s[i] & 0x3fu);
	return cp;
}

/* Characters that change how the terminal lays out what follows without
 * showing themselves: reordering controls can make text lie about itself. */
static bool invisible_format(uint32_t cp)
{
	return (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061c || cp == 0xfeff ||
	       (cp >= 0xfff9 && cp <= 0xfffb);
}

static void append(struct buf *out, const char *s, size_t n, enum san_mode mode, bool utf8, bool by_locale)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	buf_reserve(out, n);
	while (i < n) {
		unsigned char c = p[i];

		if (c < 0x80) {
			if (c == '\n' || c == '\t') {
				if (mode == SAN_TEXT)
					buf_putc(out, (char)c);
				else
					buf_puts(out, c == '\n' ? "\\n" : "\\t");
			} else if (c < 0x20) {
				buf_putc(out, '^');
				buf_putc(out, (char)(c + 0x40));
			} else if (c == 0x7f) {
				buf_puts(out, "^?");
			} else {
				buf_putc(out, (char)c);
			}
			i++;
			continue;
		}
		size_t len = utf8_seq_len(p + i, n - i);
		if (len == 0) {
			buf_puts(out, utf8 ? "\xef\xbf\xbd" : "?");
			i++;
			continue;
		}
		uint32_t cp = decode(p + i, len);
		if (cp < 0xa0) {
			buf_printf(out, "<%02X>", (unsigned)cp);
		} else if (invisible_format(cp) || (cp >= 0xe0000 && cp <= 0xe007f)) {
			buf_printf(out, "<U+%04X>", (unsigned)cp);
		} else if (!utf8) {
			buf_putc(out, '?');
		} else if (by_locale && !iswprint((wint_t)cp)) {
			buf_printf(out, "<U+%04X>", (unsigned)cp);
		} else {
			put_cp(out, cp);
		}
		i += len;
	}
}

void sanitize_append(struct buf *out, const char *s, size_t n, enum san_mode mode, bool utf8)
{
	append(out, s, n, mode, utf8, true);
}

void sanitize_msg(struct buf *out, const char *s, size_t n)
{
	append(out, s, n, SAN_TEXT, true, false);
	if (!out->p)
		buf_append(out, "", 0);
}

void sanitize_write(FILE *fp, const char *s, size_t n, bool escape)
{
	if (!escape) {
		fwrite(s, 1, n, fp);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9F) {
			/* C1 control: 0x9B is CSI on many terminals; show its 7-bit form */
			fprintf(fp, "^[%c", (unsigned char)s[++i] - 0x40);
		} else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
			fputc('^', fp);
			fputc(c == 0x7F ? '?' : c + 0x40, fp);
		} else {
			fputc(c, fp);
		}
	}
}
