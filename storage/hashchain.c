/* Hash chain encodings: see hashchain.h.  Everything is little-endian; each
 * standalone encoding starts with a version byte so it can change later. */
#include "storage/hashchain.h"

#include <string.h>

#include <sodium.h>

#include "storage/le.h"

#define HC_VERSION     1
#define HC_PRUNE_TAG   4   /* first byte of a marker: not a record_type, so no record decodes as one */

int hc_init(void) { return sodium_init() < 0 ? -1 : 0; }

void hc_link(const uint8_t prev[HC_HASH_BYTES], const void *rec, size_t len, uint64_t seq,
             uint8_t out[HC_HASH_BYTES])
{
    crypto_generichash_state s;
    uint8_t seqb[8];
    le64_put(seqb, seq);
    crypto_generichash_init(&s, NULL, 0, HC_HASH_BYTES);
    crypto_generichash_update(&s, prev, HC_HASH_BYTES);
    crypto_generichash_update(&s, rec, len);
    crypto_generichash_update(&s, seqb, sizeof seqb);
    crypto_generichash_final(&s, out, HC_HASH_BYTES);
}

void hc_genesis(const uint8_t store_id[16], uint8_t out[HC_HASH_BYTES])
{
    /* A per-store start, so a chain copied from another store does not verify here. */
    static const char label[] = "vigil.store.chain.v1";
    crypto_generichash_state s;
    crypto_generichash_init(&s, NULL, 0, HC_HASH_BYTES);
    crypto_generichash_update(&s, (const uint8_t *)label, sizeof label - 1);
    crypto_generichash_update(&s, store_id, 16);
    crypto_generichash_final(&s, out, HC_HASH_BYTES);
}

void hc_trailer_write(uint8_t out[HC_TRAILER_BYTES], uint64_t seq, const uint8_t hash[HC_HASH_BYTES])
{
    le64_put(out, seq);
    memcpy(out + 8, hash, HC_HASH_BYTES);
}

int hc_trailer_split(const void *val, size_t len, size_t *rec_len, uint64_t *seq, const uint8_t **hash)
{
    if (len < HC_TRAILER_BYTES + 2)   /* a record has at least its type and version bytes */
        return -1;
    const uint8_t *t = (const uint8_t *)val + len - HC_TRAILER_BYTES;
    *rec_len = len - HC_TRAILER_BYTES;
    *seq = le64_get(t);
    *hash = t + 8;
    return 0;
}

void hc_entry_write(uint8_t out[HC_ENTRY_BYTES], uint8_t type, uint64_t id, const uint8_t hash[HC_HASH_BYTES])
{
    out[0] = HC_VERSION;
    out[1] = type;
    le64_put(out + 2, id);
    memcpy(out + 10, hash, HC_HASH_BYTES);
}

int hc_entry_decode(const void *buf, size_t len, struct hc_entry *e)
{
    const uint8_t *p = buf;
    if (len < HC_ENTRY_BYTES || p[0] != HC_VERSION)
        return -1;
    e->type = p[1];
    e->id = le64_get(p + 2);
    memcpy(e->hash, p + 10, HC_HASH_BYTES);
    e->payload = p + HC_ENTRY_BYTES;
    e->payload_len = len - HC_ENTRY_BYTES;
    switch (e->type) {
    case HC_ENTRY_ALERT:
    case HC_ENTRY_INCIDENT:
        return e->payload_len == 0 ? 0 : -1;
    case HC_ENTRY_PRUNE:
        return e->payload_len > 0 ? 0 : -1;
    default:
        return -1;
    }
}

void hc_point_write(uint8_t out[HC_POINT_BYTES], const struct hc_point *p)
{
    out[0] = HC_VERSION;
    le64_put(out + 1, p->seq);
    memcpy(out + 9, p->hash, HC_HASH_BYTES);
}

int hc_point_decode(const void *buf, size_t len, struct hc_point *p)
{
    const uint8_t *b = buf;
    if (len != HC_POINT_BYTES || b[0] != HC_VERSION)
        return -1;
    p->seq = le64_get(b + 1);
    memcpy(p->hash, b + 9, HC_HASH_BYTES);
    return 0;
}

void hc_prune_write(uint8_t out[HC_PRUNE_BYTES], const struct hc_prune *p)
{
    uint8_t *o = out;
    *o++ = HC_PRUNE_TAG;
    *o++ = HC_VERSION;
    le64_put(o, p->old_base), o += 8;
    le64_put(o, p->new_base), o += 8;
    memcpy(o, p->prev_hash, HC_HASH_BYTES), o += HC_HASH_BYTES;
    le64_put(o, p->alerts), o += 8;
    le64_put(o, p->incidents), o += 8;
    le64_put(o, p->carried), o += 8;
    le64_put(o, (uint64_t)p->time_ns), o += 8;
    *o = p->reason;
}

int hc_prune_decode(const void *buf, size_t len, struct hc_prune *p)
{
    const uint8_t *b = buf;
    if (len != HC_PRUNE_BYTES || b[0] != HC_PRUNE_TAG || b[1] != HC_VERSION)
        return -1;
    b += 2;
    p->old_base = le64_get(b), b += 8;
    p->new_base = le64_get(b), b += 8;
    memcpy(p->prev_hash, b, HC_HASH_BYTES), b += HC_HASH_BYTES;
    p->alerts = le64_get(b), b += 8;
    p->incidents = le64_get(b), b += 8;
    p->carried = le64_get(b), b += 8;
    p->time_ns = (int64_t)le64_get(b), b += 8;
    p->reason = *b;
    if (p->reason < HC_PRUNE_AGE || p->reason > HC_PRUNE_MAP_FULL || p->new_base < p->old_base)
        return -1;
    return 0;
}
