/*
 * verbs_web.c — `corral web start|stop|status`: the daemon's HTTP server
 * (docs/web.md). The daemon binds the address and reads the token file
 * first; only then are they kept in settings.json (web:listen,
 * web:token_file), so a refused address is not the next daemon's setting.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/verbs.h"
#include "common/httproute.h"
#include "common/settings.h"

#define WEB_DEFAULT_LISTEN "127.0.0.1:9615"

static json_t *
call_web(struct ctx *x, json_t *req)
{
	json_t *r = cli_call(x, req, QUICK_TIMEOUT_MS);
	return r;
}

static void
print_status(struct ctx *x, json_t *web)
{
	if (args_has(&x->a, "json")) {
		char *s = json_dumps(web, JSON_COMPACT);
		printf("%s\n", s);
		free(s);
		return;
	}
	if (!json_is_true(json_object_get(web, "listening"))) {
		printf("corral web: off (corral web start serves on %s)\n", WEB_DEFAULT_LISTEN);
		return;
	}
	const char *tf = json_string_value(json_object_get(web, "token_file"));
	printf("corral web: serving on http://%s/ — %s%s; %lld connection(s) open, %lld "
	    "request(s) served\n", json_string_value(json_object_get(web, "listen")),
	    tf ? "actions need the token in " : "read-only (no token file)", tf ? tf : "",
	    (long long)json_integer_value(json_object_get(web, "connections")),
	    (long long)json_integer_value(json_object_get(web, "requests")));
}

static int
web_start_verb(struct ctx *x)
{
	const char *listen = args_get(&x->a, "listen");
	listen = listen ? listen : WEB_DEFAULT_LISTEN;
	const char *tf = args_get(&x->a, "token-file");
	char *err = NULL;
	if (settings_check("web:listen", listen, &err) < 0) {
		int rc = cli_fail(x, "%s", err + strlen("web:listen: "));
		free(err);
		return rc;
	}
	char *token_file = NULL;
	if (tf) {
		token_file = realpath(tf, NULL);
		if (!token_file)
			return cli_fail(x, "token file %s: %s", tf, strerror(errno));
	}
	json_t *req = json_pack("{s:s, s:s, s:s, s:s?}", "cmd", "web", "action", "start",
	    "listen", listen, "token_file", token_file);
	json_t *r = call_web(x, req);
	if (!r) {
		free(token_file);
		return 1;
	}
	const char *keys[] = {"web:listen", "web:token_file"};
	const char *values[] = {listen, token_file};
	int rc = settings_change(x, keys, values, 2);
	char host[64];
	int port;
	if (rc == 0 && !token_file && listen_parse(listen, host, sizeof(host), &port, &err) == 0 &&
	    !listen_is_loopback(host))
		fprintf(stderr, "corral web: warning: %s is not a loopback address and there is no "
		    "token file: whoever reaches it sees every process and its logs\n", listen);
	if (rc == 0 && !args_has(&x->a, "silent")) {
		if (args_has(&x->a, "json"))
			print_status(x, json_object_get(r, "web"));
		else
			printf("corral web: serving on http://%s/ — %s%s\n", listen, token_file
			    ? "actions need the token in " : "read-only (no token file)",
			    token_file ? token_file : "");
	}
	free(err);
	free(token_file);
	json_decref(r);
	return rc;
}

int
verb_web(struct ctx *x)
{
	const char *sub = x->a.pos[0];
	if (!sub || x->a.pos[1])
		return cli_usage_error(x);
	if ((args_has(&x->a, "listen") || args_has(&x->a, "token-file")) &&
	    strcmp(sub, "start") != 0)
		return cli_fail(x, "--listen and --token-file go with web start");
	if (strcmp(sub, "start") == 0)
		return web_start_verb(x);
	if (strcmp(sub, "stop") == 0) {
		json_t *r = call_web(x, json_pack("{s:s, s:s}", "cmd", "web", "action", "stop"));
		if (!r)
			return 1;
		json_decref(r);
		const char *key = "web:listen", *none = NULL;
		int rc = settings_change(x, &key, &none, 1);
		if (rc == 0 && !args_has(&x->a, "silent"))
			printf("corral web: stopped\n");
		return rc;
	}
	if (strcmp(sub, "status") == 0) {
		json_t *r = call_web(x, json_pack("{s:s, s:s}", "cmd", "web", "action", "status"));
		if (!r)
			return 1;
		print_status(x, json_object_get(r, "web"));
		json_decref(r);
		return 0;
	}
	return cli_fail(x, "unknown action \"%s\" (start, stop or status)", sub);
}
