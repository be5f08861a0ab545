/* plain.h - heft without the full screen: for pipes, scripts, TERM=dumb and
 * simple terminals. A libedit prompt (or plain lines from a pipe) in, the
 * model's reply streamed out as sanitized text; heft -p PROMPT answers one
 * prompt and exits. The model's text goes to standard output, everything
 * heft itself says goes to standard error. */
#ifndef HEFT_PLAIN_H
#define HEFT_PLAIN_H

#include "chat.h"

/* Returns the exit status: 0, 1 when the engine failed or died (or, with
 * -p, the reply failed), 130 when -p was interrupted. */
int plain_run(const struct chat_config *cfg);

#endif
