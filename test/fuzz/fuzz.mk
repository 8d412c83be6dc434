# test/fuzz/fuzz.mk — libFuzzer harnesses for every parser of outside input
# (included by the top-level Makefile).
#
#   make fuzz [FUZZ_SECONDS=60]  builds, then runs each harness that long on a
#                                copy of its corpus (test/fuzz/corpus/NAME,
#                                regression inputs included) and fails if any
#                                harness crashes, leaks or hangs
#   make fuzz-build              builds the harnesses into build-fuzz/
#   make fuzz-replay             runs each harness once over its corpus: the
#                                regression inputs, in seconds
#
# Each run's output is in build-fuzz/NAME.log; an input that broke something
# is in build-fuzz/NAME-crash-* (or leak-, timeout-, oom-).  Reproduce with
# `build-fuzz/NAME FILE`; once fixed, keep it as
# test/fuzz/corpus/NAME/regress-WHAT.

FUZZ_B       := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CC      := clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c17 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I. \
                -fno-strict-aliasing $(FUZZ_SAN)
FUZZ_LDLIBS   = $(PKG_LIBS) -ldl -lm
FUZZ_DEB_PKGS := clang libclang-rt-14-dev

FUZZ_NAMES := fuzz_xmlstream fuzz_stz fuzz_jid fuzz_scram fuzz_cfg
fuzz_xmlstream_SRC := test/fuzz/dom_ref.c lib/stz.c lib/buf.c lib/jid.c lib/utf8.c lib/log.c workers/xmlstream.c
fuzz_stz_SRC       := lib/stz.c lib/buf.c
fuzz_jid_SRC       := lib/jid.c lib/utf8.c
fuzz_scram_SRC     := lib/scram.c lib/utf8.c
fuzz_cfg_SRC       := lib/cfg.c lib/cfg_tree.c lib/cfg_value.c lib/cfg_sections.c lib/cfg_settings.c lib/log.c lib/jid.c lib/utf8.c

FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_B)/%)

.PHONY: fuzz fuzz-build fuzz-replay fuzz-deps

# The code under test gets coverage instrumentation (fuzzer-no-link); only
# the harness binaries link libFuzzer, which brings main().
$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -MMD -MP -c $< -o $@

define fuzz_link
$(FUZZ_B)/$(1): $(FUZZ_B)/obj/test/fuzz/$(1).o $(patsubst %.c,$(FUZZ_B)/obj/%.o,$($(1)_SRC))
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $$@ $$^ $(FUZZ_LDLIBS)
endef
$(foreach h,$(FUZZ_NAMES),$(eval $(call fuzz_link,$(h))))

# clang and its libFuzzer runtime (Debian ships the runtime apart), then
# the libraries every build needs.
fuzz-deps: deps
	@missing=""; for p in $(FUZZ_DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing < /dev/null; \
	fi

fuzz-build: fuzz-deps
	$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz: fuzz-build
	@sh test/fuzz/run.sh $(FUZZ_B) $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-replay: fuzz-build
	@sh test/fuzz/run.sh $(FUZZ_B) replay $(FUZZ_NAMES)

-include $(shell find $(FUZZ_B)/obj -name '*.d' 2>/dev/null)
