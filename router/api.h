/* api.h — the module API's implementation (router/api.c): the functions of
 * router/module.h other than registrations (router/registry.c).  Modules
 * call them; inside router/ only this is called. */
#ifndef XMPPD_ROUTER_API_H
#define XMPPD_ROUTER_API_H

/* Frees what the API keeps between calls (the IQ answer builder). */
void api_free(void);

#endif
