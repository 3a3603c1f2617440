# Thin wrapper around CMake (as neovim does): every target installs what is missing first.
BUILD       ?= build
SAN_BUILD   ?= build-san
TSAN_BUILD  ?= build-tsan
FUZZ_SECONDS ?= 20
JOBS        ?= $(shell nproc)
CMAKE_GEN   := -G Ninja
# Test builds keep line tables only (-g1): backtraces and sanitizer reports still name file and
# line, and compiling takes a quarter less time than with full debug information.
CMAKE_FAST  := -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"

.PHONY: all deps build test san-build test-asan test-tsan demo bench bench-server bench-ntpperf sim sim-clknetsim fuzz fuzz-long clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) $(CMAKE_FAST) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# One clang build with AddressSanitizer + UndefinedBehaviorSanitizer (any finding fails) and
# coverage instrumentation: the whole test suite (daemons in the interop and hardening tests
# included) and the libFuzzer targets come out of it, so CI compiles the sources once for both.
san-build: deps
	CC=clang-16 CXX=clang++-16 cmake -S . -B $(SAN_BUILD) $(CMAKE_GEN) $(CMAKE_FAST) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DKAIROS_SANITIZE=ON -DKAIROS_FUZZ=ON -DKAIROS_BENCH=OFF
	cmake --build $(SAN_BUILD) -j $(JOBS)

test-asan: san-build
	cd $(SAN_BUILD) && ctest --output-on-failure -j $(JOBS)

# The tests that run threads (NTP server workers, NTS-KE listener, control socket, shared page,
# resolver) under ThreadSanitizer from a binary of their own, then kairosd itself, sanitized, as
# the NTS server of chronyd with two NTP workers under a flood and as nobody under seccomp. Only
# what those need is built. TSAN_TESTS filters the gtest binary, TSAN_E2E the ctest names.
TSAN_TESTS ?= *
TSAN_E2E   ?= ^interop\.(chronyd_vs_kairosd_server|privileges)$$
test-tsan: deps
	cmake -S . -B $(TSAN_BUILD) $(CMAKE_GEN) $(CMAKE_FAST) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKAIROS_TSAN=ON -DKAIROS_BENCH=OFF
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target kairos_threaded_tests kairosd kairosctl kairos-now kairos_forgery_test
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" $(TSAN_BUILD)/tests/kairos_threaded_tests --gtest_filter='$(TSAN_TESTS)'
	cd $(TSAN_BUILD) && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --output-on-failure --no-tests=error -R '$(TSAN_E2E)'

demo: build
	@bash scripts/demo.sh $(BUILD)

bench: build
	@bash scripts/bench.sh $(BUILD)

# kairosd vs chronyd as servers on loopback, one CPU each side (numbers, never pass/fail).
bench-server: build
	@bash scripts/bench_server.sh $(BUILD)

# The ntpperf part of bench-server alone (github.com/mlichvar/ntpperf, built outside the tree):
# NTPPERF=/path/to/its/source, default /var/cache/kairos/ntpperf; needs root (namespaces).
bench-ntpperf: build
	@bash scripts/ntpperf.sh $(BUILD)

# Every simulator scenario with both servos, against its targets and chronyd's numbers.
sim: build
	$(BUILD)/tools/sim/kairos-sim --table

# kairosd and chronyd side by side in clknetsim (github.com/mlichvar/clknetsim, built outside the
# tree): CLKNETSIM=/path/to/clknetsim; CLKNETSIM_ARGS="--seeds 2 lan" picks seeds and scenarios.
sim-clknetsim: build
	@CLKNETSIM="$(CLKNETSIM)" bash tests/clknetsim/run.sh --build $(BUILD) $(CLKNETSIM_ARGS)

# Every fuzzer for FUZZ_SECONDS, each from its seed corpus; a crash fails the target.
fuzz: san-build
	@bash scripts/fuzz.sh $(SAN_BUILD) $(FUZZ_SECONDS)

# Hour-long runs for a nightly machine: each target FUZZ_LONG_SECONDS (default 3600), new inputs
# merged into tests/fuzz/corpus/; FUZZ_TARGETS="ke_client config" picks targets. A crash leaves
# its reproducer in tests/fuzz/artifacts/ — make it a unit test or a corpus seed before fixing it.
FUZZ_LONG_SECONDS ?= 3600
fuzz-long: san-build
	@FUZZ_MERGE=1 bash scripts/fuzz.sh $(SAN_BUILD) $(FUZZ_LONG_SECONDS)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(TSAN_BUILD)
