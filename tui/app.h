/* app.h - heft's full-screen UI: one poll() over the terminal, the engine's
 * pipes and a timer. */
#ifndef HEFT_APP_H
#define HEFT_APP_H

#include "chat.h"

/* Run the full-screen UI until the user quits; returns the exit status. */
int app_run(const struct chat_config *cfg);

#endif
