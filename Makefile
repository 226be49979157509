# Thin wrapper over CMake so the README's commands stay short.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
MODEL ?= models/switch-tiny-t5vocab
PROMPT ?= A <extra_id_0> walks into a bar a orders a <extra_id_1> with <extra_id_2> pinch of <extra_id_3>.

PREFIX ?= /usr/local

.PHONY: all build run test install asan tsan test-aarch64 fuzz clean

all: build

# CMake's own status lines are hidden (--log-level=NOTICE); the project's
# summary stays: one "switchc: <part>: on|off (how to get it)" line per
# optional part. Warnings and errors show as always.
CMAKE_CONFIGURE = cmake --log-level=NOTICE

build:
	$(CMAKE_CONFIGURE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# The quick start's main job: generate with the model shipped in the repo.
run: build
	./$(BUILD)/switchc generate -m $(MODEL) "$(PROMPT)"

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Installs the CLI, the libraries, the header, the man page, switchc.pc and
# the CMake package under PREFIX (DESTDIR=... stages it, as for a package).
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DSWITCHC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo"

# The threaded tests (the pool, sessions sharing a context, MoE on threads, the expert store shared by
# sessions, the training fast path) under ThreadSanitizer; a race fails the test (exit 66).
TSAN_FLAGS = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-fsanitize=thread \
	-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread
tsan:
	$(CMAKE_CONFIGURE) -S . -B build-tsan $(TSAN_FLAGS) $(CMAKE_FLAGS)
	cmake --build build-tsan -j $(JOBS) --target switchc test_pool test_moe_threads test_expert_store_threads test_context test_train_fast
	cd build-tsan && ctest --output-on-failure -R '^test_(pool|moe_threads|expert_store_threads|context|train_fast)$$'

# The portable build for 64-bit ARM, cross-compiled, its tests run under
# qemu-user (Debian: gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user).
test-aarch64:
	$(MAKE) test BUILD=build-aarch64 CMAKE_FLAGS="-DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/aarch64-linux-gnu.cmake -DSWITCHC_NATIVE=OFF"

fuzz:
	CC=clang $(CMAKE_CONFIGURE) -S . -B build-fuzz -DSWITCHC_FUZZ=ON -DSWITCHC_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build-fuzz -j $(JOBS)

clean:
	rm -rf build build-asan build-tsan build-aarch64 build-fuzz
