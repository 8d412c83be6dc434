/* modsettings.c — the server settings a module may read (router/module.h,
 * "server settings"): the running configuration through functions, so that
 * struct cfg stays out of the plugin ABI. */
#include "router/module.h"
#include "router/state.h"

size_t mod_hosts(const char *const **out)
{
	const struct cfg *c = router_cfg();
	*out = (const char *const *)c->hosts;
	return c->nhosts;
}

bool mod_registration_open(const char *host)
{
	return cfg_registration_open(router_cfg(), host);
}

unsigned mod_registration_rate(void)
{
	return router_cfg()->limits.registration_rate_per_ip;
}

unsigned mod_scram_iterations(void)
{
	return router_cfg()->scram_iterations;
}

size_t mod_max_stanza_size(void)
{
	return router_cfg()->max_stanza_size;
}

size_t mod_max_encoded(void)
{
	return router_cfg()->max_encoded;
}
