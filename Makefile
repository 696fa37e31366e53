# authguard - top-level build.
#   make          build every program into build/
#   make check    run every test (unit tests, then integration against real servers)
#   make demo     the seed incident replayed against authguard-checkpw
#   make bench    benchmarks; figures go to bench/RESULTS.md by hand
# Missing Debian packages are installed first (as root), see tools/install-deps.

CXX      ?= g++
CXXFLAGS ?= -O2 -g
AG_FLAGS  = -std=c++20 -Wall -Wextra -Werror -Iinclude -I$(B)/gen -MMD -MP
B         = build

# The hooks (one process start per AUTH or message) are linked fully
# static: loading shared libraries costs more than the whole check (see
# bench/RESULTS.md). glibc then needs its own NSS modules only to resolve a
# host name in `redis =`; use an address or a unix socket there.
STATIC_LIBS  = -static -lhiredis -lboost_program_options -llmdb -lmaxminddb
DYNAMIC_LIBS = -lhiredis -lboost_program_options -llmdb -lmaxminddb
# authguardctl keeps glibc shared (its NSS resolves host and user names)
# and takes the rest in: loading libstdc++ and Boost cost 1.3 ms a start.
CTL_LIBS = -static-libstdc++ -static-libgcc -Wl,-Bstatic -lhiredis -lboost_program_options -llmdb -lmaxminddb -lz \
           -Wl,-Bdynamic

LIB_SRC  = $(wildcard lib/*.cpp lib/asn/*.cpp)
LIB_OBJ  = $(LIB_SRC:%.cpp=$(B)/obj/%.o)
UNIT_SRC = $(wildcard tests/unit/*.cpp)
UNIT_OBJ = $(UNIT_SRC:%.cpp=$(B)/obj/%.o)

PROGRAMS = $(B)/authguard-checkpw $(B)/authguard-queue $(B)/authguard-spp $(B)/authguardctl
TEST_PROGRAMS = $(B)/unit-tests $(B)/vchkpw-standin $(B)/qmail-queue-standin $(B)/traffic-gen

SPP_SECTIONS = $(foreach s,auth mail rcpt data,$(B)/authguard-spp-$(s))

.PHONY: all deps check unit integration demo bench clean format asn-data
all: deps $(PROGRAMS) $(SPP_SECTIONS) $(TEST_PROGRAMS)

# qmail-spp runs a plugin by path alone: the section is told by the name.
$(SPP_SECTIONS): $(B)/authguard-spp
	ln -sf authguard-spp $@

deps:
	@tools/install-deps

# Each Redis script becomes a header holding its text and the SHA1 that
# EVALSHA names it by.
$(B)/gen/%_lua.hpp: lib/%.lua
	@mkdir -p $(@D)
	{ echo '#pragma once'; printf 'inline constexpr char $*_lua[] = R"lua('; cat $<; \
	  printf ')lua";\n'; printf 'inline constexpr char $*_lua_sha1[] = "%s";\n' \
	  "$$(sha1sum < $< | cut -c1-40)"; } > $@

$(B)/obj/lib/redis_store.o: $(patsubst lib/%.lua,$(B)/gen/%_lua.hpp,$(wildcard lib/*.lua))

$(B)/obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(AG_FLAGS) $(CXXFLAGS) -c $< -o $@

$(B)/libauthguard.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# Each hook is one program: plugins/NAME/*.cpp -> build/authguard-NAME.
HOOKS = checkpw queue spp
define hook_rule
$(B)/authguard-$(1): $(patsubst %.cpp,$(B)/obj/%.o,$(wildcard plugins/$(1)/*.cpp)) $(B)/libauthguard.a
	$$(CXX) $$(CXXFLAGS) -o $$@ $$^ $$(STATIC_LIBS)
endef
$(foreach hook,$(HOOKS),$(eval $(call hook_rule,$(hook))))

$(B)/authguardctl: $(patsubst %.cpp,$(B)/obj/%.o,$(wildcard tools/authguardctl/*.cpp)) $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(CTL_LIBS)

$(B)/unit-tests: $(UNIT_OBJ) $(B)/obj/tools/authguardctl/logfile.o $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(DYNAMIC_LIBS) -lz

$(B)/vchkpw-standin: $(B)/obj/tests/standins/vchkpw-standin.o
	$(CXX) $(CXXFLAGS) -o $@ $^

$(B)/qmail-queue-standin: $(B)/obj/tests/standins/qmail-queue-standin.o
	$(CXX) $(CXXFLAGS) -o $@ $^

$(B)/traffic-gen: $(B)/obj/tests/standins/traffic-gen.o $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(DYNAMIC_LIBS)

check: all
	tests/run-all

unit: all
	$(B)/unit-tests

# The real IP-to-AS table (@ip-location-db/asn, RouteViews and DB-IP, CC BY
# 4.0), fetched into a cache outside the tree by tools/fetch-asn-data and
# built here, for the demo and the benchmarks. Plain `make` never fetches it.
asn-data: $(B)/asn.db
$(B)/asn.db: | $(B)/authguardctl
	dir=$$(tools/fetch-asn-data) && $(B)/authguardctl asn-db build $@ $$dir/asn-ipv4.csv $$dir/asn-ipv6.csv

demo: all $(B)/asn.db
	demo/run

bench: deps $(B)/authguard-checkpw $(B)/vchkpw-standin
	bench/run

format:
	clang-format -i $$(find include lib plugins tools tests bench -name '*.[ch]pp')

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
