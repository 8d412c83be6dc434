/* proto.c — the listener's module picks the protocol. */
#include "workers/proto.h"
#include "lib/xs.h"

/* One row per listener module lib/cfg accepts.  Next: component
 * (jabber:component:accept, XEP-0114) and s2s (jabber:server). */
static const struct {
	enum cfg_listen_module module;
	const struct proto *proto;
} protos[] = {
	{ CFG_LISTEN_C2S, &proto_client },
};

const struct proto *proto_for_listener(const struct cfg_listen *l)
{
	for (size_t i = 0; i < XS_ARRAY_LEN(protos); i++)
		if (protos[i].module == l->module)
			return protos[i].proto;
	return NULL;
}

void proto_init_all(void)
{
	for (size_t i = 0; i < XS_ARRAY_LEN(protos); i++)
		if (protos[i].proto->init)
			protos[i].proto->init();
}
