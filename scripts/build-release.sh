#!/usr/bin/env bash
# Builds the release binaries (vigil-dp, vigil-cp, vigilctl, the benches) with
# profile-guided and link-time optimisation:
#
#   scripts/build-release.sh [BUILD_DIR]        (default build-release)
#   VIGIL_TESTS=ON scripts/build-release.sh     also builds the tests (CI runs them)
#
# 1. Configure BUILD_DIR with VIGIL_PGO=generate and build the two training
#    programs, instrumented.
# 2. Train: the production worker loop (bench_dp_e2e: rx, L2-L4 and syslog
#    decode, parsers and rules of configs/) over the bundled replay traffic in
#    configs/replay (sshd, cron, sudo, iptables, Cisco ASA, Apache through
#    syslog, RFC 5424 vendor lines), and a worker's NetFlow path
#    (bench_dp_flowpath) when the shared corpus with its v9 and IPFIX captures
#    is there.  The .gcda files land next to the objects.
# 3. Reconfigure with VIGIL_PGO=use (which adds LTO) and build everything.
# The worker code is data-driven (templates, rule tables), so branch profiles
# from this mix carry over to other traffic; code the training never reached
# is compiled as without a profile (-fprofile-partial-training), not for size.
# docs/benchmarks.md gives the gain.
set -euo pipefail
cd "$(dirname "$0")/.."
b=${1:-build-release}
corpus=${VIGIL_CORPUS_DIR:-$(cd .. && pwd)/shared/corpus}

cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVIGIL_TESTS="${VIGIL_TESTS:-OFF}" \
      -DVIGIL_CORPUS_DIR="$corpus" -DVIGIL_PGO=generate >/dev/null
find "$b" -name '*.gcda' -delete
cmake --build "$b" --target bench_dp_e2e bench_dp_flowpath

echo "build-release: training on configs/replay" >&2
"$b/bench_dp_e2e" --configs configs --rounds 1 --seconds 3 \
  configs/replay/auth.log configs/replay/web.log configs/replay/vendor.log configs/replay/attack.log >/dev/null
if [ -d "$corpus/netflow" ]; then
  "$b/bench_dp_flowpath" --corpus "$corpus" --prefixes 10000 --rounds 1 --seconds 0.3 >/dev/null 2>&1
fi

cmake -S . -B "$b" -G Ninja -DVIGIL_PGO=use >/dev/null
cmake --build "$b"
echo "build-release: $b/vigil-dp, $b/vigil-cp, $b/vigilctl (PGO + LTO)" >&2
