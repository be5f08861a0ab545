/* fake-engine.c - a stand-in for "heft-engine serve" to drive heft in tests.
 *
 * It speaks heft-protocol(5) for real (through src/protocol.c) but computes
 * nothing: every chat is answered with the same configurable text, cut into
 * small pieces and sent at a configurable rate. Everything it reports about
 * a model is made up and labelled so ("arch":"fake", plan key "fake").
 * It keeps the conversation like the real engine does, so truncate and the
 * prompt counts of done behave alike: a "token" is 4 bytes of the rendered
 * conversation, and n_cached is the prefix shared with the previous one.
 *
 *   fake-engine [-t TEXT] [-r TOKENS_PER_S] [-n N] [-e] [-s] [-k N] [-w TEXT] [-g N]
 *               [-L] [-d MS] [-D MS] [-p PIDFILE] [-l LOG]
 *     -t TEXT   the reply; \e \n \t \\ are interpreted (default: a reply with
 *               an escape sequence, a code block and a long line)
 *     -r RATE   tokens per second (default 40; 0 = as fast as possible)
 *     -n N      send N tokens per reply, repeating the text (default: the text once)
 *     -e        echo: the reply is "You said: " and the last user message
 *     -s        send stats events (made-up numbers) while generating
 *     -k N      die with SIGKILL after N tokens of the first reply
 *     -w TEXT   with -k: write the line TEXT to stderr first (a last word)
 *     -g N      print N lines of garbage before the hello
 *     -L        refuse to load a model file that does not exist (error "load")
 *     -d MS     a load takes MS milliseconds, reading no request meanwhile
 *               (as the real engine's load)
 *     -D MS     each chat first works MS milliseconds before its first token
 *               (as the real engine dropping old turns), ended by a cancel
 *     -p FILE   write our pid to FILE (so a test can kill -9 us)
 *     -l FILE   append every request line received to FILE */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linereader.h"
#include "protocol.h"
#include "util.h"

static const char *default_text =
	"Here is some \\e[31mred\\e[0m text and a title change \\e]0;pwned\\a attempt.\\n"
	"```c\\nint main(void) { return 0; }\\n```\\n"
	"This is a deliberately long line that keeps going well past the width of any "
	"reasonable terminal pane so that the conversation pane has to wrap it over "
	"several rows without losing a single word of it. END";

static struct buf reply;
static double rate = 40;
static bool send_stats;
static long kill_after = -1;
static const char *last_word;
static long n_tokens = -1;
static bool echo, check_load;
static int load_ms, drop_ms;
static bool have_model;	/* with -L: a load succeeded */
static FILE *reqlog;

/* The conversation, and what the "KV cache" holds: its rendering. */
struct turn {
	char *role, *content;
};
static struct turn *conv;
static size_t n_conv;
static struct buf kv;

static void conv_add(const char *role, const char *content)
{
	conv = xreallocarray(conv, n_conv + 1, sizeof *conv);
	conv[n_conv].role = xstrdup(role);
	conv[n_conv].content = xstrdup(content);
	n_conv++;
}

static void conv_truncate(size_t k)
{
	while (n_conv > k) {
		n_conv--;
		free(conv[n_conv].role);
		free(conv[n_conv].content);
	}
}

static void render(struct buf *b)
{
	buf_clear(b);
	for (size_t i = 0; i < n_conv; i++)
		buf_printf(b, "<%s>%s</%s>\n", conv[i].role, conv[i].content, conv[i].role);
}

/* Evaluate the conversation: n_cached tokens kept, n_prompt computed. */
static void prefill(int64_t *n_prompt, int64_t *n_cached)
{
	struct buf now = { 0 };
	size_t same = 0;

	render(&now);
	while (same < now.len && same < kv.len && now.p[same] == kv.p[same])
		same++;
	*n_cached = (int64_t)(same / 4);
	*n_prompt = (int64_t)((now.len + 3) / 4) - *n_cached;
	buf_free(&kv);
	kv = now;
}
static struct linereader lr;
static struct buf out;

static void unescape(const char *s)
{
	for (; *s; s++) {
		if (*s != '\\' || !s[1]) {
			buf_putc(&reply, *s);
			continue;
		}
		s++;
		switch (*s) {
		case 'e': buf_putc(&reply, 27); break;
		case 'n': buf_putc(&reply, '\n'); break;
		case 't': buf_putc(&reply, '\t'); break;
		case 'a': buf_putc(&reply, 7); break;
		default: buf_putc(&reply, *s); break;
		}
	}
}

static void emit(const struct msg *m)
{
	msg_encode(m, &out);
	write_full(1, out.p, out.len);
	buf_clear(&out);
}

static void emit_error(enum msg_errcode code, const char *text, bool has_id, int64_t id)
{
	struct msg m = { .type = MSG_ERROR };
	m.error.code = code;
	m.error.message = (char *)text;
	m.error.has_id = has_id;
	m.error.id = id;
	emit(&m);
}

static void emit_stats(long n)
{
	struct msg m = { .type = MSG_STATS };
	double hits[8], miss[8];

	for (int i = 0; i < 8; i++) {
		hits[i] = (double)((n * (i + 3)) % 50 + 10);
		miss[i] = (double)((n * (i + 1)) % 20 + 1);
	}
	msg_numbers_add(&m.stats.stats, "fake", 1);
	msg_numbers_add(&m.stats.stats, "gen_tok_s", rate);
	msg_numbers_add(&m.stats.stats, "read_mb_s", (double)((n * 37) % 400));
	msg_numbers_add(&m.stats.stats, "io_wait_ms", (double)(n % 7));
	msg_numbers_add(&m.stats.stats, "compute_ms", 10);
	msg_numbers_add(&m.stats.stats, "rss", 3.0 * (1 << 30));
	msg_numbers_add(&m.stats.stats, "budget", 8.0 * (1 << 30));
	msg_numbers_add_array(&m.stats.stats, "layer_hits", hits, 8);
	msg_numbers_add_array(&m.stats.stats, "layer_misses", miss, 8);
	emit(&m);
	msg_numbers_free(&m.stats.stats);
}

static bool handle(const char *line, size_t len, int64_t *cancel_id, bool generating);

static bool stdin_eof;

/* Wait up to ms for a request; handle what arrives. Returns false after a
 * quit request. At end of input the requests already read still finish. */
static bool pump(int ms, int64_t *cancel_id, bool generating)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	if (stdin_eof || poll(&p, 1, ms) <= 0)
		return true;
	ssize_t r = lr_read(&lr, 0);
	if (r == 0) {
		lr_eof(&lr);
		stdin_eof = true;
	}
	const char *line;
	size_t len;
	enum lr_status st;
	while ((st = lr_next(&lr, &line, &len)) == LR_LINE || st == LR_TOO_LONG) {
		if (st == LR_TOO_LONG) {
			emit_error(MSG_E_TOO_LONG, "line too long", false, 0);
			continue;
		}
		if (!handle(line, len, cancel_id, generating))
			return false;
	}
	return true;
}

static long total_tokens;

static void generate(int64_t id)
{
	int64_t cancel_id = -2, n_prompt, n_cached;
	long n = 0;
	size_t i = 0;
	enum msg_reason reason = DONE_EOS;
	struct buf said = { 0 };
	struct buf text = { 0 };

	prefill(&n_prompt, &n_cached);
	for (double t0 = now_sec(); drop_ms > 0 && now_sec() - t0 < drop_ms / 1000.0;) {
		if (!pump(10, &cancel_id, true) || cancel_id == -1 || cancel_id == id) {
			reason = DONE_CANCEL;
			text.len = 0;
			goto done;
		}
	}
	if (echo) {
		const char *last = "";
		for (size_t k = 0; k < n_conv; k++)
			if (!strcmp(conv[k].role, "user"))
				last = conv[k].content;
		buf_printf(&text, "You said: %s. END", last);
	} else {
		buf_append(&text, reply.p, reply.len);
	}
	while (text.len && (n_tokens >= 0 ? n < n_tokens : i < text.len)) {
		if (i >= text.len)
			i = 0;	/* -n: round and round */
		/* Pieces of up to 4 bytes, never splitting a UTF-8 character. */
		size_t j = i, take = 0;
		while (j < text.len && take < 4) {
			size_t l = utf8_seq_len((const unsigned char *)text.p + j, text.len - j);
			if (l == 0)
				l = 1;
			j += l;
			take++;
			if (text.p[j - 1] == ' ' || text.p[j - 1] == '\n')
				break;
		}
		struct msg m = { .type = MSG_TOKEN };
		m.token.id = id;
		m.token.tok = (int64_t)(1000 + (unsigned char)text.p[i] * 7 + (long)(j - i));
		char *piece = xstrndup(text.p + i, j - i);
		buf_append(&said, piece, j - i);
		m.token.text = piece;
		m.token.t_ms = rate > 0 ? 1000.0 / rate : 0.1;
		m.token.has_io_wait = true;
		m.token.io_wait_ms = (n % 5 == 0) ? m.token.t_ms / 2 : 0;
		emit(&m);
		free(piece);
		i = j;
		n++;
		total_tokens++;
		if (send_stats && n % 8 == 0)
			emit_stats(total_tokens);
		if (kill_after >= 0 && total_tokens >= kill_after) {
			if (last_word)
				fprintf(stderr, "%s\n", last_word);
			kill(getpid(), SIGKILL);
		}
		if (!pump(rate > 0 ? (int)(1000 / rate) : 0, &cancel_id, true)) {
			reason = DONE_CANCEL;
			break;
		}
		if (cancel_id == -1 || cancel_id == id) {
			reason = DONE_CANCEL;
			break;
		}
	}
done:
	if (said.len) {	/* the reply joins the conversation and the cache */
		conv_add("assistant", said.p);
		render(&kv);
	}
	buf_free(&said);
	buf_free(&text);
	struct msg d = { .type = MSG_DONE };
	d.done.id = id;
	d.done.reason = reason;
	d.done.n_prompt = n_prompt;
	d.done.n_cached = n_cached;
	d.done.n_gen = n;
	d.done.prompt_tok_s = 100;
	d.done.gen_tok_s = rate;
	emit(&d);
}

static bool handle(const char *line, size_t len, int64_t *cancel_id, bool generating)
{
	struct msg m = { 0 };
	struct msg_err err;
	bool go_on = true;

	if (reqlog) {
		fprintf(reqlog, "%.*s\n", (int)len, line);
		fflush(reqlog);
	}
	if (!msg_decode(&m, line, len, MSG_REQUEST, &err)) {
		struct msg e = { 0 };
		msg_error_event(&e, &err);
		emit(&e);
		msg_free(&e);
		return true;
	}
	switch (m.type) {
	case MSG_HELLO:
		if (!msg_hello_check(&m.hello, &err)) {
			emit_error(err.code, err.text, false, 0);
			exit(1);
		}
		break;
	case MSG_LOAD: {
		struct stat st;
		if (check_load && stat(m.load.model, &st) != 0) {
			char e[512];
			snprintf(e, sizeof e, "%s: %s", m.load.model, strerror(errno));
			emit_error(MSG_E_LOAD, e, false, 0);
			have_model = false;
			break;
		}
		have_model = true;
		struct msg p = { .type = MSG_PROGRESS };
		p.progress.what = "load";
		p.progress.total = 4;
		for (int k = 1; k <= 4; k++) {
			p.progress.done = k;
			emit(&p);
			if (load_ms > 0)
				usleep((useconds_t)load_ms * 250);
		}
		struct msg l = { .type = MSG_LOADED };
		l.loaded.model = m.load.model;
		l.loaded.arch = "fake";
		l.loaded.n_params = 1000;
		l.loaded.n_ctx = 4096;
		l.loaded.n_layer = 8;
		l.loaded.n_expert = 16;
		l.loaded.n_expert_used = 2;
		msg_numbers_add(&l.loaded.plan, "fake", 1);
		msg_numbers_add(&l.loaded.plan, "budget", 8.0 * (1 << 30));
		emit(&l);
		msg_numbers_free(&l.loaded.plan);
		break;
	}
	case MSG_CHAT:
	case MSG_COMPLETE: {
		int64_t id = m.type == MSG_CHAT ? m.chat.id : m.complete.id;
		if (generating) {
			emit_error(MSG_E_BUSY, "a generation is already running", true, id);
			break;
		}
		if (check_load && !have_model) {
			emit_error(MSG_E_NO_MODEL, "no model loaded", true, id);
			break;
		}
		if (m.type == MSG_CHAT && m.chat.messages) {
			conv_truncate(0);
			for (size_t k = 0; k < m.chat.n_messages; k++)
				conv_add(m.chat.messages[k].role, m.chat.messages[k].content);
		} else if (m.type == MSG_CHAT) {
			conv_add("user", m.chat.text);
		} else {
			conv_truncate(0);
			conv_add("raw", m.complete.prompt);
		}
		generate(id);
		break;
	}
	case MSG_CANCEL:
		if (generating)
			*cancel_id = m.cancel.has_id ? m.cancel.id : -1;
		break;
	case MSG_STATS_REQUEST:
		if (send_stats) {
			emit_stats(total_tokens);
		} else {
			struct msg s = { .type = MSG_STATS };
			emit(&s);
		}
		break;
	case MSG_QUIT:
		if (generating)
			*cancel_id = -1;
		go_on = false;
		break;
	case MSG_TRUNCATE:
		if ((size_t)m.truncate.turn > n_conv) {
			emit_error(MSG_E_NOT_FOUND, "no such turn", false, 0);
		} else {	/* the cache keeps the rendering of the kept turns */
			conv_truncate((size_t)m.truncate.turn);
			render(&kv);
		}
		break;
	case MSG_SET:
		break;
	default:
		emit_error(MSG_E_UNSUPPORTED, "the fake engine does not do that", false, 0);
		break;
	}
	msg_free(&m);
	if (!go_on && !generating)
		exit(0);
	return go_on;
}

int main(int argc, char **argv)
{
	const char *text = default_text, *pidfile = NULL;
	int c;

	heft_progname = "fake-engine";
	long garbage = 0;
	while ((c = getopt(argc, argv, "t:r:n:esk:w:g:Ld:D:p:l:")) != -1) {
		switch (c) {
		case 't': text = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'n': n_tokens = atol(optarg); break;
		case 'e': echo = true; break;
		case 'g': garbage = atol(optarg); break;
		case 'L': check_load = true; break;
		case 'd': load_ms = atoi(optarg); break;
		case 'D': drop_ms = atoi(optarg); break;
		case 's': send_stats = true; break;
		case 'k': kill_after = atol(optarg); break;
		case 'w': last_word = optarg; break;
		case 'p': pidfile = optarg; break;
		case 'l':
			reqlog = fopen(optarg, "a");
			if (!reqlog)
				die_errno("%s", optarg);
			break;
		default:
			fprintf(stderr, "usage: fake-engine [-t TEXT] [-r RATE] [-n N] [-e] [-s] [-k N] [-w TEXT] [-g N] [-L] [-d MS] [-D MS] "
				"[-p PIDFILE] [-l LOG]\n");
			return 2;
		}
	}
	unescape(text);
	signal(SIGPIPE, SIG_IGN);
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (!f)
			die_errno("%s", pidfile);
		fprintf(f, "%ld\n", (long)getpid());
		fclose(f);
	}
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	lr_init(&lr, PROTO_LINE_MAX);
	for (long g = 0; g < garbage; g++) {
		static const char junk[] = "this is not JSON \x01\x02 {\"type\":\n";
		write_full(1, junk, sizeof junk - 1);
	}
	struct msg h = { .type = MSG_HELLO };
	h.hello.protocol = PROTO_VERSION;
	h.hello.program = "fake-engine";
	h.hello.version = "0.0-fake";
	emit(&h);
	fprintf(stderr, "fake-engine: ready (pid %ld)\n", (long)getpid());
	int64_t dummy = -2;
	while (!stdin_eof && pump(-1, &dummy, false))
		;
	return 0;
}
