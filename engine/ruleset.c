#include "engine/ruleset.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/event_json.h"

#define COMPILED_MAGIC   "VIGLRSET"
#define COMPILED_VERSION 1u
#define ARENA_BYTES      (16u << 10)   /* unescaped field values of one event */

void ruleset_config_defaults(struct ruleset_config *c)
{
    memset(c, 0, sizeof *c);
    c->parser_limits.max_parsers = 4096;
    c->parser_limits.max_fields = 64;
    c->detect_limits.max_rules = 20000;
    c->detect_limits.max_patterns = 200000;
    c->max_fields = 64;
    c->excerpt_max = SIGNAL_EXCERPT_MAX;
    c->max_matches = 16;
}

/* ---- source hash ------------------------------------------------------------ */

struct file_list {
    char **v;
    unsigned n, cap;
};

static int has_rule_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcmp(dot, ".yml") || !strcmp(dot, ".yaml"));
}

static void collect(const char *path, struct file_list *fl, int depth)
{
    struct stat st;
    if (depth > 16 || stat(path, &st))
        return;
    if (S_ISREG(st.st_mode)) {
        if (fl->n == fl->cap) {
            unsigned cap = fl->cap ? fl->cap * 2 : 64;
            char **v = realloc(fl->v, cap * sizeof *v);
            if (!v)
                return;
            fl->v = v;
            fl->cap = cap;
        }
        char *dup = strdup(path);
        if (dup)
            fl->v[fl->n++] = dup;
        return;
    }
    if (!S_ISDIR(st.st_mode))
        return;
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) >= (int)sizeof sub)
            continue;
        struct stat sst;
        if (stat(sub, &sst))
            continue;
        if (S_ISDIR(sst.st_mode) || has_rule_ext(de->d_name))
            collect(sub, fl, depth + 1);
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Hash of every rule source (names and contents), so a compiled file is used
 * only for exactly the sources it was built from. */
static uint64_t hash_sources(const struct ruleset_config *cfg)
{
    uint64_t h = 14695981039346656037ull;
    const char *roots[3 + 8] = {cfg->parsers_dir, cfg->rules_dir, cfg->fieldmap};
    unsigned n_roots = 3;
    for (unsigned i = 0; i < cfg->n_extra_rules && i < 8; i++)
        roots[n_roots++] = cfg->extra_rules[i];
    for (unsigned r = 0; r < n_roots; r++) {
        if (!roots[r] || !roots[r][0])
            continue;
        struct file_list fl = {0};
        collect(roots[r], &fl, 0);
        qsort(fl.v, fl.n, sizeof *fl.v, cmp_str);
        for (unsigned i = 0; i < fl.n; i++) {
            h = fnv(h, fl.v[i], strlen(fl.v[i]) + 1);
            FILE *f = fopen(fl.v[i], "rb");
            char buf[8192];
            size_t n;
            while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
                h = fnv(h, buf, n);
            if (f)
                fclose(f);
            free(fl.v[i]);
        }
        free(fl.v);
        h = fnv(h, "|", 1);
    }
    return h;
}

/* ---- compiled file ------------------------------------------------------------ */

static void load_compiled(const char *path, uint64_t hash, struct hsdb_cache *cache, struct diag *d)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return; /* first run: nothing compiled yet */
    char hdr[20];
    uint64_t file_hash;
    uint32_t ver;
    char *blob = NULL;
    long size = -1;
    if (fread(hdr, 1, sizeof hdr, f) == sizeof hdr && !memcmp(hdr, COMPILED_MAGIC, 8)) {
        memcpy(&ver, hdr + 8, 4);
        memcpy(&file_hash, hdr + 12, 8);
        if (ver == COMPILED_VERSION && file_hash == hash && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 20 &&
            fseek(f, 20, SEEK_SET) == 0 && (blob = malloc((size_t)size - 20 + 1)) &&
            fread(blob, 1, (size_t)size - 20, f) == (size_t)size - 20 &&
            hsdb_cache_load(cache, blob, (size_t)size - 20) != 0)
            diag_add(d, DIAG_WARNING, path, 0, "", "compiled ruleset is damaged: recompiling");
    }
    free(blob);
    fclose(f);
}

static void save_compiled(const char *path, uint64_t hash, const struct hsdb_cache *cache, struct diag *d)
{
    char *blob;
    size_t len;
    if (hsdb_cache_save(cache, &blob, &len))
        return;
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    uint32_t ver = COMPILED_VERSION;
    int ok = f && fwrite(COMPILED_MAGIC, 1, 8, f) == 8 && fwrite(&ver, 4, 1, f) == 1 &&
             fwrite(&hash, 8, 1, f) == 1 && fwrite(blob, 1, len, f) == len;
    if (f && fclose(f))
        ok = 0;
    /* rename: a reader never sees a half-written file */
    if (!ok || rename(tmp, path)) {
        diag_add(d, DIAG_WARNING, path, 0, "", "cannot write the compiled ruleset: %s", strerror(errno));
        unlink(tmp);
    }
    free(blob);
}

/* ---- load ------------------------------------------------------------------ */

/* parser_set_constants as detect_set_constants asks for it */
static const struct field_value *parser_constants(const void *ps, unsigned i, unsigned *n)
{
    return parser_set_constants(ps, i, n);
}

int ruleset_load(const struct ruleset_config *cfg, struct ruleset **out, struct diag *d)
{
    *out = NULL;
    struct ruleset *rs = calloc(1, sizeof *rs);
    struct hsdb_cache *cache = hsdb_cache_new();
    if (!rs || !cache || !(rs->reg = field_registry_new()) || !(rs->lt = logsource_table_new())) {
        diag_add(d, DIAG_ERROR, "", 0, "", "out of memory");
        hsdb_cache_free(cache);
        ruleset_free(rs);
        return -1;
    }
    rs->excerpt_max = cfg->excerpt_max < SIGNAL_EXCERPT_MAX ? cfg->excerpt_max : SIGNAL_EXCERPT_MAX;
    rs->max_fields = cfg->max_fields;
    rs->max_matches = cfg->max_matches ? cfg->max_matches : 1;
    rs->hash = hash_sources(cfg);
    if (cfg->compiled_path[0])
        load_compiled(cfg->compiled_path, rs->hash, cache, d);

    int rc = 0;
    if (cfg->parsers_dir[0]) {
        const char *p = cfg->parsers_dir;
        rc |= parser_set_load(&p, 1, rs->reg, rs->lt, &cfg->parser_limits, cache, &rs->parsers, d);
    }
    const char *rule_paths[1 + 8];
    unsigned n_rule_paths = 0;
    if (cfg->rules_dir[0])
        rule_paths[n_rule_paths++] = cfg->rules_dir;
    for (unsigned i = 0; i < cfg->n_extra_rules && i < 8; i++)
        rule_paths[n_rule_paths++] = cfg->extra_rules[i];
    if (n_rule_paths)
        rc |= detect_load(rule_paths, n_rule_paths, cfg->fieldmap[0] ? cfg->fieldmap : NULL, rs->reg, rs->lt,
                          &cfg->detect_limits, cache, &rs->rules, d);
    /* The key fields signals carry: interned so they have ids even if no
     * parser produces them. */
    if (rc || field_registry_intern(rs->reg, "source.ip", &rs->fid_source_ip) ||
        field_registry_intern(rs->reg, "destination.ip", &rs->fid_destination_ip) ||
        field_registry_intern(rs->reg, "source.port", &rs->fid_source_port) ||
        field_registry_intern(rs->reg, "destination.port", &rs->fid_destination_port) ||
        field_registry_intern(rs->reg, "user.name", &rs->fid_user_name)) {
        if (!rc)
            diag_add(d, DIAG_ERROR, "", 0, "", "field registry full");
        hsdb_cache_free(cache);
        ruleset_free(rs);
        return -1;
    }
    rs->n_key_of_field = field_registry_count(rs->reg);
    if (!(rs->key_of_field = calloc(rs->n_key_of_field, 1))) {
        diag_add(d, DIAG_ERROR, "", 0, "", "out of memory");
        hsdb_cache_free(cache);
        ruleset_free(rs);
        return -1;
    }
    /* the parsers' constant fields checked once, not on every event */
    if (rs->parsers && rs->rules &&
        detect_set_constants(rs->rules, rs->parsers, parser_set_count(rs->parsers), parser_constants)) {
        diag_add(d, DIAG_ERROR, "", 0, "", "out of memory (or a Hyperscan error) checking the parsers' constant fields");
        hsdb_cache_free(cache);
        ruleset_free(rs);
        return -1;
    }
    const field_id keys[5] = {rs->fid_source_ip, rs->fid_destination_ip, rs->fid_source_port,
                              rs->fid_destination_port, rs->fid_user_name};
    for (unsigned k = 0; k < 5; k++)
        rs->key_of_field[keys[k]] = (uint8_t)(k + 1);
    hsdb_cache_stats(cache, &rs->compiled, &rs->reused);
    if (cfg->compiled_path[0] && rs->compiled)
        save_compiled(cfg->compiled_path, rs->hash, cache, d);
    hsdb_cache_free(cache);
    *out = rs;
    return 0;
}

int ruleset_attach_workers(struct ruleset *rs, unsigned n)
{
    rs->w = calloc(n, sizeof *rs->w);
    if (!rs->w)
        return -1;
    rs->n_workers = n;
    unsigned n_parsers = rs->parsers ? parser_set_count(rs->parsers) : 0;
    unsigned n_rules = rs->rules ? detect_rule_count(rs->rules) : 0;
    for (unsigned i = 0; i < n; i++) {
        struct ruleset_worker *w = &rs->w[i];
        if ((rs->parsers && parser_set_alloc_scratch(rs->parsers, &w->scratch)) ||
            (rs->rules && detect_alloc_scratch(rs->rules, &w->scratch)) ||
            (rs->rules && !(w->dstate = detect_state_new(rs->rules))) ||
            event_fields_init(&w->ef, rs->max_fields, ARENA_BYTES) ||
            !(w->matches = calloc(rs->max_matches, sizeof *w->matches)) ||
            !(w->parsed = calloc(n_parsers + 1, sizeof *w->parsed)) ||
            !(w->unparsed = calloc(LOGSOURCE_MAX, sizeof *w->unparsed)) ||
            !(w->fired = calloc(n_rules + 1, sizeof *w->fired)))
            return -1;
    }
    return 0;
}

void ruleset_free(struct ruleset *rs)
{
    if (!rs)
        return;
    free(rs->key_of_field);
    for (unsigned i = 0; i < rs->n_workers; i++) {
        struct ruleset_worker *w = &rs->w[i];
        if (w->scratch)
            hs_free_scratch(w->scratch);
        if (w->dstate)
            detect_state_free(w->dstate);
        event_fields_free(&w->ef);
        free(w->matches);
        free(w->parsed);
        free(w->unparsed);
        free(w->fired);
    }
    free(rs->w);
    if (rs->parsers)
        parser_set_free(rs->parsers);
    if (rs->rules)
        detect_free(rs->rules);
    logsource_table_free(rs->lt);
    field_registry_free(rs->reg);
    free(rs);
}

/* ---- per event ---------------------------------------------------------------- */

/* The key fields are written into a zeroed signal: an absent or
 * unconvertible value leaves zeros. */
static void key_str(char *dst, size_t cap, const struct field_value *f)
{
    if (f && f->type == FIELD_STR)
        memcpy(dst, f->v.s.ptr, f->v.s.len < cap ? f->v.s.len : cap);
}

static void key_ip(struct vigil_ip *dst, const struct field_value *f)
{
    if (f && f->type == FIELD_IP)
        *dst = f->v.ip;
    else if (f && f->type == FIELD_STR && !field_parse_ip(f->v.s.ptr, f->v.s.len, dst))
        memset(dst, 0, sizeof *dst);
}

static uint16_t key_port(const struct field_value *f)
{
    return f && f->type == FIELD_INT && f->v.i > 0 && f->v.i <= 65535 ? (uint16_t)f->v.i : 0;
}

unsigned ruleset_process(const struct ruleset *rs, unsigned wi, const struct vigil_event *ev,
                         struct vigil_signal *out, unsigned max)
{
    struct ruleset_worker *w = &rs->w[wi];
    struct event_fields *ef = &w->ef;
    w->events++;
    event_fields_from_syslog(ef, ev);
    int p = rs->parsers ? parser_set_parse(rs->parsers, w->scratch, ev, ef) : -1;
    if (p >= 0)
        w->parsed[p]++;
    else
        w->unparsed[ef->logsource]++;
    w->fields_dropped += ef->dropped;
    if (!rs->rules)
        return 0;
    int m = detect_eval(rs->rules, w->scratch, w->dstate, ef, w->matches, rs->max_matches);
    if (m < 0) {
        w->scan_errors++;
        return 0;
    }
    unsigned n = (unsigned)m < rs->max_matches ? (unsigned)m : rs->max_matches;
    if (n > max)
        n = max;
    w->matches_dropped += (unsigned)m - n;
    if (!n)
        return 0;

    /* Key fields are the same for every rule that fired on this event: the
     * first signal gets them (the first value of each key field, found in
     * one pass over the fields through key_of_field), the others copy it. */
    struct vigil_signal *base = &out[0];
    memset(base, 0, sizeof *base);
    base->kind = SIGNAL_DETECTION;
    base->ruleset_hash = rs->hash;
    base->ts_ns = ev->timestamp_ns;
    base->received_ns = ev->received_ns;
    base->observer = ev->observer_ip;
    const struct field_value *key[6] = {NULL};   /* key[0]: fields that are not keys */
    for (unsigned i = ef->n; i-- > 0;) {           /* backwards: the first value of a key wins */
        unsigned id = ef->f[i].id;
        key[id < rs->n_key_of_field ? rs->key_of_field[id] : 0] = &ef->f[i];
    }
    key_ip(&base->source_ip, key[1]);
    key_ip(&base->destination_ip, key[2]);
    base->source_port = key_port(key[3]);
    base->destination_port = key_port(key[4]);
    key_str(base->user_name, sizeof base->user_name, key[5]);
    size_t ex = ev->message.len < rs->excerpt_max ? ev->message.len : rs->excerpt_max;
    memcpy(base->excerpt, ev->message.ptr ? ev->message.ptr : "", ex);
    base->excerpt_len = (uint16_t)ex;

    for (unsigned i = 0; i < n; i++) {
        const struct rule_info *ri = detect_rule(rs->rules, w->matches[i]);
        w->fired[w->matches[i]]++;
        if (i)
            out[i] = *base;
        out[i].rule_index = w->matches[i];
        out[i].level = ri->level;
        memcpy(out[i].rule_uuid, ri->uuid, sizeof ri->uuid);
    }
    return n;
}

const struct event_fields *ruleset_last_fields(const struct ruleset *rs, unsigned w) { return &rs->w[w].ef; }

/* ---- counters ---------------------------------------------------------------- */

static void put_json_str(FILE *f, const char *s)
{
    char buf[1024];
    size_t n = json_escape(s, strlen(s), buf, sizeof buf);
    fprintf(f, "\"%.*s\"", n == (size_t)-1 ? 0 : (int)n, buf);
}

void ruleset_print_counters_json(const struct ruleset *rs, void *file)
{
    FILE *f = file;
    uint64_t events = 0, scan_errors = 0, fields_dropped = 0, matches_dropped = 0;
    for (unsigned i = 0; i < rs->n_workers; i++) {
        events += rs->w[i].events;
        scan_errors += rs->w[i].scan_errors;
        fields_dropped += rs->w[i].fields_dropped;
        matches_dropped += rs->w[i].matches_dropped;
    }
    fprintf(f, "{\"ruleset_hash\":\"%016" PRIx64 "\",\"events\":%" PRIu64 ",\"scan_errors\":%" PRIu64
               ",\"fields_dropped\":%" PRIu64 ",\"matches_dropped\":%" PRIu64 ",\"parsed\":{",
            rs->hash, events, scan_errors, fields_dropped, matches_dropped);
    unsigned np = rs->parsers ? parser_set_count(rs->parsers) : 0;
    const char *sep = "";
    for (unsigned p = 0; p < np; p++) {
        uint64_t n = 0;
        for (unsigned i = 0; i < rs->n_workers; i++)
            n += rs->w[i].parsed[p];
        fputs(sep, f);
        put_json_str(f, parser_set_name(rs->parsers, p));
        fprintf(f, ":%" PRIu64, n);
        sep = ",";
    }
    fputs("},\"unparsed\":{", f);
    sep = "";
    for (unsigned l = 0; l < logsource_count(rs->lt); l++) {
        uint64_t n = 0;
        for (unsigned i = 0; i < rs->n_workers; i++)
            n += rs->w[i].unparsed[l];
        if (!n)
            continue;
        char name[160];
        logsource_format(logsource_get(rs->lt, (uint16_t)l), name, sizeof name);
        fputs(sep, f);
        put_json_str(f, name);
        fprintf(f, ":%" PRIu64, n);
        sep = ",";
    }
    fputs("},\"fired\":{", f);
    sep = "";
    unsigned nr = rs->rules ? detect_rule_count(rs->rules) : 0;
    for (unsigned r = 0; r < nr; r++) {
        uint64_t n = 0;
        for (unsigned i = 0; i < rs->n_workers; i++)
            n += rs->w[i].fired[r];
        if (!n)
            continue;
        fputs(sep, f);
        put_json_str(f, detect_rule(rs->rules, r)->id);
        fprintf(f, ":%" PRIu64, n);
        sep = ",";
    }
    fputs("}}\n", f);
}
