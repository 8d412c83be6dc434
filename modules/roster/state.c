/* state.c — the roster module's shared state (see state.h).  A file of its
 * own so that every part can read it without depending on module.c, which
 * calls them all. */
#include "modules/roster/state.h"

struct roster_state roster_state;
