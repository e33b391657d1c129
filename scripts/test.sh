#!/usr/bin/env bash
# Runs every test of Vigil: the unit and integration tests of the debuggable
# build (RelWithDebInfo), of the release build (PGO + LTO) and under
# AddressSanitizer + UndefinedBehaviorSanitizer, and a short libFuzzer run of
# every fuzz target.  Exits non-zero on any failure.
#
#   FUZZ_SECONDS=60   time per fuzz target (0 skips fuzzing)
#   SKIP_ASAN=1       skip the sanitizer build
#   VIGIL_CORPUS_DIR  test corpus (default: ../shared/corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

corpus=${VIGIL_CORPUS_DIR:-$(cd .. && pwd)/shared/corpus}
if [ ! -f "$corpus/MANIFEST.md" ]; then
  echo "test: the shared test corpus is not at $corpus; set VIGIL_CORPUS_DIR" >&2
  exit 1
fi
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-60}
passed=0

run_ctest() {  # build dir
  local n
  n=$(cd "$1" && ctest -N | sed -n 's/^Total Tests: //p')
  (cd "$1" && ctest --output-on-failure --timeout 600)
  passed=$((passed + n))
}

echo "== release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_CORPUS_DIR="$corpus" >/dev/null
cmake --build build -j"$jobs"
run_ctest build

echo "== release build (PGO + LTO, scripts/build-release.sh)"
VIGIL_TESTS=ON VIGIL_CORPUS_DIR="$corpus" ./scripts/build-release.sh build-release
run_ctest build-release

if [ "${SKIP_ASAN:-0}" != 1 ]; then
  echo "== ASan + UBSan build"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVIGIL_SANITIZE=ON \
        -DVIGIL_CORPUS_DIR="$corpus" >/dev/null
  cmake --build build-asan -j"$jobs"
  # DPDK's EAL keeps its memory until exit by design: leak reports would be noise.
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest build-asan
fi

if [ "$fuzz_seconds" -gt 0 ]; then
  echo "== fuzz (${fuzz_seconds}s per target)"
  CC=clang cmake -S . -B build-fuzz -G Ninja -DVIGIL_FUZZ=ON -DVIGIL_TESTS=OFF >/dev/null
  cmake --build build-fuzz -j"$jobs"
  ./scripts/fuzz-seeds.sh "$corpus" build-fuzz/seeds
  for t in $(cd build-fuzz/tests/fuzz && ls fuzz_* | grep -v '\.'); do
    mkdir -p "build-fuzz/corpus-$t"
    mkdir -p "build-fuzz/seeds/${t#fuzz_}"
    ./build-fuzz/tests/fuzz/$t -max_total_time="$fuzz_seconds" -max_len=8192 -print_final_stats=1 \
      "build-fuzz/corpus-$t" "build-fuzz/seeds/${t#fuzz_}" 2>"build-fuzz/$t.log" \
      || { tail -n 60 "build-fuzz/$t.log"; echo "test: $t found a crash" >&2; exit 1; }
    grep -E '^stat::number_of_executed_units' "build-fuzz/$t.log" | sed "s/^/$t: /"
    passed=$((passed + 1))
  done
fi

echo "vigil: $passed passed, 0 failed"
