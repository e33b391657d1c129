/* vigilctl rules: the offline tools an operator runs before a reload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "test_support.h"

static void setup(void)
{
    test_tmpdir("ctl");
}

Test(vigilctl, check_shipped_configs_is_clean, .init = setup, .timeout = 120)
{
    char *argv[] = {strdup(build_path("vigilctl")), "rules", "check", (char *)source_path("configs"), NULL};
    int rc = run_cmd(argv, tmp_path("out"), tmp_path("err"), 0);
    char *err = read_whole_file(tmp_path("err"), NULL);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(err, " 0 errors"), "%s", err);
    free(err);
    free(argv[0]);
}

Test(vigilctl, check_names_file_line_and_rule, .init = setup, .timeout = 120)
{
    mkdir(tmp_path("bad"), 0755);
    mkdir(tmp_path("bad/rules"), 0755);
    mkdir(tmp_path("bad/parsers"), 0755);
    write_text(tmp_path("bad/rules/good.yml"),
               "title: Good\nid: 6f1d2c3b-0000-4000-8000-000000000001\nlevel: low\n"
               "logsource: {product: linux}\ndetection:\n  sel:\n    message|contains: hello\n  condition: sel\n");
    write_text(tmp_path("bad/rules/bad.yml"),
               "title: Bad\nid: 6f1d2c3b-0000-4000-8000-000000000002\nlevel: low\n"
               "logsource: {product: linux}\ndetection:\n  sel:\n    message|base64offset|contains: hello\n"
               "  condition: sel\n");
    write_text(tmp_path("bad/parsers/p.yaml"),
               "pack: p\nparsers:\n  - name: broken\n    template: \"hello %{NOPE:x.y}\"\n");
    char *argv[] = {strdup(build_path("vigilctl")), "rules", "check", (char *)tmp_path("bad"), NULL};
    int rc = run_cmd(argv, tmp_path("out"), tmp_path("err"), 0);
    free(argv[0]);
    char *err = read_whole_file(tmp_path("err"), NULL);
    cr_assert_eq(rc, 1, "errors make check fail: %s", err);
    char want[600];
    snprintf(want, sizeof want, "%s:7:", tmp_path("bad/rules/bad.yml"));
    cr_assert(strstr(err, want), "no file:line for the rule: %s", err);
    cr_assert(strstr(err, "base64offset"), "the construct is named: %s", err);
    snprintf(want, sizeof want, "%s:4:", tmp_path("bad/parsers/p.yaml"));
    cr_assert(strstr(err, want), "no file:line for the template: %s", err);
    cr_assert(strstr(err, "NOPE"), "%s", err);
    cr_assert(strstr(err, "1 rules loaded") || strstr(err, " 1 rules"), "the good rule still loads: %s", err);
    free(err);
}

Test(vigilctl, test_shows_parser_fields_and_rules, .init = setup, .timeout = 120)
{
    write_text(tmp_path("lines.log"),
               "<38>Mar 27 14:54:57 ip-10-77-20-248 sshd[2967]: Invalid user support from 95.152.57.58\n"
               "# a comment line is skipped\n"
               "<38>Mar 27 14:55:00 host cron[1]: ordinary \x1b[31mline\x1b[0m with an escape\n");
    char *argv[] = {strdup(build_path("vigilctl")), "rules", "test", (char *)source_path("configs"),
                    (char *)tmp_path("lines.log"), "--json", NULL};
    int rc = run_cmd(argv, tmp_path("out"), tmp_path("err"), 0);
    free(argv[0]);
    cr_assert_eq(rc, 0);
    FILE *f = fopen(tmp_path("out"), "r");
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
                     (char *)tmp_path("lines.log"), NULL};
    cr_assert_eq(run_cmd(argv2, tmp_path("out2"), tmp_path("err2"), 0), 0);
    free(argv2[0]);
    char *text = read_whole_file(tmp_path("out2"), NULL);
    cr_assert_null(strchr(text, '\x1b'), "raw ESC on the terminal");
    cr_assert(strstr(text, "\\u001b[31m"), "%s", text);
    cr_assert(strstr(text, "parser: openssh/invalid_user"), "%s", text);
    free(text);
}

Test(vigilctl, compile_then_load_reuses_databases, .init = setup, .timeout = 120)
{
    char *argv[] = {strdup(build_path("vigilctl")), "rules", "compile", (char *)source_path("configs"), "-o",
                    (char *)tmp_path("c.rules"), NULL};
    cr_assert_eq(run_cmd(argv, tmp_path("out"), tmp_path("err"), 0), 0);
    char *err = read_whole_file(tmp_path("err"), NULL);
    cr_assert(strstr(err, "written to"), "%s", err);
    free(err);
    cr_assert_eq(run_cmd(argv, tmp_path("out"), tmp_path("err"), 0), 0, "second compile");
    free(argv[0]);
    err = read_whole_file(tmp_path("err"), NULL);
    cr_assert(strstr(err, "(0 Hyperscan databases compiled"), "the second load reuses everything: %s", err);
    free(err);
}
