#include "engine/source.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/diag.h"

static int list_add(struct source_list *l, const char *path)
{
    if (l->n == l->cap) {
        unsigned cap = l->cap ? l->cap * 2 : 64;
        char **np = realloc(l->path, cap * sizeof *np);
        if (!np)
            return -1;
        l->path = np;
        l->cap = cap;
    }
    if (!(l->path[l->n] = strdup(path)))
        return -1;
    l->n++;
    return 0;
}

static bool yaml_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && !strcmp(name + n - 4, ".yml")) || (n > 5 && !strcmp(name + n - 5, ".yaml"));
}

/* Byte order, whatever the locale (alphasort would follow LC_COLLATE). */
static int name_order(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int list_path(const char *path, struct source_list *out, const struct stat *skip, struct diag *d, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        diag_add(d, DIAG_ERROR, path, 0, "", "cannot open: %s", strerror(errno));
        return 0;
    }
    if (skip && st.st_dev == skip->st_dev && st.st_ino == skip->st_ino)
        return 0;
    if (!S_ISDIR(st.st_mode)) {
        if (list_add(out, path) == 0)
            return 0;
        diag_add(d, DIAG_ERROR, path, 0, "", "out of memory");
        return -1;
    }
    if (depth > SOURCE_MAX_DEPTH) {
        diag_add(d, DIAG_ERROR, path, 0, "", "directories nested too deeply");
        return 0;
    }
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, name_order);
    if (n < 0) {
        diag_add(d, DIAG_ERROR, path, 0, "", "cannot read directory: %s", strerror(errno));
        return 0;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char sub[PATH_MAX];
        struct stat ss;
        /* A name too long for a path could not be opened anyway.  Regular
         * files only: reading a FIFO or device named *.yml would block or
         * never end. */
        if (name[0] != '.' && snprintf(sub, sizeof sub, "%s/%s", path, name) < (int)sizeof sub &&
            stat(sub, &ss) == 0 && (S_ISDIR(ss.st_mode) || (S_ISREG(ss.st_mode) && yaml_name(name))) &&
            list_path(sub, out, skip, d, depth + 1))
            rc = -1;
        free(ents[i]);
    }
    free(ents);
    return rc;
}

int source_list_yaml(const char *path, struct source_list *out, const struct stat *skip, struct diag *d)
{
    return list_path(path, out, skip, d, 0);
}

void source_list_free(struct source_list *l)
{
    for (unsigned i = 0; i < l->n; i++)
        free(l->path[i]);
    free(l->path);
    *l = (struct source_list){0};
}

char *source_read(const char *path, size_t *len, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 14, n = 0, r;
    char *buf = malloc(cap + 1);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n < cap)
            continue;
        char *nb = cap < SOURCE_MAX_BYTES ? realloc(buf, cap * 2 + 1) : NULL;
        if (!nb) {
            snprintf(why, whylen, cap < SOURCE_MAX_BYTES ? "out of memory" : "larger than %u MiB",
                     SOURCE_MAX_BYTES >> 20);
            free(buf);
            fclose(f);
            return NULL;
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        snprintf(why, whylen, buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
