/* vigilctl rules: the offline tools an operator runs before a reload. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "test_support.h"

static char dir[64];

static const char *in_dir(const char *name)
{
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static int run(char *const argv[], const char *out, const char *err)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/vigil-ctl-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

Test(vigilctl, check_shipped_configs_is_clean, .init = setup, .timeout = 120)
{
    char *argv[] = {strdup(build_path("vigilctl")), "rules", "check", (char *)source_path("configs"), NULL};
    int rc = run(argv, in_dir("out"), in_dir("err"));
    char *err = read_whole_file(in_dir("err"), NULL);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(err, " 0 errors"), "%s", err);
    free(err);
    free(argv[0]);
}

Test(vigilctl, check_names_file_line_and_rule, .init = setup, .timeout = 120)
{
    mkdir(in_dir("bad"), 0755);
    mkdir(in_dir("bad/rules"), 0755);
    mkdir(in_dir("bad/parsers"), 0755);
    write_file(in_dir("bad/rules/good.yml"),
               "title: Good\nid: 6f1d2c3b-0000-4000-8000-000000000001\nlevel: low\n"
               "logsource: {product: linux}\ndetection:\n  sel:\n    message|contains: hello\n  condition: sel\n");
    write_file(in_dir("bad/rules/bad.yml"),
               "title: Bad\nid: 6f1d2c3b-0000-4000-8000-000000000002\nlevel: low\n"
               "logsource: {product: linux}\ndetection:\n  sel:\n    message|base64offset|contains: hello\n"
               "  condition: sel\n");
    write_file(in_dir("bad/parsers/p.yaml"),
               "pack: p\nparsers:\n  - name: broken\n    template: \"hello %{NOPE:x.y}\"\n");
    char *argv[] = {strdup(build_path("vigilctl")), "rules", "check", (char *)in_dir("bad"), NULL};
    int rc = run(argv, in_dir("out"), in_dir("err"));
    free(argv[0]);
    char *err = read_whole_file(in_dir("err"), NULL);
    cr_assert_eq(rc, 1, "errors make check fail: %s", err);
    char want[600];
    snprintf(want, sizeof want, "%s:7:", in_dir("bad/rules/bad.yml"));
    cr_assert(strstr(err, want), "no file:line for the rule: %s", err);
    cr_assert(strstr(err, "base64offset"), "the construct is named: %s", err);
    snprintf(want, sizeof want, "%s:4:", in_dir("bad/parsers/p.yaml"));
    cr_assert(strstr(err, want), "no file:line for the template: %s", err);
    cr_assert(strstr(err, "NOPE"), "%s", err);
    cr_assert(strstr(err, "1 rules loaded") || strstr(err, " 1 rules"), "the good rule still loads: %s", err);
    free(err);
}

Test(vigilctl, test_shows_parser_fields_and_rules, .init = setup, .timeout = 120)
{
    write_file(in_dir("lines.log"),
               "<38>Mar 27 14:54:57 ip-10-77-20-248 sshd[2967]: Invalid user support from 95.152.57.58\n"
               "# a comment line is skipped\n"
               "<38>Mar 27 14:55:00 host cron[1]: ordinary \x1b[31mline\x1b[0m with an escape\n");
    char *argv[] = {strdup(build_path("vigilctl")), "rules", "test", (char *)source_path("configs"),
                    (char *)in_dir("lines.log"), "--json", NULL};
    int rc = run(argv, in_dir("out"), in_dir("err"));
    free(argv[0]);
    cr_assert_eq(rc, 0);
    FILE *f = fopen(in_dir("out"), "r");
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        cr_assert_not_null(j, "%s: %s", e.text, line);
        if (n == 0) {
            cr_assert_eq(json_integer_value(json_object_get(j, "line")), 1);
            cr_assert_str_eq(json_string_value(json_object_get(j, "parser")), "openssh/invalid_user");
            json_t *fields = json_object_get(j, "fields");
            cr_assert_str_eq(json_string_value(json_object_get(fields, "user.name")), "support");
            cr_assert_str_eq(json_string_value(json_object_get(fields, "source.ip")), "95.152.57.58");
            json_t *rules = json_object_get(j, "rules");
            cr_assert_geq(json_array_size(rules), 1);
            int unknown_user = 0;
            for (size_t i = 0; i < json_array_size(rules); i++)
                unknown_user |= strstr(json_string_value(json_object_get(json_array_get(rules, i), "title")),
                                       "Unknown User") != NULL;
            cr_assert(unknown_user, "%s", line);
        } else {
            cr_assert_eq(json_integer_value(json_object_get(j, "line")), 3);
            cr_assert_eq(json_array_size(json_object_get(j, "rules")), 0);
        }
        json_decref(j);
        n++;
    }
    free(line);
    fclose(f);
    cr_assert_eq(n, 2);

    /* Text mode shows the escape character escaped, never raw on a terminal. */
    char *argv2[] = {strdup(build_path("vigilctl")), "rules", "test", (char *)source_path("configs"),
                     (char *)in_dir("lines.log"), NULL};
    cr_assert_eq(run(argv2, in_dir("out2"), in_dir("err2")), 0);
    free(argv2[0]);
    char *text = read_whole_file(in_dir("out2"), NULL);
    cr_assert_null(strchr(text, '\x1b'), "raw ESC on the terminal");
    cr_assert(strstr(text, "\\u001b[31m"), "%s", text);
    cr_assert(strstr(text, "parser: openssh/invalid_user"), "%s", text);
    free(text);
}

Test(vigilctl, compile_then_load_reuses_databases, .init = setup, .timeout = 120)
{
    char *argv[] = {strdup(build_path("vigilctl")), "rules", "compile", (char *)source_path("configs"), "-o",
                    (char *)in_dir("c.rules"), NULL};
    cr_assert_eq(run(argv, in_dir("out"), in_dir("err")), 0);
    char *err = read_whole_file(in_dir("err"), NULL);
    cr_assert(strstr(err, "written to"), "%s", err);
    free(err);
    cr_assert_eq(run(argv, in_dir("out"), in_dir("err")), 0, "second compile");
    free(argv[0]);
    err = read_whole_file(in_dir("err"), NULL);
    cr_assert(strstr(err, "(0 Hyperscan databases compiled"), "the second load reuses everything: %s", err);
    free(err);
}
