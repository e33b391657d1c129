#include "mgmt/term.h"

#include "engine/event_json.h"

void term_print_escaped(FILE *f, const char *p, size_t n)
{
    char buf[4096];
    /* in pieces: json_escape of a piece is at most 6 bytes per input byte,
     * and a piece never splits a UTF-8 sequence mid-way because the cut is
     * moved back to a lead byte */
    while (n) {
        size_t k = n < sizeof buf / 6 ? n : sizeof buf / 6;
        while (k < n && k > 1 && ((unsigned char)p[k] & 0xc0) == 0x80)
            k--;
        size_t w = json_escape(p, k, buf, sizeof buf);
        if (w == (size_t)-1)
            return;
        fwrite(buf, 1, w, f);
        p += k;
        n -= k;
    }
}
