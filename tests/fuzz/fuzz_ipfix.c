/* libFuzzer target for the IPFIX decoder and its template cache.
 *
 * Datagrams of the input are IPFIX messages (version forced to 10); their
 * message length field is left as the fuzzer made it, so both the length
 * checks and the sets behind them get exercised.  The run itself is the
 * one v9 has: see fuzz_netflow_common.h.
 */
#include "fuzz_netflow_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_nf_templated(data, size, 10); }
