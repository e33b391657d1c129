/* Little-endian u64s at fixed offsets of a byte buffer: how the hash chain
 * (trailers, entries, points, prune markers) and the store's meta counters
 * write integers into LMDB values.  Keys are big-endian instead (store.c),
 * so that LMDB's byte order is numeric order.
 *
 * Byte by byte, so the encoding is the same on any host and p needs no
 * alignment.
 */
#ifndef VIGIL_STORAGE_LE_H
#define VIGIL_STORAGE_LE_H

#include <stdint.h>

static inline void le64_put(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t le64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#endif
