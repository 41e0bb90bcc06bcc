/*
 * envshare.c — one environment for many apps (envshare.h).
 */
#include "cli/envshare.h"

#include "common/spec.h"

json_t *
envshare_base(json_t *first)
{
	json_t *env = json_object_get(first, "env");
	if (!json_is_object(env))
		return NULL;
	json_t *base = json_copy(env);
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(first, "app_env"), k, v)
		json_object_del(base, k);
	return base;
}

json_t *
envshare_delta(json_t *spec, json_t *base)
{
	json_t *env = json_object_get(spec, "env");
	if (!base || !json_is_object(env))
		return json_incref(spec);
	json_t *delta = spec_env_diff(env, base);
	if (json_object_size(delta) >= json_object_size(env)) {
		json_decref(delta);
		return json_incref(spec);
	}
	json_t *out = json_copy(spec);
	json_object_del(out, "env");
	json_object_set_new(out, "env_delta", delta);
	return out;
}

json_t *
envshare_whole(json_t *spec, json_t *base)
{
	json_t *delta = json_object_get(spec, "env_delta");
	if (!delta)
		return json_incref(spec);
	json_t *out = json_copy(spec);
	json_object_del(out, "env_delta");
	json_object_set_new(out, "env", spec_env_apply(json_is_object(base) ? base : NULL,
	    json_is_object(delta) ? delta : NULL));
	return out;
}
