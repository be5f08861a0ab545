/* role.c - the names of the roles (see role.h). */
#include <string.h>

#include "role.h"

static const char *const names[ROLE_COUNT] = {
	[ROLE_SYSTEM] = "system",
	[ROLE_USER] = "user",
	[ROLE_ASSISTANT] = "assistant",
	[ROLE_NOTE] = "note",
};

const char *role_name(enum role r)
{
	return (unsigned)r < ROLE_COUNT ? names[r] : "?";
}

int role_lookup(const char *name)
{
	for (int r = ROLE_SYSTEM; r <= ROLE_ASSISTANT; r++)
		if (!strcmp(name, names[r]))
			return r;
	return -1;
}
