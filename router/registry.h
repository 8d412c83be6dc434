/* registry.h — what modules registered, and running it (router/registry.c):
 * the hook chains, the IQ handler table, the disco features and the
 * handlers of service domains.  The module API functions that register
 * (mod_hook_add, mod_iq_add, mod_feature_add ...) are implemented here; the
 * domain table itself (where a domain routes) is router/routes.c's. */
#ifndef XMPPD_ROUTER_REGISTRY_H
#define XMPPD_ROUTER_REGISTRY_H

#include "router/module.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int hooks_run(enum hook_id hook, struct hook_args *args);
bool hooks_any(enum hook_id hook);
/* XS_DONE when a handler answered, XS_PASS when none did.  preauth_conn and
 * ip: a request from a connection that has not authenticated. */
int iq_dispatch(const struct stz *s, const char *host, uint64_t preauth_conn,
                const struct msg_ip *ip);
/* The handler of a service domain (its route is the domain table's). */
int registry_domain_add(struct mod_ctx *ctx, const char *domain, const char *parent_host,
                        const char *name, domain_fn *fn, void *arg);
/* A stanza for a service domain: XS_DONE when the domain's handler (or an
 * IQ handler of the domain) took it, XS_PASS when it declined, XS_ERROR
 * when no handler serves that domain. */
int domain_dispatch(const struct stz *s, const char *domain, size_t len);
/* Forgets every registration (the modules are about to be unmapped). */
void registry_clear(void);

#endif
