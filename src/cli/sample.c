/*
 * sample.c — the commented ecosystem file `corral ecosystem` writes.
 */
#include "cli/sample.h"

#include <jansson.h>
#include <stdlib.h>

#include "common/spec.h"
#include "common/util.h"

/* "      key: value," padded to the column of the comments. */
static char *
entry(const char *key, const char *value)
{
	char *left = xasprintf("      %s: %s,", key, value);
	char *line = xasprintf("%-36s", left);
	free(left);
	return line;
}

char *
sample_ecosystem(void)
{
	json_t *defaults = spec_defaults();
	char *lb_value = xasprintf("'%s'", json_string_value(json_object_get(defaults, "lb")));
	char *kill_value = xasprintf("%lld",
	    (long long)json_integer_value(json_object_get(defaults, "kill_timeout")));
	char *lb = entry("lb", lb_value);
	char *kill_timeout = entry("kill_timeout", kill_value);
	char *text = xasprintf(
"// corral ecosystem file — the same format as PM2's.\n"
"// Start it with `corral start`, check it with `corral config`.\n"
"module.exports = {\n"
"  apps: [\n"
"    {\n"
"      name: 'web',\n"
"      script: './server.js',        // a file, a program on PATH, or a command line\n"
"      args: '--port 3000',          // or ['--port', '3000']\n"
"      instances: 'max',             // cluster mode: one instance per usable CPU\n"
"%s// least-busy, even, sticky (by client address), shared\n"
"      max_memory_restart: '300M',   // the whole process tree, checked every second\n"
"%s// ms from the stop signal to SIGKILL\n"
"      // wait_ready: true,          // ready on process.send('ready') or READY=1\n"
"      env: {\n"
"        NODE_ENV: 'development',\n"
"      },\n"
"      env_production: {             // corral start ecosystem.config.js --env production\n"
"        NODE_ENV: 'production',\n"
"      },\n"
"    },\n"
"    {\n"
"      name: 'worker',\n"
"      script: 'worker.py',          // python3, unbuffered\n"
"      cron_restart: '0 3 * * *',    // restart every day at 03:00\n"
"      exp_backoff_restart_delay: 100,\n"
"    },\n"
"  ],\n"
"  // corral deploy production setup, then corral deploy production (docs/deploy.md)\n"
"  deploy: {\n"
"    production: {\n"
"      user: 'deploy',\n"
"      host: ['web1.example.com', 'web2.example.com'],\n"
"      ref: 'origin/main',\n"
"      repo: 'git@github.com:example/app.git',\n"
"      path: '/srv/app',                 // source/, releases/, current -> releases/...\n"
"      keep_releases: 5,\n"
"      'post-deploy': 'npm ci && corral startOrReload ecosystem.config.js --env production',\n"
"      env: {\n"
"        NODE_ENV: 'production',\n"
"      },\n"
"    },\n"
"  },\n"
"};\n", lb, kill_timeout);
	free(lb);
	free(kill_timeout);
	free(lb_value);
	free(kill_value);
	json_decref(defaults);
	return text;
}
