/* libFuzzer target for the NetFlow v9 decoder and its template cache.
 *
 * Datagrams of the input are v9 packets (version forced to 9).  The run
 * itself is the one IPFIX has: see fuzz_netflow_common.h.
 */
#include "fuzz_netflow_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_nf_templated(data, size, 9); }
