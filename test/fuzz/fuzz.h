/* fuzz.h — what the libFuzzer harnesses share.
 *
 * A broken property must end the process: libFuzzer then keeps the input
 * that did it (crash-<sha1>) and `make fuzz` fails.  abort() rather than
 * assert(): the harnesses are built without NDEBUG today, but a check must
 * not vanish with a flag. */
#ifndef XMPPD_TEST_FUZZ_H
#define XMPPD_TEST_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                              \
	do {                                                                              \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                  \
		}                                                                             \
	} while (0)

/* Bytes as they are, NULs included, on a line of their own. */
static inline void fuzz_dump(const char *label, const void *data, size_t len)
{
	fprintf(stderr, "%s:\n", label);
	fwrite(data, 1, len, stderr);
	fputc('\n', stderr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* 8-aligned room for exactly `size` bytes.  posix_memalign keeps the
 * requested size for AddressSanitizer, so one byte read past the end is
 * caught (an aligned_alloc rounded up to 8 would hide up to 7). */
static inline void *fuzz_aligned_alloc(size_t size)
{
	void *p = NULL;
	if (posix_memalign(&p, 8, size ? size : 1) != 0)
		abort();
	return p;
}

static inline void *fuzz_aligned_copy(const void *data, size_t size)
{
	void *p = fuzz_aligned_alloc(size);
	if (size)
		memcpy(p, data, size);
	return p;
}

#endif
