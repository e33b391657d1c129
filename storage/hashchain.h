/* Hash chain of the store: the encodings and the link function.
 *
 * Every chained record (an alert, a version of an incident, a prune marker)
 * gets the next sequence number seq and
 *
 *     hash(seq) = BLAKE2b-256( hash(seq - 1) || record bytes || seq as u64 LE )
 *
 * where hash(0) is the store's genesis hash (derived from its random
 * store id).  The record is stored with a trailer (seq, hash), and the chain
 * DB holds one small entry per seq (what it names and its hash), the head
 * (last seq and its hash) and the base (first retained seq and the hash
 * before it).  store.h's store_verify walks these; this module has no LMDB
 * in it, only the pure pieces both the writer and the verifier use.
 *
 * The hash is unkeyed: it proves that records are unchanged since they were
 * chained only to someone who holds a later (seq, hash) from elsewhere, or
 * against a tamperer who does not recompute the chain.  docs/store.md says
 * what that means in practice.
 */
#ifndef VIGIL_STORAGE_HASHCHAIN_H
#define VIGIL_STORAGE_HASHCHAIN_H

#include <stddef.h>
#include <stdint.h>

#define HC_HASH_BYTES    32
#define HC_TRAILER_BYTES (8 + HC_HASH_BYTES)   /* seq u64 LE, hash */
#define HC_ENTRY_BYTES   (2 + 8 + HC_HASH_BYTES)
#define HC_POINT_BYTES   (1 + 8 + HC_HASH_BYTES)

/* libsodium's initialisation (picks the fastest BLAKE2b code): 0, or -1 when
 * libsodium cannot be used.  Idempotent and thread-safe; store_open calls it. */
int hc_init(void);

/* hash(seq) from hash(seq - 1) and the record bytes. */
void hc_link(const uint8_t prev[HC_HASH_BYTES], const void *rec, size_t len, uint64_t seq,
             uint8_t out[HC_HASH_BYTES]);
/* hash(0) of a store. */
void hc_genesis(const uint8_t store_id[16], uint8_t out[HC_HASH_BYTES]);

/* Trailer appended to a chained record's value in its DB. */
void hc_trailer_write(uint8_t out[HC_TRAILER_BYTES], uint64_t seq, const uint8_t hash[HC_HASH_BYTES]);
/* Splits a stored value into record bytes and trailer: 0, or -1 when the
 * value is too short to hold a trailer. */
int hc_trailer_split(const void *val, size_t len, size_t *rec_len, uint64_t *seq, const uint8_t **hash);

enum hc_entry_type {
    HC_ENTRY_ALERT = 1,     /* id = alert id; the record lives in `alerts` */
    HC_ENTRY_INCIDENT = 2,  /* id = incident id; one entry per version, `incidents` holds the newest */
    HC_ENTRY_PRUNE = 3,     /* retention moved the base; the marker record is the entry's payload */
};

/* The value of chain entry seq.  payload is the prune marker (HC_ENTRY_PRUNE
 * only), pointing into the decoded buffer. */
struct hc_entry {
    uint8_t type;
    uint64_t id;
    uint8_t hash[HC_HASH_BYTES];
    const uint8_t *payload;
    size_t payload_len;
};

/* Writes the fixed part (HC_ENTRY_BYTES) of an entry into out; a prune
 * entry's marker bytes follow it in the same value. */
void hc_entry_write(uint8_t out[HC_ENTRY_BYTES], uint8_t type, uint64_t id, const uint8_t hash[HC_HASH_BYTES]);
/* 0, or -1 when buf is not an entry (short, unknown version or type, or a
 * payload on an entry type that has none). */
int hc_entry_decode(const void *buf, size_t len, struct hc_entry *e);

/* A (seq, hash) pair: the head is (last seq, its hash); the base is (first
 * retained seq, hash of the seq before it). */
struct hc_point {
    uint64_t seq;
    uint8_t hash[HC_HASH_BYTES];
};
void hc_point_write(uint8_t out[HC_POINT_BYTES], const struct hc_point *p);
int hc_point_decode(const void *buf, size_t len, struct hc_point *p);

enum hc_prune_reason {
    HC_PRUNE_AGE = 1,        /* retention by age */
    HC_PRUNE_SIZE = 2,       /* used pages above the configured fraction */
    HC_PRUNE_MAP_FULL = 3,   /* MDB_MAP_FULL on a commit */
};

/* The record of a prune, chained at the head by the prune itself: a base
 * that moves without a matching marker is reported by verify. */
struct hc_prune {
    uint64_t old_base;                 /* first seq retained before */
    uint64_t new_base;                 /* first seq retained after */
    uint8_t prev_hash[HC_HASH_BYTES];  /* hash(new_base - 1): the last pruned entry */
    uint64_t alerts;                   /* alerts deleted */
    uint64_t incidents;                /* closed incidents deleted */
    uint64_t carried;                  /* incidents re-chained above the new base */
    int64_t time_ns;                   /* wall clock of the prune */
    uint8_t reason;                    /* enum hc_prune_reason */
};
#define HC_PRUNE_BYTES (2 + 8 + 8 + HC_HASH_BYTES + 8 + 8 + 8 + 8 + 1)
void hc_prune_write(uint8_t out[HC_PRUNE_BYTES], const struct hc_prune *p);
int hc_prune_decode(const void *buf, size_t len, struct hc_prune *p);

#endif
