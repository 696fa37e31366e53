# authguard - top-level build.
#   make          build every program into build/
#   make check    run every test (unit tests, then integration against real servers)
#   make demo     the seed incident replayed against authguard-checkpw
#   make bench    benchmarks; figures go to bench/RESULTS.md by hand
#   make install  the programs, man pages, example control files and the
#                 state directory (see "make install" below); make uninstall
#   make deb      the Debian package (debian/), into $(B)/deb/
#   make fuzz     libFuzzer harnesses (tests/fuzz/), FUZZ_SECONDS each (clang, build-fuzz/)
#   make fuzz-coverage   the parsers' lines their fuzz corpora run (llvm-cov)
#   make check SANITIZE=1   the suite against an ASan + UBSan build (build-san/)
#   make check-reliability  what CI adds to make check: a sanitizer pass and
#                 FUZZ_SECONDS of each fuzz harness (tests/reliability)
# Plain `make` installs nothing: it checks the build dependencies and names
# the missing ones (tools/check-build-deps). check, demo, bench and deb
# first install the Debian packages they need (as root, tools/install-deps).

CXX      ?= g++
CXXFLAGS ?= -O2 -g
AG_FLAGS  = -std=c++20 -Wall -Wextra -Werror -Iinclude -I$(B)/gen -MMD -MP
B         = build

# The hooks (one process start per AUTH or message) are linked fully
# static: loading shared libraries costs more than the whole check (see
# bench/RESULTS.md). glibc then needs its own NSS modules only to resolve a
# host name in `redis =`; use an address or a unix socket there.
# --gc-sections drops the unused parts of the static libraries (a sixth of
# the text): fewer pages to map and fault in at every start (issue 17).
STATIC_LIBS  = -static -Wl,--gc-sections -lhiredis -lboost_program_options -llmdb -lmaxminddb
DYNAMIC_LIBS = -lhiredis -lboost_program_options -llmdb -lmaxminddb
# authguardctl keeps glibc shared (its NSS resolves host and user names)
# and takes the rest in: loading libstdc++ and Boost cost 1.3 ms a start.
# zlib stays shared, as Debian wants it (lintian's embedded-library error):
# its security fixes then reach authguardctl without a rebuild.
CTL_LIBS = -static-libstdc++ -static-libgcc -Wl,-Bstatic -lhiredis -lboost_program_options -llmdb -lmaxminddb \
           -Wl,-Bdynamic -lz

# `make check SANITIZE=1`: every program and test built with ASan and UBSan
# into build-san/ and the whole suite run against them. Sanitizers need
# the shared C library, so this build links dynamically; the release build
# stays static. Any report aborts the program, which fails its test.
ifeq ($(SANITIZE),1)
B           = build-san
CXXFLAGS    = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
STATIC_LIBS = $(DYNAMIC_LIBS)
CTL_LIBS    = $(DYNAMIC_LIBS) -lz
DKIM_STAGE_LIBS = $(DYNAMIC_LIBS) $(DKIM_LIBS)
export ASAN_OPTIONS  = abort_on_error=1:detect_leaks=0
export UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1
endif

LIB_SRC  = $(wildcard lib/*.cpp lib/asn/*.cpp lib/spf/*.cpp lib/dkim/*.cpp lib/policy/*.cpp)
# lib/spf/ (the SPF check) is linked only by what uses it; libspf2's static
# archive needs libresolv (res_query) beside it.
SPF_LIBS = -lspf2 -lresolv
# lib/dkim/ (DKIM keys, signing, verifying) needs libopendkim and OpenSSL's
# libcrypto, both linked shared: OpenSSL's security fixes must reach a
# signing host without a rebuild. authguard-dkim takes the rest in, as
# authguardctl does: resolving libstdc++'s and Boost's symbols at every
# start cost 1.5-2 ms a message (bench/RESULTS.md section 9).
DKIM_LIBS = -lopendkim -lcrypto -lresolv
DKIM_STAGE_LIBS ?= -static-libstdc++ -static-libgcc -Wl,-Bstatic -lhiredis -lboost_program_options \
                   -llmdb -lmaxminddb -Wl,-Bdynamic $(DKIM_LIBS)
LIB_OBJ  = $(LIB_SRC:%.cpp=$(B)/obj/%.o)
UNIT_SRC = $(wildcard tests/unit/*.cpp)
UNIT_OBJ = $(UNIT_SRC:%.cpp=$(B)/obj/%.o)

PROGRAMS = $(B)/authguard-checkpw $(B)/authguard-queue $(B)/authguard-spp $(B)/authguard-spf \
           $(B)/authguard-dkim $(B)/authguard-policyd $(B)/authguardctl
TEST_PROGRAMS = $(B)/unit-tests $(B)/vchkpw-standin $(B)/qmail-queue-standin $(B)/traffic-gen \
                $(B)/spf-rfc7208-suite $(B)/spf-eval

SPP_SECTIONS = $(foreach s,auth mail rcpt data,$(B)/authguard-spp-$(s))
SPF_SECTIONS = $(foreach s,mail rcpt,$(B)/authguard-spf-$(s))

.PHONY: check-reliability fault-table fuzz fuzz-build fuzz-coverage FORCE all programs build-deps deps check unit integration demo bench clean format asn-data \
        install uninstall install-programs deb
all: programs $(TEST_PROGRAMS)
programs: $(PROGRAMS) $(SPP_SECTIONS) $(SPF_SECTIONS)

# qmail-spp runs a plugin by path alone: the section is told by the name.
$(SPP_SECTIONS): $(B)/authguard-spp
	ln -sf authguard-spp $@
$(SPF_SECTIONS): $(B)/authguard-spf
	ln -sf authguard-spf $@

# Every compile waits for the check, so that a missing -dev package is named
# before the compiler fails on its header.
build-deps:
	@tools/check-build-deps

deps:
	@tools/install-deps build test package

# VERSION becomes a header, so that every program answers --version with it.
$(B)/gen/authguard_version.hpp: VERSION
	@mkdir -p $(@D)
	v=$$(cat VERSION) && case "$$v" in ''|*[!0-9.]*) echo "VERSION: not a version: '$$v'" >&2; exit 1;; esac && \
	  printf '#pragma once\ninline constexpr char authguard_version_text[] = "%s";\n' "$$v" > $@
$(foreach d,plugins/checkpw plugins/queue plugins/spp plugins/spf plugins/dkim plugins/policyd tools/authguardctl,$(B)/obj/$(d)/main.o): \
  $(B)/gen/authguard_version.hpp

# Each Redis script becomes a header holding its text and the SHA1 that
# EVALSHA names it by.
$(B)/gen/%_lua.hpp: lib/%.lua
	@mkdir -p $(@D)
	{ echo '#pragma once'; printf 'inline constexpr char $*_lua[] = R"lua('; cat $<; \
	  printf ')lua";\n'; printf 'inline constexpr char $*_lua_sha1[] = "%s";\n' \
	  "$$(sha1sum < $< | cut -c1-40)"; } > $@

$(B)/obj/lib/redis_store.o: $(patsubst lib/%.lua,$(B)/gen/%_lua.hpp,$(wildcard lib/*.lua))

$(B)/obj/%.o: %.cpp | build-deps
	@mkdir -p $(@D)
	$(CXX) $(AG_FLAGS) $(CXXFLAGS) -c $< -o $@

$(B)/libauthguard.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# Each hook is one program: plugins/NAME/*.cpp -> build/authguard-NAME.
HOOKS = checkpw queue spp
define hook_rule
$(B)/authguard-$(1): $(patsubst %.cpp,$(B)/obj/%.o,$(wildcard plugins/$(1)/*.cpp)) $(B)/libauthguard.a
	$$(CXX) $$(CXXFLAGS) -o $$@ $$(filter %.o %.a,$$^) $$(STATIC_LIBS) $$(LINK_$(1))
endef
# authguard-checkpw, when lld is there, with the code one AUTH runs
# (plugins/checkpw/hot-symbols, from tools/checkpw-hot-symbols) laid out
# together: half its text page faults, about -0.5 ms per AUTH on a
# paravirtualised VM (bench/auth-latency, paired). GNU ld cannot order
# glibc's functions; without ld.lld the program is linked as the other
# hooks, only slower to start.
ifneq ($(SANITIZE),1)
ifneq ($(shell command -v ld.lld),)
LINK_checkpw = -fuse-ld=lld -Wl,--symbol-ordering-file=plugins/checkpw/hot-symbols \
               -Wl,--no-warn-symbol-ordering
$(B)/authguard-checkpw: plugins/checkpw/hot-symbols
endif
endif
$(foreach hook,$(HOOKS),$(eval $(call hook_rule,$(hook))))

# authguard-spf also links libspf2 (static, as the hooks' other libraries).
$(B)/authguard-spf: $(patsubst %.cpp,$(B)/obj/%.o,$(wildcard plugins/spf/*.cpp)) $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(STATIC_LIBS) $(SPF_LIBS)

# authguard-dkim: a QMAILQUEUE stage; glibc, libopendkim and libcrypto
# shared (DKIM_STAGE_LIBS above).
$(B)/authguard-dkim: $(patsubst %.cpp,$(B)/obj/%.o,$(wildcard plugins/dkim/*.cpp)) $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(DKIM_STAGE_LIBS)

# authguard-policyd: a daemon, linked as authguardctl (glibc shared: its
# NSS resolves the host names of tcp: listeners and of `redis =`).
$(B)/authguard-policyd: $(patsubst %.cpp,$(B)/obj/%.o,$(wildcard plugins/policyd/*.cpp)) $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(CTL_LIBS)

$(B)/authguardctl: $(patsubst %.cpp,$(B)/obj/%.o,$(wildcard tools/authguardctl/*.cpp)) $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(CTL_LIBS) -lcrypto -lresolv

$(B)/unit-tests: $(UNIT_OBJ) $(B)/obj/tools/authguardctl/logfile.o $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(DYNAMIC_LIBS) -lz $(SPF_LIBS) $(DKIM_LIBS)

# The RFC 7208 conformance suite against lib/spf (tests/integration/spf-rfc.sh).
$(B)/spf-rfc7208-suite: $(B)/obj/tests/spf/rfc7208-suite.o $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(SPF_LIBS)
# The layer's side of the comparison with pyspf (tests/integration/spf-pyspf.sh).
$(B)/spf-eval: $(B)/obj/tests/spf/spf-eval.o $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(SPF_LIBS)

$(B)/vchkpw-standin: $(B)/obj/tests/standins/vchkpw-standin.o
	$(CXX) $(CXXFLAGS) -o $@ $^

$(B)/qmail-queue-standin: $(B)/obj/tests/standins/qmail-queue-standin.o
	$(CXX) $(CXXFLAGS) -o $@ $^

$(B)/traffic-gen: $(B)/obj/tests/standins/traffic-gen.o $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(DYNAMIC_LIBS)

# deps first, then the build (the recursive make keeps that order with -j).
check: deps
	$(MAKE) all
	AG_BUILD=$(abspath $(B)) tests/run-all

# What CI runs after `make check`: the sanitizer build and its pass over the
# unit tests, checkpw.sh, queue.sh, spp.sh, spf.sh, dkim.sh, dkim-keys.sh and policyd.sh, then FUZZ_SECONDS of
# every fuzz harness (tests/reliability).
check-reliability: deps
	@tools/install-deps fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/reliability

# The fault matrix of doc/reliability.md, from the fault tests' own output.
fault-table: deps
	$(MAKE) all
	AG_BUILD=$(abspath $(B)) AG_ONLY=faults tests/run-all
	tools/fault-table $(B)/fault-matrix.tsv doc/reliability.md

unit: all
	$(B)/unit-tests

# The real IP-to-AS table (@ip-location-db/asn, RouteViews and DB-IP, CC BY
# 4.0), fetched into a cache outside the tree by tools/fetch-asn-data and
# built here, for the demo and the benchmarks. Plain `make` never fetches it.
asn-data: $(B)/asn.db
$(B)/asn.db: | $(B)/authguardctl
	dir=$$(tools/fetch-asn-data) && $(B)/authguardctl asn-db build $@ $$dir/asn-ipv4.csv $$dir/asn-ipv6.csv

demo: deps
	$(MAKE) all $(B)/asn.db
	demo/run

bench: deps
	$(MAKE) $(B)/authguard-checkpw $(B)/vchkpw-standin
	bench/run

# bench/policyd.sh's load generator (standalone: no library, no store).
$(B)/bench/policyd-load: bench/policyd-load.cpp
	@mkdir -p $(@D)
	$(CXX) $(filter-out -MMD -MP,$(AG_FLAGS)) $(CXXFLAGS) -o $@ $<

# ---- make install, make uninstall -------------------------------------------
# tools/install-tree does the work, with these variables (override any on the
# command line; DESTDIR is put in front of every path, for a staging root):
#   HOOKDIR    authguard-checkpw, authguard-queue, authguard-dkim, authguard-spp and its
#              authguard-spp-{auth,mail,rcpt,data} links, authguard-spf and its
#              authguard-spf-{mail,rcpt} links, beside qmail-smtpd,
#              where contrib/netqmail-1.06's run scripts and smtpplugins name them
#   SBINDIR    authguardctl, in root's PATH (and svscan's) for admins and cron
#   MANDIR     authguard(5), authguard-*(8), authguardctl(8)
#   CONTROLDIR the example control files, each only where none exists
#   STATEDIR   the embedded store's directory (its default: beside the
#              control directory), mode 0750, owned by AUTHGUARD_USER (the
#              smtpd's -u user), created only when that user exists
# Programs are installed stripped (INSTALL_STRIP= keeps the symbols).
# QMAILHOME, PREFIX and AUTHGUARD_USER may also come from the environment
# (authguardctl reads QMAILHOME and AUTHGUARD_USER there too).
QMAILHOME      ?= /var/qmail
PREFIX         ?= /usr/local
HOOKDIR        = $(QMAILHOME)/bin
SBINDIR        = $(PREFIX)/sbin
MANDIR         = $(PREFIX)/share/man
CONTROLDIR     = $(QMAILHOME)/control
STATEDIR       = $(dir $(CONTROLDIR))authguard
AUTHGUARD_USER ?= vpopmail
INSTALL_STRIP  = -s
INSTALL_VARS   = B='$(B)' DESTDIR='$(DESTDIR)' HOOKDIR='$(HOOKDIR)' SBINDIR='$(SBINDIR)' \
                 MANDIR='$(MANDIR)' CONTROLDIR='$(CONTROLDIR)' STATEDIR='$(STATEDIR)' \
                 AUTHGUARD_USER='$(AUTHGUARD_USER)' INSTALL_STRIP='$(INSTALL_STRIP)'

install: programs
	$(INSTALL_VARS) tools/install-tree install
uninstall:
	$(INSTALL_VARS) tools/install-tree uninstall
# What the Debian package takes (debian/rules): no control files, no state.
install-programs: programs
	$(INSTALL_VARS) tools/install-tree install programs man

# The Debian package, from the programs of $(B) (nothing is compiled again
# when they are built); the .deb and lintian's verdict (errors fail) go to
# $(B)/deb/. See tools/build-deb.
deb:
	tools/install-deps build package
	$(MAKE) programs
	tools/build-deb '$(B)'

# libFuzzer harnesses (tests/fuzz/*.cpp) for the parsers that read
# strangers' input, built with clang, ASan and UBSan into $(FUZZ_B); each runs
# FUZZ_SECONDS from its seed corpus tests/fuzz/corpus/NAME (copied: new
# inputs stay in $(FUZZ_B)/corpus). A crash stops the run and is kept in
# $(FUZZ_B)/crashes; add it to the seed corpus once fixed.
FUZZ_B       = build-fuzz
FUZZ_SECONDS = 60
FUZZ_FLAGS   = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_NAMES   = $(basename $(notdir $(wildcard tests/fuzz/*.cpp)))
FUZZ_TARGETS = $(FUZZ_NAMES:%=$(FUZZ_B)/fuzz-%)

ifneq ($(B),$(FUZZ_B))
$(FUZZ_B)/libauthguard.a: FORCE
	@tools/install-deps fuzz
	$(MAKE) --no-print-directory B=$(FUZZ_B) CXX=clang++ \
	    CXXFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" $(FUZZ_B)/libauthguard.a
endif
$(FUZZ_B)/fuzz-%: tests/fuzz/%.cpp $(FUZZ_B)/libauthguard.a
	clang++ $(subst -I$(B)/gen,-I$(FUZZ_B)/gen,$(AG_FLAGS)) $(FUZZ_FLAGS) -fsanitize=fuzzer \
	    $(filter %.cpp,$^) $(FUZZ_B)/libauthguard.a $(DYNAMIC_LIBS) -lz $(SPF_LIBS) $(DKIM_LIBS) -o $@

# A parser that lives in authguardctl, not in the library, is compiled into
# its harness: FUZZ_EXTRA_NAME.
FUZZ_EXTRA_follow_state = tools/authguardctl/follow_state.cpp
$(FUZZ_B)/fuzz-follow_state: $(FUZZ_EXTRA_follow_state)

fuzz-build: $(FUZZ_TARGETS)
# The harnesses run FUZZ_JOBS at a time (one a core), each on one core.
FUZZ_JOBS = $(shell nproc)
fuzz: fuzz-build
	@mkdir -p $(FUZZ_B)/crashes
	@$(MAKE) --no-print-directory -k -j$(FUZZ_JOBS) --output-sync=target $(FUZZ_NAMES:%=fuzz-run-%)

fuzz-run-%: FORCE
	@n=$*; mkdir -p $(FUZZ_B)/corpus/$$n; cp -n tests/fuzz/corpus/$$n/* $(FUZZ_B)/corpus/$$n/ 2>/dev/null || true; \
	rc=0; $(FUZZ_B)/fuzz-$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=$(FUZZ_B)/crashes/$$n- -print_final_stats=1 $(FUZZ_B)/corpus/$$n \
	    >$(FUZZ_B)/fuzz-$$n.log 2>&1 || rc=$$?; \
	grep -E 'ERROR|SUMMARY' $(FUZZ_B)/fuzz-$$n.log || true; \
	runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_B)/fuzz-$$n.log); \
	if test $$rc = 0; then echo "ok - fuzz-$$n: $${runs:-?} inputs in $(FUZZ_SECONDS) s, no report"; \
	else echo "not ok - fuzz-$$n: crash (exit $$rc), see $(FUZZ_B)/fuzz-$$n.log and $(FUZZ_B)/crashes/"; exit 1; fi

# `make fuzz-coverage`: the lines of each parser's own sources (FUZZ_SRC_NAME)
# that its corpus runs -- the seed corpus and what make fuzz found in
# $(FUZZ_B)/corpus/NAME. Each harness is built with clang's source-based
# coverage and no sanitizer into $(FUZZ_COV), with tests/fuzz/driver/
# run_inputs.cpp as main (runs every input once, without libFuzzer). The
# table goes to $(FUZZ_B)/coverage.txt too.
FUZZ_COV  = $(FUZZ_B)/cov
COV_FLAGS = -O1 -g -fprofile-instr-generate -fcoverage-mapping
FUZZ_SRC_asn_line       = lib/asn/build.cpp
FUZZ_SRC_checkpassword  = lib/checkpassword.cpp
FUZZ_SRC_control_file   = lib/config.cpp
FUZZ_SRC_maillog        = lib/logscan.cpp
FUZZ_SRC_user_name      = lib/guard.cpp
FUZZ_SRC_queue_envelope = lib/envelope.cpp
FUZZ_SRC_spp_env        = lib/smtp_env.cpp lib/identity.cpp
FUZZ_SRC_dump_line      = lib/dump.cpp lib/json.cpp
FUZZ_SRC_follow_state   = tools/authguardctl/follow_state.cpp
FUZZ_SRC_spf_record     = lib/spf/syntax.cpp
FUZZ_SRC_spf_check      = lib/spf/check.cpp lib/spf/syntax.cpp lib/spf/dns.cpp
FUZZ_SRC_dkim_header    = lib/dkim/message.cpp
FUZZ_SRC_dkim_key_record = lib/dkim/keys.cpp
FUZZ_SRC_postfix_request = lib/policy/postfix.cpp
FUZZ_SRC_http_request   = lib/policy/http.cpp lib/policy/dovecot.cpp lib/encoding.cpp

ifneq ($(B),$(FUZZ_COV))
$(FUZZ_COV)/libauthguard.a: FORCE
	@tools/install-deps fuzz
	$(MAKE) --no-print-directory B=$(FUZZ_COV) CXX=clang++ CXXFLAGS="$(COV_FLAGS)" $(FUZZ_COV)/libauthguard.a
endif
$(FUZZ_COV)/fuzz-%: tests/fuzz/%.cpp tests/fuzz/driver/run_inputs.cpp $(FUZZ_COV)/libauthguard.a
	clang++ $(filter-out -MMD -MP,$(AG_FLAGS)) $(COV_FLAGS) $(filter %.cpp,$^) \
	    $(FUZZ_COV)/libauthguard.a $(DYNAMIC_LIBS) -lz $(SPF_LIBS) $(DKIM_LIBS) -o $@
$(FUZZ_COV)/fuzz-follow_state: $(FUZZ_EXTRA_follow_state)

fuzz-coverage: $(FUZZ_NAMES:%=$(FUZZ_COV)/fuzz-%)
	@out=$(FUZZ_B)/coverage.txt; tests/fuzz/coverage --header >$$out; \
	$(foreach n,$(FUZZ_NAMES),tests/fuzz/coverage $(FUZZ_B) $(n) $(FUZZ_SRC_$(n)) >>$$out || exit 1;) \
	cat $$out

FORCE:

format:
	clang-format -i $$(find include lib plugins tools tests bench -name '*.[ch]pp')

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
