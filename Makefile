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

# The per-AUTH program links its libraries statically: loading shared
# libraries costs more than the whole check (see bench/RESULTS.md).
STATIC_LIBS  = -static-libstdc++ -static-libgcc -Wl,-Bstatic -lhiredis -lboost_program_options -Wl,-Bdynamic
DYNAMIC_LIBS = -lhiredis -lboost_program_options

LIB_SRC  = $(wildcard lib/*.cpp)
LIB_OBJ  = $(LIB_SRC:%.cpp=$(B)/obj/%.o)
UNIT_SRC = $(wildcard tests/unit/*.cpp)
UNIT_OBJ = $(UNIT_SRC:%.cpp=$(B)/obj/%.o)

PROGRAMS = $(B)/authguard-checkpw $(B)/authguardctl
TEST_PROGRAMS = $(B)/unit-tests $(B)/vchkpw-standin $(B)/traffic-gen

.PHONY: all deps check unit integration demo bench clean format
all: deps $(PROGRAMS) $(TEST_PROGRAMS)

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

$(B)/authguard-checkpw: $(B)/obj/plugins/checkpw/main.o $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(STATIC_LIBS)

$(B)/authguardctl: $(patsubst %.cpp,$(B)/obj/%.o,$(wildcard tools/authguardctl/*.cpp)) $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(DYNAMIC_LIBS)

$(B)/unit-tests: $(UNIT_OBJ) $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(DYNAMIC_LIBS)

$(B)/vchkpw-standin: $(B)/obj/tests/standins/vchkpw-standin.o
	$(CXX) $(CXXFLAGS) -o $@ $^

$(B)/traffic-gen: $(B)/obj/tests/standins/traffic-gen.o $(B)/libauthguard.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(DYNAMIC_LIBS)

check: all
	tests/run-all

unit: all
	$(B)/unit-tests

demo: all
	demo/run

bench: deps $(B)/authguard-checkpw $(B)/vchkpw-standin
	bench/run

format:
	clang-format -i $$(find include lib plugins tools tests bench -name '*.[ch]pp')

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
