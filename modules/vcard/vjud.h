/* vjud.h — the user directory services (XEP-0055), like ejabberd's
 * mod_vcard: a service domain per host, `search_host` with @HOST@ replaced
 * (default vjud.HOST), routed to this module and listed in the host's
 * disco#items.  Its disco#info is identity directory/user (named by the
 * `name` option) + features disco#info, disco#items, jabber:iq:search,
 * vcard-temp; its disco#items is empty; its vCard describes it; searches:
 * search.h.  Only accounts of the service's parent host that have published
 * a vCard are in the directory (publishing one is the opt-in, as in
 * ejabberd). */
#ifndef XMPPD_MODULES_VCARD_VJUD_H
#define XMPPD_MODULES_VCARD_VJUD_H

#include "router/module.h"

/* Serves a directory for each of hosts[0..nhosts) under the current
 * options.  XS_OK or XS_ERROR (logged). */
int vjud_start(struct mod_ctx *ctx, const char *const *hosts, size_t nhosts);

/* Forgets the services (module stop). */
void vjud_stop(void);

#endif
