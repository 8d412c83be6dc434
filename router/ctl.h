/* ctl.h — xmppctl requests (router/ctl.c), served by the router on
 * control-socket connections the master accepted and handed over. */
#ifndef XMPPD_ROUTER_CTL_H
#define XMPPD_ROUTER_CTL_H

#include <stdint.h>

/* A client the master handed over (the router owns fd from now on). */
void ctl_client_add(int fd);
/* The master's answer to a reload a ctl client asked for. */
void ctl_reload_result(int32_t status, const char *text);

#endif
