/*
 * render.h — what the CLI prints: the process table (PM2's columns), the
 * describe view, the normalized config. Coloured on a terminal, plain when
 * piped or when NO_COLOR is set.
 */
#ifndef CORRAL_RENDER_H
#define CORRAL_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Should output to this stream be coloured? */
bool render_color(FILE *f);
void render_list(FILE *f, json_t *procs);
void render_describe(FILE *f, json_t *proc);
/* The in-app metrics of a process (its "axm_monitor"), as a table; nothing
 * when it has none. */
void render_metrics(FILE *f, json_t *metrics);
/* Does this process (a process object) run with corral's Node agent? */
bool proc_has_agent(json_t *p);
void render_config(FILE *f, json_t *apps);
/* Print JSON (pretty when human, compact for jlist). */
void render_json(FILE *f, json_t *j, bool pretty);

#endif
