/* libFuzzer target: pkt_decode on arbitrary bytes.  Besides ASan/UBSan
 * catching out-of-bounds reads, it checks that what pkt_decode reports stays
 * within the frame and is consistent with the kind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/pkt_decode.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Random bytes almost never carry a valid IPv4 header checksum, which would
 * hide everything behind it from the fuzzer: fix it up when the frame looks
 * like IPv4 (so both the bad-checksum and the deeper paths are explored). */
static void fix_ipv4_checksum(uint8_t *f, size_t size)
{
    size_t off = 12;
    for (int tags = 0; tags < 2 && off + 2 <= size; tags++) {
        unsigned et = (unsigned)f[off] << 8 | f[off + 1];
        if (et != 0x8100 && et != 0x88A8 && et != 0x9100)
            break;
        off += 4;
    }
    if (off + 2 > size || f[off] != 0x08 || f[off + 1] != 0x00)
        return;
    uint8_t *ip = f + off + 2;
    size_t room = size - off - 2;
    size_t ihl = (size_t)(room ? ip[0] & 15 : 0) * 4;
    if (ihl < 20 || ihl > room)
        return;
    ip[10] = ip[11] = 0;
    uint32_t sum = 0;
    for (size_t i = 0; i < ihl; i += 2)
        sum += (uint32_t)ip[i] << 8 | ip[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    sum = ~sum & 0xffff;
    ip[10] = (uint8_t)(sum >> 8);
    ip[11] = (uint8_t)sum;
}

static void check_one(const uint8_t *frame, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > UINT32_MAX)
        return 0;
    /* A private copy of exactly size bytes: an overread hits the redzone. */
    uint8_t *frame = malloc(size ? size : 1);
    if (!frame)
        return 0;
    memcpy(frame, data, size);
    check_one(frame, size);
    if (size && (data[size - 1] & 1)) {
        fix_ipv4_checksum(frame, size);
        check_one(frame, size);
    }
    free(frame);
    return 0;
}

static void check_one(const uint8_t *frame, size_t size)
{
    struct pkt_info pi;
    enum pkt_kind k = pkt_decode(frame, (uint32_t)size, &pi);
    CHECK(k == pi.kind);
    CHECK(pkt_drop_reason_name((enum pkt_drop_reason)pi.drop_reason) != NULL);
    CHECK(pi.vlan_tags <= 2);
    switch (k) {
    case PKT_KIND_DROP:
        CHECK(pi.drop_reason != PKT_OK && pi.drop_reason < PKT_DROP__COUNT);
        break;
    case PKT_KIND_UDP: {
        CHECK(pi.drop_reason == PKT_OK);
        CHECK(pi.ip_version == 4 || pi.ip_version == 6);
        CHECK(pi.l2_len == 14 + 4 * pi.vlan_tags);
        CHECK(pi.src.family == pi.ip_version && pi.dst.family == pi.ip_version);
        CHECK((uint64_t)pi.l2_len + pi.l3_len + 8 == pi.payload_off);
        CHECK((uint64_t)pi.payload_off + pi.payload_len <= size);
        /* touch the payload the way a decoder will */
        volatile uint8_t x = 0;
        for (uint32_t i = 0; i < pi.payload_len; i++)
            x ^= frame[pi.payload_off + i];
        (void)x;
        break;
    }
    case PKT_KIND_IPV4_FRAG:
        CHECK(pi.drop_reason == PKT_OK && pi.ip_version == 4);
        CHECK(pi.l3_len >= 20 && pi.l3_len <= 60 && pi.l3_len % 4 == 0);
        CHECK((uint64_t)pi.l2_len + pi.l3_len < size);
        break;
    case PKT_KIND_IPV6_FRAG:
        CHECK(pi.drop_reason == PKT_OK && pi.ip_version == 6);
        CHECK(pi.l3_len == 40 && pi.frag_hdr_off == pi.l2_len + pi.l3_len);
        CHECK((uint64_t)pi.frag_hdr_off + 8 < size);
        break;
    default:
        CHECK(0);
    }

    /* same bytes, same answer */
    struct pkt_info again;
    CHECK(pkt_decode(frame, (uint32_t)size, &again) == k);
    CHECK(memcmp(&pi, &again, sizeof pi) == 0);
}
