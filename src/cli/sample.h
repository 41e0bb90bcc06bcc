/*
 * sample.h — the commented ecosystem file that `corral ecosystem` (and
 * `corral init`) writes.
 */
#ifndef CORRAL_SAMPLE_H
#define CORRAL_SAMPLE_H

/* The sample's text, showing corral's own defaults (from the field table)
 * where it shows a default. Caller frees. */
char *sample_ecosystem(void);

#endif
