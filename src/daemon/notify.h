/*
 * notify.h — corral's NOTIFY_SOCKET: apps in any language tell us they are
 * ready the systemd way (sd_notify: a datagram "READY=1", optionally
 * "STATUS=text"). The sender is identified by SCM_CREDENTIALS: the instance
 * whose process group the sending pid belongs to.
 */
#ifndef CORRAL_NOTIFY_H
#define CORRAL_NOTIFY_H

#include <stddef.h>
#include <sys/types.h>

int notify_listen(char **err);
/* Take back the sockets a previous daemon had (adopt.c): the file socket,
 * the abstract one and its name (the apps have it in their environment).
 * Descriptors are taken over; -1 when there was none. */
void notify_adopt(int file_fd, int abstract_fd, const char *abstract_name);
/* Send both sockets to the keeper (keep.h). */
void notify_keep_all(void);
void notify_close(void);
/* NOTIFY_SOCKET for a process running as uid: the socket file in the home
 * for the daemon's own user, an abstract socket ("@...") for any other. */
const char *notify_socket_for(uid_t uid);
/* Apply one datagram from pid (pure parsing of KEY=VALUE lines; exposed
 * for the fuzzer). */
void notify_handle(int pid, const char *msg, size_t len);

#endif
