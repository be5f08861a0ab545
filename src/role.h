/* role.h - who wrote a turn of a conversation, for the engine (which renders
 * the turns with a chat template) and the front end (which shows, saves and
 * sends them). One enum and one table of names for both. */
#ifndef HEFT_ROLE_H
#define HEFT_ROLE_H

/* The first three are the roles of chat messages; a note is the front end's
 * own remark (help, errors), shown but never sent to the engine. */
enum role { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, ROLE_NOTE, ROLE_COUNT };

const char *role_name(enum role r);
/* ROLE_* for "system", "user", "assistant" (the roles a message may have);
 * -1 for anything else, "note" included. */
int role_lookup(const char *name);

#endif
