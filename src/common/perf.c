/*
 * perf.c — checks before running perf (perf.h).
 */
#include "common/perf.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

char *
perf_forbidden(void)
{
	return perf_forbidden_by("/proc/sys/kernel/perf_event_paranoid", geteuid());
}

char *
perf_forbidden_by(const char *paranoid_path, uid_t euid)
{
	char *text = NULL;
	if (euid == 0 || read_file(paranoid_path, &text, NULL, 64) < 0)
		return NULL;
	int level = atoi(text);
	free(text);
	if (level <= 2)
		return NULL;
	return xasprintf("perf is not allowed to sample processes: "
	    "/proc/sys/kernel/perf_event_paranoid is %d (allow it with "
	    "sudo sysctl kernel.perf_event_paranoid=2, or run corral as root)", level);
}

char *
perf_find(char **err)
{
	const char *path = getenv("PATH");
	char *dirs = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	char *found = NULL, *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *cand = xasprintf("%s/perf", *d ? d : ".");
		if (access(cand, X_OK) == 0)
			found = cand;
		else
			free(cand);
	}
	free(dirs);
	if (!found)
		*err = xstrdup("perf is not installed (it records programs other than Node apps: "
		    "apt-get install linux-perf)");
	return found;
}
