/* Printing log content on an operator's terminal: control characters
 * (ESC sequences included) and invalid UTF-8 are escaped as in JSON, so a
 * hostile log line cannot drive the terminal. */
#ifndef VIGIL_MGMT_TERM_H
#define VIGIL_MGMT_TERM_H

#include <stddef.h>
#include <stdio.h>

void term_print_escaped(FILE *f, const char *p, size_t n);

#endif
