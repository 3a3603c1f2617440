# Thin wrapper around CMake (as neovim does): every target installs what is missing first.
BUILD       ?= build
ASAN_BUILD  ?= build-asan
TSAN_BUILD  ?= build-tsan
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECONDS ?= 20
JOBS        ?= $(shell nproc)
CMAKE_GEN   := -G Ninja

.PHONY: all deps build test unit-asan unit-tsan demo bench bench-server sim fuzz fuzz-build fuzz-long clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
unit-asan: deps
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DKAIROS_SANITIZE=ON -DKAIROS_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

# The tests that run threads (NTP server workers, NTS-KE listener, control socket, shared page,
# resolver) under ThreadSanitizer; only the unit binary is built.
TSAN_TESTS ?= ControlServer*:KairosctlClient*:KeFetch*:KeListenerTest*:NtpServer*:Shm*:TimeService*:Resolver*
unit-tsan: deps
	cmake -S . -B $(TSAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKAIROS_TSAN=ON -DKAIROS_BENCH=OFF
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target kairos_unit_tests
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" $(TSAN_BUILD)/tests/kairos_unit_tests --gtest_filter='$(TSAN_TESTS)'

demo: build
	@bash scripts/demo.sh $(BUILD)

bench: build
	@bash scripts/bench.sh $(BUILD)

# kairosd vs chronyd as servers on loopback, one CPU each side (numbers, never pass/fail).
bench-server: build
	@bash scripts/bench_server.sh $(BUILD)

# Every simulator scenario with both servos, against its targets and chronyd's numbers.
sim: build
	$(BUILD)/tools/sim/kairos-sim --table

fuzz-build: deps
	CC=clang-16 CXX=clang++-16 cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DKAIROS_FUZZ=ON -DKAIROS_TESTS=OFF -DKAIROS_BENCH=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

# Every fuzzer for FUZZ_SECONDS, each from its seed corpus; a crash fails the target.
fuzz: fuzz-build
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Hour-long runs for a nightly machine: each target FUZZ_LONG_SECONDS (default 3600), new inputs
# merged into tests/fuzz/corpus/; FUZZ_TARGETS="ke_client config" picks targets. A crash leaves
# its reproducer in tests/fuzz/artifacts/ — make it a unit test or a corpus seed before fixing it.
FUZZ_LONG_SECONDS ?= 3600
fuzz-long: fuzz-build
	@FUZZ_MERGE=1 bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_LONG_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
