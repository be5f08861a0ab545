/* demo.h - the model heft uses when it is given none, so that its first run
 * on a fresh machine shows the whole UI working: a mixture-of-experts model
 * with random weights, a byte-level vocabulary and a chat template, made by
 * "heft-engine synth", several times larger than the budget it is run
 * under (DEMO_MEM), so its experts stream from disk as a big model's do and
 * the experts and I/O panes have numbers from the first answer. Its
 * experts are holes in a sparse file: small on disk. Its answers are
 * noise; the screen says so. */
#ifndef HEFT_DEMO_H
#define HEFT_DEMO_H

#include <stddef.h>
#include <stdint.h>

/* The budget the demo model runs under, unless --mem says otherwise. */
#define DEMO_MEM ((uint64_t)44 << 20)

/* The demo model's path (caller frees), looked for in order: $HEFT_DEMO_MODEL
 * (empty: none), the installed copy (PKGDATADIR/demo-stream.gguf), the same
 * next to the heft binary (a build tree), $XDG_CACHE_HOME/heft/demo-stream.gguf; when none
 * exists the last one is generated with engine_bin's synth (a fraction of a
 * second; a line on stderr says so). NULL with a message in err when there
 * is no demo model to be had. */
char *demo_model(const char *exe_dir, const char *engine_bin, char *err, size_t errlen);

#endif
