/*
 * suggest.c — near misses and PM2's missing commands (suggest.h).
 */
#include "cli/suggest.h"

#include <string.h>

#include "common/util.h"

bool
suggest_near_miss(const char *typed, const char *name, bool destructive)
{
	int d = str_distance(typed, name);
	if (d == 0 || d > 2)
		return false;
	return d == 1 || (!destructive && strlen(name) > 4);
}

/* PM2's commands that corral does not have, and what to use instead. */
static const struct {
	const char *names[10];
	const char *instead;
} pm2_only[] = {
	{{"imonit", 0},
	    "corral monit is the dashboard"},
	{{"install", "uninstall", "module:install", "module:uninstall", "module:update",
	    "module:generate", "package", "publish", 0},
	    "there are no modules; log rotation is built in (corral get lists its settings, "
	    "pm2-logrotate's)"},
	{{"logrotate", 0},
	    "log rotation is built in: corral set logrotate:max_size 10M (corral get lists "
	    "the settings)"},
	{{"updatePM2", "deepUpdate", 0},
	    "install the new corral binary, then corral update (the apps keep running)"},
	{{"serve", "expose", 0},
	    "start a static file server as an app"},
	{{"report", 0},
	    "corral list, corral describe <app> and $CORRAL_HOME/daemon.log tell the same"},
	{{"attach", "send", 0},
	    "corral does not connect to an app's standard input"},
	{{"link", "unlink", "plus", "register", "login", "logout", "open", "monitor",
	    "unmonitor", 0},
	    "there is no PM2 Plus (keymetrics.io) link"},
	{{"trigger", "inspect", 0},
	    "corral sendSignal <signal> <app> reaches an app that handles the signal"},
	{{"snapshot", 0},
	    "corral heapdump <app> writes a heap snapshot of a Node instance"},
	{{"slist", "sysinfos", 0},
	    "corral list shows the processes, the system's own tools the host"},
	{{"multiset", "conf", 0},
	    "corral set <key> <value> changes one global setting; an app's settings go in "
	    "the ecosystem file"},
	{{"gracefulReload", 0},
	    "use corral reload <app> (PM2 removed gracefulReload too)"},
	{{"create", "examples", 0},
	    "corral ecosystem writes a commented sample; corral help <command> shows the "
	    "options"},
	{{"pull", "forward", "backward", 0},
	    "update the code yourself, then corral reload <app>"},
	{{"install-otel", "uninstall-otel", 0},
	    "there is no tracing"},
	{{"completion", 0},
	    "there is no shell completion"},
};

const char *
suggest_pm2_alternative(const char *typed)
{
	for (size_t i = 0; i < ARRAY_LEN(pm2_only); i++)
		for (size_t k = 0; k < ARRAY_LEN(pm2_only[i].names) && pm2_only[i].names[k]; k++)
			if (strcmp(pm2_only[i].names[k], typed) == 0)
				return pm2_only[i].instead;
	return NULL;
}
