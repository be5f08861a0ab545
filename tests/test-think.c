/* test-think.c - think_split: where a reply's thinking and answer are,
 * whole and at every length while it streams. */
#include <stdio.h>
#include <string.h>

#include "think.h"
#include "test.h"

static void check(const char *s, bool has, bool closed, const char *reason, const char *answer)
{
	struct think t;
	size_t n = strlen(s);
	think_split(s, n, &t);
	CHECK(t.has == has);
	CHECK(t.closed == closed);
	CHECK(t.re - t.rb == strlen(reason) && !memcmp(s + t.rb, reason, t.re - t.rb));
	CHECK(n - t.ab == strlen(answer) && !strcmp(s + t.ab, answer));
}

int main(void)
{
	check("Hello", false, false, "", "Hello");
	check("", false, false, "", "");
	check("<think>\nplan it\n</think>\n\nHello", true, true, "plan it", "Hello");
	check("  <think>a b</think>Hi <think>x</think>", true, true, "a b", "Hi <think>x</think>");
	check("<think>\nstill going", true, false, "still going", "");
	check("Say <think>", false, false, "", "Say <think>");
	check("<think></think>", true, true, "", "");

	/* Streaming: every prefix is a prefix-consistent split, never an
	 * answer that later turns out to be thinking. */
	const char *full = "<think>\nstep one, step two\n</think>\n\nThe answer.";
	size_t n = strlen(full);
	for (size_t k = 0; k <= n; k++) {
		struct think t;
		think_split(full, k, &t);
		if (k < strlen(THINK_OPEN))
			CHECK(t.maybe && t.ab == k);
		else
			CHECK(t.has && !t.maybe);
		CHECK(t.ab <= k);
		/* What is shown as answer is always a prefix of the final answer. */
		const char *ans = strstr(full, "The answer.");
		CHECK(!memcmp(full + t.ab, ans, k - t.ab) || t.ab == k);
	}
	CHECK(think_words("a  bc\n d", 0, 8) == 3);
	CHECK(think_words("", 0, 0) == 0);
	return test_done("test-think");
}
