/*
 * mhd.h — libmicrohttpd for web.c, loaded when a server first starts
 * (common/lazylib.h says why).
 *
 * Include this instead of <microhttpd.h>: the library's own declarations
 * give the types, and each function web.c calls is a macro for the slot
 * mhd_load() filled, so the calls read as the library's documentation
 * writes them. Calling one before mhd_load() succeeded is a bug.
 */
#ifndef CORRAL_DAEMON_MHD_H
#define CORRAL_DAEMON_MHD_H

#include <microhttpd.h>

#define MHD_FUNCTIONS(X) \
	X(MHD_start_daemon) \
	X(MHD_stop_daemon) \
	X(MHD_run) \
	X(MHD_get_timeout) \
	X(MHD_get_daemon_info) \
	X(MHD_lookup_connection_value) \
	X(MHD_set_connection_option) \
	X(MHD_suspend_connection) \
	X(MHD_resume_connection) \
	X(MHD_queue_response) \
	X(MHD_create_response_from_buffer) \
	X(MHD_create_response_from_callback) \
	X(MHD_add_response_header) \
	X(MHD_destroy_response)

struct mhd_api {
#define MHD_SLOT(f) __typeof__(&f) f;
	MHD_FUNCTIONS(MHD_SLOT)
#undef MHD_SLOT
};

extern struct mhd_api mhd_api;

/* Load the library (once): 0, or -1 with *err (one line). */
int mhd_load(char **err);

#ifndef MHD_API_SLOTS
#define MHD_start_daemon (mhd_api.MHD_start_daemon)
#define MHD_stop_daemon (mhd_api.MHD_stop_daemon)
#define MHD_run (mhd_api.MHD_run)
#define MHD_get_timeout (mhd_api.MHD_get_timeout)
#define MHD_get_daemon_info (mhd_api.MHD_get_daemon_info)
#define MHD_lookup_connection_value (mhd_api.MHD_lookup_connection_value)
#define MHD_set_connection_option (mhd_api.MHD_set_connection_option)
#define MHD_suspend_connection (mhd_api.MHD_suspend_connection)
#define MHD_resume_connection (mhd_api.MHD_resume_connection)
#define MHD_queue_response (mhd_api.MHD_queue_response)
#define MHD_create_response_from_buffer (mhd_api.MHD_create_response_from_buffer)
#define MHD_create_response_from_callback (mhd_api.MHD_create_response_from_callback)
#define MHD_add_response_header (mhd_api.MHD_add_response_header)
#define MHD_destroy_response (mhd_api.MHD_destroy_response)
#endif

#endif
