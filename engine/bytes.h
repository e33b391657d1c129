/* Integers read from byte buffers at any alignment: in host order (for
 * comparing a few bytes of text at once) and in network order (for the
 * fields of NetFlow/IPFIX packets and of the template blobs).  memcpy is
 * how C reads an unaligned word; compilers turn it into one load. */
#ifndef VIGIL_ENGINE_BYTES_H
#define VIGIL_ENGINE_BYTES_H

#include <stdint.h>
#include <string.h>

static inline uint16_t load_u16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t load_u32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t load_u64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint16_t load_be16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t load_be32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

#endif
