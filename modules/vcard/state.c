/* state.c — the vcard module's shared state (see state.h), in a file of its
 * own so that the parts read it without depending on module.c. */
#include "modules/vcard/state.h"

struct vcard_state vcard_state;
