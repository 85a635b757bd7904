# VelumOS: the habits of the original (make clean && make), on top of CMake + Ninja.
# make: build everything, programs at the root · make test · make demo · make bench
BUILD ?= build
# -Werror here, in the build CI tests (make test): a warning fails it, with g++ or clang++.
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVELUM_WERROR=ON
PROGRAMS = velum node

.PHONY: all deps configure test demo bench clean format sanitize

all: configure
	cmake --build $(BUILD)
	@for p in $(PROGRAMS); do cp -f $(BUILD)/$$p ./$$p; done

configure:
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

deps:
	./scripts/install-deps

test: deps all
	cd $(BUILD) && ctest --output-on-failure -j2 --timeout 900

demo: deps all
	./scripts/demo

bench: deps all
	BUILD=$(BUILD) ./scripts/bench

# ASan+UBSan build of everything but the spec suite and the fuzzer, then the tests but those
# labelled slow (meshes of 200 and 1000 simulated nodes) and the spec suite.
# ccache is used when installed (CI has none).
CCACHE_FLAGS := $(shell command -v ccache >/dev/null 2>&1 && echo -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
sanitize: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVELUM_SANITIZE=address,undefined -DVELUM_FUZZ=OFF -DVELUM_WERROR=ON $(CCACHE_FLAGS)
	cmake --build build-asan
	cd build-asan && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -j2 -LE 'conformance|fuzz|slow'

format:
	clang-format -i $$(git ls-files '*.cc' '*.h' '*.c')

clean:
	rm -rf $(BUILD) build-asan $(PROGRAMS)
