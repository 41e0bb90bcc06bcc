/*
 * fuzz_settings.c — libFuzzer target for settings.json (common/settings.c),
 * which a user may edit by hand. Any input is either accepted, giving
 * settings that are in range, or refused with a one-line message and the
 * defaults; each key's checker gets the input as a value too.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/settings.h"
#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct logrotate_conf c;
	char *err = NULL;
	int rc = settings_parse((const char *)data, size, &c, &err);
	if (rc == 0) {
		if (c.max_size < 0 || c.retain < 0 || c.max_total_size < 0 || !c.date_format)
			abort();
	} else {
		if (rc != -EINVAL || !err || strchr(err, '\n'))
			abort();
		free(err);
	}
	settings_conf_free(&c);
	char *text = xstrndup((const char *)data, size);
	for (size_t i = 0; i < settings_count; i++) {
		err = NULL;
		rc = settings_check(settings_defs[i].key, text, &err);
		if (rc < 0 && (!err || strchr(err, '\n')))
			abort();
		free(err);
	}
	free(text);
	return 0;
}
