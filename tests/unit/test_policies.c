/*
 * Unit tests for policies: the policy directory as a live set. Names come from file names; a
 * broken file is reported and, at reload, leaves the previous version in force; the reload report
 * says what was loaded, unchanged, removed and refused; a reference taken before a reload stays
 * usable after it. Each test uses its own mkdtemp policy directory under /tmp, removed by the
 * fixture. (policies.c logs each refused file on stderr; that output is expected.)
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>

#include "airlock_limits.h"
#include "policies.h"

static char dir[64];

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
setup(void)
{
    cr_assert_eq(str_copy(dir, sizeof(dir), "/tmp/airlock-test-policies-XXXXXX"), 0);
    cr_assert_not_null(mkdtemp(dir));
}

static void
teardown(void)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    dir[0] = '\0';
}

TestSuite(policies, .init = setup, .fini = teardown);

/* ---- helpers ---- */

#define GOOD(desc)                                                                                 \
    "{\"description\": \"" desc "\", \"network\": {\"allow\": [{\"host\": \"example.com\"}]}}"
#define BROKEN "{\"description\": \"broken\", \"network\": "
#define UNKNOWN_KEY "{\"description\": \"x\", \"bogus\": 1}"

static const struct policy_limits defaults = {
    .timeout_s = 300,
    .memory_mb = 1024,
    .pids = 256,
    .cpu_s = 300,
    .output_bytes = 16 * 1024 * 1024,
    .disk_mb = 1024,
};

static void
put_bytes(const char *file, const char *text, size_t len)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    /* Written beside and renamed, as an operator's editor would: the old inode is never seen
     * half-written. */
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", dir, file);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0, "open %s: %s", tmp, strerror(errno));
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    cr_assert_eq(rename(tmp, path), 0);
}

static void
put(const char *file, const char *text)
{
    put_bytes(file, text, strlen(text));
}

static void
del(const char *file)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    cr_assert_eq(unlink(path), 0, "unlink %s: %s", path, strerror(errno));
}

static struct policies *
new_set(void)
{
    struct policies *ps = NULL;

    cr_assert_eq(policies_new(dir, &defaults, &ps), 0);
    cr_assert_not_null(ps);
    return ps;
}

/* Reloads, expecting success; returns the report (new reference). */
static json_t *
reload(struct policies *ps)
{
    struct err err = {0};
    json_t *report = NULL;
    int r = policies_reload(ps, &report, &err);

    cr_assert_eq(r, 0, "policies_reload: %d %s", r, err.message);
    cr_assert_not_null(report);
    cr_assert(json_is_array(json_object_get(report, "loaded")));
    cr_assert(json_is_array(json_object_get(report, "unchanged")));
    cr_assert(json_is_array(json_object_get(report, "removed")));
    cr_assert(json_is_array(json_object_get(report, "errors")));
    return report;
}

/* The report as text for a failure message, in a static buffer (nothing to free). */
static const char *
dump(json_t *j)
{
    static char buf[4096];
    size_t n = json_dumpb(j, buf, sizeof(buf) - 1, JSON_COMPACT);

    buf[n < sizeof(buf) ? n : sizeof(buf) - 1] = '\0';
    return buf;
}

static bool
has_name(json_t *report, const char *list, const char *name)
{
    json_t *arr = json_object_get(report, list);
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

static size_t
list_size(json_t *report, const char *list)
{
    return json_array_size(json_object_get(report, list));
}

/* The errors[] entry for file, or NULL. Borrowed reference. */
static json_t *
error_for(json_t *report, const char *file)
{
    json_t *arr = json_object_get(report, "errors");
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        const char *f = json_string_value(json_object_get(v, "file"));
        if (f && strcmp(f, file) == 0)
            return v;
    }
    return NULL;
}

static const char *
error_message(json_t *e)
{
    const char *m = json_string_value(json_object_get(e, "message"));

    return m ? m : "";
}

static bool
kept_previous(json_t *e)
{
    json_t *k = json_object_get(e, "kept_previous");

    cr_assert(json_is_boolean(k), "kept_previous missing or not a boolean");
    return json_is_true(k);
}

/* The description of the policy named name, checked present. */
static void
expect_description(struct policies *ps, const char *name, const char *want)
{
    struct policy *p = policies_get(ps, name);

    cr_assert_not_null(p, "policy \"%s\" is missing", name);
    cr_expect_str_eq(policy_name(p), name);
    cr_expect_str_eq(policy_description(p), want, "policy \"%s\"", name);
    policy_unref(p);
}

/* ---- loading ---- */

Test(policies, new_set_is_empty)
{
    struct policies *ps = new_set();
    json_t *list = policies_list_json(ps);

    cr_assert_eq(policies_count(ps), 0);
    cr_assert_null(policies_get(ps, "anything"));
    cr_assert_not_null(list);
    cr_assert_eq(json_array_size(json_object_get(list, "policies")), 0);
    json_decref(list);
    policies_free(ps);
}

Test(policies, empty_directory)
{
    struct policies *ps = new_set();
    json_t *report = reload(ps);

    cr_assert_eq(policies_count(ps), 0);
    cr_assert_eq(list_size(report, "loaded"), 0);
    cr_assert_eq(list_size(report, "errors"), 0);
    json_decref(report);
    policies_free(ps);
}

Test(policies, valid_policies_load)
{
    struct policies *ps = new_set();
    json_t *report;

    put("pypi.json", GOOD("Python packages"));
    put("npm.json", GOOD("Node packages"));
    put("default.json", "{\"description\": \"no network\"}");
    report = reload(ps);
    cr_assert_eq(policies_count(ps), 3);
    cr_assert_eq(list_size(report, "loaded"), 3);
    cr_assert(has_name(report, "loaded", "pypi"));
    cr_assert(has_name(report, "loaded", "npm"));
    cr_assert(has_name(report, "loaded", "default"));
    cr_assert_eq(list_size(report, "unchanged"), 0);
    cr_assert_eq(list_size(report, "removed"), 0);
    cr_assert_eq(list_size(report, "errors"), 0);
    expect_description(ps, "pypi", "Python packages");
    expect_description(ps, "npm", "Node packages");
    expect_description(ps, "default", "no network");
    cr_assert_null(policies_get(ps, "pypi.json"));
    cr_assert_null(policies_get(ps, "PYPI"));
    cr_assert_null(policies_get(ps, ""));
    json_decref(report);
    policies_free(ps);
}

Test(policies, defaults_applied)
{
    struct policies *ps = new_set();
    struct policy *p;

    put("a.json", GOOD("a"));
    json_decref(reload(ps));
    p = policies_get(ps, "a");
    cr_assert_not_null(p);
    cr_assert_eq(policy_limits(p)->pids, defaults.pids);
    cr_assert_eq(policy_limits(p)->timeout_s, defaults.timeout_s);
    cr_assert(policy_has_network(p));
    policy_unref(p);
    policies_free(ps);
}

/* Names are the file name without ".json": [a-z0-9][a-z0-9._-]*. */
static const char *const good_file_names[] = {
    "a.json",      "0.json",  "github-read.json",     "x_y.json", "a.b.json",
    "9lives.json", "a-.json", "debian.bookworm.json", "a..json",  "a.json.json",
};

Test(policies, names_from_file_names)
{
    struct policies *ps = new_set();
    json_t *report;

    for (size_t i = 0; i < ARRAY_SIZE(good_file_names); i++)
        put(good_file_names[i], GOOD("d"));
    report = reload(ps);
    cr_assert_eq(list_size(report, "errors"), 0);
    cr_assert_eq(policies_count(ps), ARRAY_SIZE(good_file_names));
    for (size_t i = 0; i < ARRAY_SIZE(good_file_names); i++) {
        char name[128];
        size_t len = strlen(good_file_names[i]) - 5;
        struct policy *p;

        memcpy(name, good_file_names[i], len);
        name[len] = '\0';
        p = policies_get(ps, name);
        cr_expect_not_null(p, "%s did not load as \"%s\"", good_file_names[i], name);
        if (p) {
            cr_expect_str_eq(policy_name(p), name);
            policy_unref(p);
        }
    }
    json_decref(report);
    policies_free(ps);
}

/* Files not named *.json, or hidden, are not policies: silently ignored. */
static const char *const ignored_file_names[] = {
    "x.txt",  ".hidden.json", ".json", "x.JSON",  "x.json~",    "x.json.bak",
    "README", "x.jso",        "json",  ".a.json", "x.json.swp",
};

Test(policies, non_policy_files_ignored)
{
    struct policies *ps = new_set();
    json_t *report;

    for (size_t i = 0; i < ARRAY_SIZE(ignored_file_names); i++)
        put(ignored_file_names[i], GOOD("d"));
    put("real.json", GOOD("real"));
    report = reload(ps);
    cr_assert_eq(policies_count(ps), 1);
    cr_assert(has_name(report, "loaded", "real"));
    cr_assert_eq(list_size(report, "errors"), 0, "%s", dump(report));
    cr_assert_null(policies_get(ps, "hidden"));
    cr_assert_null(policies_get(ps, ".hidden"));
    cr_assert_null(policies_get(ps, "x"));
    json_decref(report);
    policies_free(ps);
}

/* *.json files whose name is not a valid policy name are reported, not loaded. */
static const char *const bad_file_names[] = {
    "Upper.json",       "a b.json", "-x.json",   "_x.json",   "x@y.json",
    "caf\xc3\xa9.json", "x+y.json", "a\tb.json", "PYPI.json",
};

Test(policies, invalid_file_names_reported)
{
    struct policies *ps = new_set();
    json_t *report;

    for (size_t i = 0; i < ARRAY_SIZE(bad_file_names); i++)
        put(bad_file_names[i], GOOD("d"));
    put("ok.json", GOOD("ok"));
    report = reload(ps);
    cr_assert_eq(policies_count(ps), 1);
    cr_assert_eq(list_size(report, "errors"), ARRAY_SIZE(bad_file_names));
    for (size_t i = 0; i < ARRAY_SIZE(bad_file_names); i++) {
        json_t *e = error_for(report, bad_file_names[i]);

        cr_expect_not_null(e, "%s not reported", bad_file_names[i]);
        if (!e)
            continue;
        cr_expect_not_null(strstr(error_message(e), "not a valid policy name"), "%s: %s",
                           bad_file_names[i], error_message(e));
        cr_expect_not(kept_previous(e));
    }
    cr_assert_null(policies_get(ps, "Upper"));
    cr_assert_null(policies_get(ps, "upper"));
    cr_assert_null(policies_get(ps, "a b"));
    json_decref(report);
    policies_free(ps);
}

Test(policies, name_length_limit)
{
    struct policies *ps = new_set();
    char name[POLICY_NAME_MAX + 2], file[POLICY_NAME_MAX + 16];
    json_t *report;

    memset(name, 'n', POLICY_NAME_MAX);
    name[POLICY_NAME_MAX] = '\0';
    snprintf(file, sizeof(file), "%s.json", name);
    put(file, GOOD("longest"));
    name[POLICY_NAME_MAX] = 'n';
    name[POLICY_NAME_MAX + 1] = '\0';
    snprintf(file, sizeof(file), "%s.json", name);
    put(file, GOOD("too long"));
    report = reload(ps);
    cr_assert_eq(policies_count(ps), 1);
    cr_assert_not_null(error_for(report, file));
    name[POLICY_NAME_MAX] = '\0';
    expect_description(ps, name, "longest");
    json_decref(report);
    policies_free(ps);
}

struct name_case {
    const char *name;
    bool valid;
};

static const struct name_case name_cases[] = {
    {"a", true},
    {"pypi", true},
    {"github-read", true},
    {"a.b_c-d", true},
    {"0", true},
    {"9a", true},
    {"", false},
    {"A", false},
    {"aB", false},
    {".a", false},
    {"-a", false},
    {"_a", false},
    {"a b", false},
    {"a/b", false},
    {"..", false},
    {"a\n", false},
    {"caf\xc3\xa9", false},
};

Test(policies, name_valid_table)
{
    char longest[POLICY_NAME_MAX + 2];

    for (size_t i = 0; i < ARRAY_SIZE(name_cases); i++)
        cr_expect_eq(policies_name_valid(name_cases[i].name), name_cases[i].valid, "\"%s\"",
                     name_cases[i].name);
    memset(longest, 'z', POLICY_NAME_MAX);
    longest[POLICY_NAME_MAX] = '\0';
    cr_expect(policies_name_valid(longest));
    longest[POLICY_NAME_MAX] = 'z';
    longest[POLICY_NAME_MAX + 1] = '\0';
    cr_expect_not(policies_name_valid(longest));
}

/* ---- broken files ---- */

Test(policies, broken_file_on_first_load_reported_and_absent)
{
    struct policies *ps = new_set();
    json_t *report, *e;

    put("good.json", GOOD("good"));
    put("broken.json", BROKEN);
    put("unknown.json", UNKNOWN_KEY);
    report = reload(ps);
    cr_assert_eq(policies_count(ps), 1);
    cr_assert(has_name(report, "loaded", "good"));
    cr_assert_not(has_name(report, "loaded", "broken"));
    cr_assert_null(policies_get(ps, "broken"));
    cr_assert_null(policies_get(ps, "unknown"));
    e = error_for(report, "broken.json");
    cr_assert_not_null(e);
    cr_assert_not(kept_previous(e));
    cr_assert_neq(error_message(e)[0], '\0');
    e = error_for(report, "unknown.json");
    cr_assert_not_null(e);
    cr_assert_not(kept_previous(e));
    cr_assert_not_null(strstr(error_message(e), "bogus"), "%s", error_message(e));
    json_decref(report);
    policies_free(ps);
}

Test(policies, broken_reload_keeps_previous)
{
    struct policies *ps = new_set();
    json_t *report, *e;

    put("pypi.json", GOOD("v1"));
    put("other.json", GOOD("other"));
    json_decref(reload(ps));
    put("pypi.json", BROKEN);
    report = reload(ps);
    cr_assert_eq(policies_count(ps), 2);
    expect_description(ps, "pypi", "v1");
    e = error_for(report, "pypi.json");
    cr_assert_not_null(e, "%s", dump(report));
    cr_assert(kept_previous(e));
    cr_assert_not(has_name(report, "loaded", "pypi"));
    cr_assert_not(has_name(report, "removed", "pypi"));
    cr_assert(has_name(report, "unchanged", "other"));
    json_decref(report);

    /* Still broken at the next reload: still the previous version, still reported. */
    report = reload(ps);
    expect_description(ps, "pypi", "v1");
    e = error_for(report, "pypi.json");
    cr_assert_not_null(e);
    cr_assert(kept_previous(e));
    json_decref(report);

    /* Fixed: the new version loads. */
    put("pypi.json", GOOD("v2"));
    report = reload(ps);
    cr_assert(has_name(report, "loaded", "pypi"));
    cr_assert_eq(list_size(report, "errors"), 0);
    expect_description(ps, "pypi", "v2");
    json_decref(report);
    policies_free(ps);
}

Test(policies, broken_back_to_previous_text_is_unchanged)
{
    struct policies *ps = new_set();
    json_t *report;

    put("a.json", GOOD("v1"));
    json_decref(reload(ps));
    put("a.json", UNKNOWN_KEY);
    json_decref(reload(ps));
    put("a.json", GOOD("v1"));
    report = reload(ps);
    cr_assert(has_name(report, "unchanged", "a"), "%s", dump(report));
    expect_description(ps, "a", "v1");
    json_decref(report);
    policies_free(ps);
}

Test(policies, file_turned_directory_keeps_previous)
{
    struct policies *ps = new_set();
    char path[PATH_MAX];
    json_t *report, *e;

    put("a.json", GOOD("v1"));
    json_decref(reload(ps));
    del("a.json");
    snprintf(path, sizeof(path), "%s/a.json", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    report = reload(ps);
    e = error_for(report, "a.json");
    cr_assert_not_null(e);
    cr_assert(kept_previous(e));
    cr_assert_not_null(strstr(error_message(e), "not a regular file"), "%s", error_message(e));
    expect_description(ps, "a", "v1");
    json_decref(report);
    policies_free(ps);
}

Test(policies, unreadable_file_reported)
{
    struct policies *ps = new_set();
    char path[PATH_MAX];
    json_t *report, *e;

    if (geteuid() == 0) {
        teardown(); /* criterion does not run .fini for a skipped test */
        cr_skip_test("root reads a mode 000 file");
    }
    put("secret.json", GOOD("x"));
    snprintf(path, sizeof(path), "%s/secret.json", dir);
    cr_assert_eq(chmod(path, 0), 0);
    report = reload(ps);
    e = error_for(report, "secret.json");
    cr_assert_not_null(e);
    cr_assert_not_null(strstr(error_message(e), "cannot open"), "%s", error_message(e));
    cr_assert_null(policies_get(ps, "secret"));
    json_decref(report);
    policies_free(ps);
}

/* ---- unchanged, removed, reloaded ---- */

Test(policies, unchanged_and_removed)
{
    struct policies *ps = new_set();
    json_t *report;

    put("keep.json", GOOD("keep"));
    put("gone.json", GOOD("gone"));
    put("edit.json", GOOD("edit v1"));
    json_decref(reload(ps));
    cr_assert_eq(policies_count(ps), 3);
    del("gone.json");
    put("edit.json", GOOD("edit v2"));
    put("new.json", GOOD("new"));
    report = reload(ps);
    cr_assert_eq(policies_count(ps), 3);
    cr_assert(has_name(report, "unchanged", "keep"));
    cr_assert_eq(list_size(report, "unchanged"), 1);
    cr_assert(has_name(report, "removed", "gone"));
    cr_assert_eq(list_size(report, "removed"), 1);
    cr_assert(has_name(report, "loaded", "edit"));
    cr_assert(has_name(report, "loaded", "new"));
    cr_assert_eq(list_size(report, "loaded"), 2);
    cr_assert_eq(list_size(report, "errors"), 0);
    cr_assert_null(policies_get(ps, "gone"));
    expect_description(ps, "edit", "edit v2");
    expect_description(ps, "keep", "keep");
    json_decref(report);
    policies_free(ps);
}

Test(policies, unchanged_keeps_the_same_policy_object)
{
    struct policies *ps = new_set();
    struct policy *before, *after;

    put("a.json", GOOD("a"));
    json_decref(reload(ps));
    before = policies_get(ps, "a");
    json_decref(reload(ps));
    after = policies_get(ps, "a");
    cr_assert_eq(before, after, "an unchanged file was parsed again");
    policy_unref(before);
    policy_unref(after);
    policies_free(ps);
}

Test(policies, reload_without_report)
{
    struct policies *ps = new_set();
    struct err err = {0};

    put("a.json", GOOD("a"));
    cr_assert_eq(policies_reload(ps, NULL, &err), 0, "%s", err.message);
    cr_assert_eq(policies_count(ps), 1);
    policies_free(ps);
}

Test(policies, reference_survives_reload)
{
    struct policies *ps = new_set();
    struct policy *held;
    json_t *report;

    put("a.json", GOOD("old"));
    json_decref(reload(ps));
    held = policies_get(ps, "a");
    cr_assert_not_null(held);

    put("a.json", GOOD("new"));
    report = reload(ps);
    cr_assert(has_name(report, "loaded", "a"));
    json_decref(report);
    /* The held reference is the old version, still whole. */
    cr_assert_str_eq(policy_name(held), "a");
    cr_assert_str_eq(policy_description(held), "old");
    cr_assert(policy_has_network(held));
    expect_description(ps, "a", "new");

    del("a.json");
    report = reload(ps);
    cr_assert(has_name(report, "removed", "a"));
    json_decref(report);
    cr_assert_null(policies_get(ps, "a"));
    cr_assert_str_eq(policy_description(held), "old");
    json_t *j = policy_to_json(held);
    cr_assert_not_null(j);
    json_decref(j);

    /* Even after the whole set is freed. */
    policies_free(ps);
    cr_assert_str_eq(policy_name(held), "a");
    cr_assert_str_eq(policy_description(held), "old");
    policy_unref(held);
}

struct reader {
    struct policies *ps;
    atomic_int *stop;
    long seen;
};

static void *
reader_main(void *arg)
{
    struct reader *rd = arg;

    while (!atomic_load(rd->stop)) {
        struct policy *p = policies_get(rd->ps, "a");
        if (p) {
            /* Touch the policy after the lock is gone: a reload must not have freed it. */
            if (strcmp(policy_name(p), "a") == 0 && policy_description(p)[0] == 'v')
                rd->seen++;
            policy_unref(p);
        }
        json_decref(policies_list_json(rd->ps));
    }
    return NULL;
}

/* Readers take and drop references while reloads swap versions under them. Run under ASan
 * (make check) this catches a reference freed too early. */
Test(policies, concurrent_get_and_reload)
{
    struct policies *ps = new_set();
    atomic_int stop = 0;
    struct reader rd[2] = {{ps, &stop, 0}, {ps, &stop, 0}};
    pthread_t th[2];

    put("a.json", GOOD("v0"));
    json_decref(reload(ps));
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
    for (int k = 1; k <= 60; k++) {
        char text[256];
        snprintf(text, sizeof(text), GOOD("v%d"), k);
        put("a.json", k % 7 == 0 ? BROKEN : text);
        json_decref(reload(ps));
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_assert_gt(rd[0].seen + rd[1].seen, 0);
    expect_description(ps, "a", "v60");
    policies_free(ps);
}

/* ---- listing ---- */

Test(policies, list_sorted_by_name)
{
    static const char *const files[] = {"zeta.json",    "alpha.json",  "mid.json",
                                        "alpha-2.json", "0first.json", "beta.json"};
    static const char *const sorted[] = {"0first", "alpha", "alpha-2", "beta", "mid", "zeta"};
    struct policies *ps = new_set();
    json_t *list, *arr;

    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char text[256];
        snprintf(text, sizeof(text), GOOD("desc of %s"), files[i]);
        put(files[i], text);
    }
    json_decref(reload(ps));
    list = policies_list_json(ps);
    cr_assert_not_null(list);
    cr_assert_eq(json_object_size(list), 1);
    arr = json_object_get(list, "policies");
    cr_assert_eq(json_array_size(arr), ARRAY_SIZE(sorted));
    for (size_t i = 0; i < ARRAY_SIZE(sorted); i++) {
        json_t *item = json_array_get(arr, i);
        const char *name = json_string_value(json_object_get(item, "name"));
        const char *desc = json_string_value(json_object_get(item, "description"));
        char want[256];

        cr_expect_str_eq(name, sorted[i], "position %zu", i);
        snprintf(want, sizeof(want), "desc of %s.json", sorted[i]);
        cr_expect_str_eq(desc, want, "position %zu", i);
    }
    json_decref(list);
    policies_free(ps);
}

Test(policies, list_description_empty_when_absent)
{
    struct policies *ps = new_set();
    json_t *list, *item;

    put("bare.json", "{}");
    json_decref(reload(ps));
    list = policies_list_json(ps);
    item = json_array_get(json_object_get(list, "policies"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(item, "name")), "bare");
    cr_assert(json_is_string(json_object_get(item, "description")));
    json_decref(list);
    policies_free(ps);
}

/* ---- the directory ---- */

Test(policies, missing_directory)
{
    struct policies *ps = NULL;
    struct err err = {0};
    char missing[PATH_MAX];
    json_t *report = NULL;

    snprintf(missing, sizeof(missing), "%s/missing", dir);
    cr_assert_eq(policies_new(missing, &defaults, &ps), 0);
    cr_assert_eq(policies_reload(ps, &report, &err), -ENOENT);
    cr_assert_null(report);
    cr_assert(str_has_prefix(err.message, missing), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "cannot read the policy directory"), "%s", err.message);
    cr_assert_eq(policies_count(ps), 0);
    policies_free(ps);
}

Test(policies, directory_gone_at_reload_changes_nothing)
{
    struct policies *ps = NULL;
    struct err err = {0};
    char sub[PATH_MAX], file[PATH_MAX + 16], moved[PATH_MAX + 16];

    snprintf(sub, sizeof(sub), "%s/p", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    snprintf(file, sizeof(file), "%s/a.json", sub);
    int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, GOOD("a"), strlen(GOOD("a"))), (ssize_t)strlen(GOOD("a")));
    close(fd);
    cr_assert_eq(policies_new(sub, &defaults, &ps), 0);
    cr_assert_eq(policies_reload(ps, NULL, &err), 0, "%s", err.message);
    snprintf(moved, sizeof(moved), "%s/q", dir);
    cr_assert_eq(rename(sub, moved), 0);
    cr_assert_eq(policies_reload(ps, NULL, &err), -ENOENT);
    cr_assert_eq(policies_count(ps), 1);
    expect_description(ps, "a", "a");
    policies_free(ps);
}

Test(policies, directory_path_too_long)
{
    struct policies *ps = (struct policies *)1;
    char *big = malloc(PATH_MAX + 1);

    cr_assert_not_null(big);
    memset(big, 'd', PATH_MAX);
    big[PATH_MAX] = '\0';
    cr_assert_eq(policies_new(big, &defaults, &ps), -ENAMETOOLONG);
    cr_assert_eq(ps, (struct policies *)1);
    free(big);
}

Test(policies, free_null)
{
    cr_assert_null(policies_free(NULL));
}

/* ---- sizes ---- */

/* A valid policy padded with spaces to exactly n bytes. */
static char *
padded_policy(size_t n)
{
    const char *head = GOOD("big");
    char *text = malloc(n + 1);

    cr_assert_not_null(text);
    memset(text, ' ', n);
    memcpy(text, head, strlen(head));
    text[n] = '\0';
    return text;
}

Test(policies, file_larger_than_max_refused)
{
    struct policies *ps = new_set();
    char *text = padded_policy(POLICY_FILE_MAX + 1);
    json_t *report, *e;

    put_bytes("big.json", text, POLICY_FILE_MAX + 1);
    free(text);
    report = reload(ps);
    cr_assert_null(policies_get(ps, "big"));
    e = error_for(report, "big.json");
    cr_assert_not_null(e);
    cr_assert_not_null(strstr(error_message(e), "larger than"), "%s", error_message(e));
    json_decref(report);
    policies_free(ps);
}

Test(policies, file_of_max_size_loads)
{
    struct policies *ps = new_set();
    char *text = padded_policy(POLICY_FILE_MAX);
    json_t *report;

    put_bytes("big.json", text, POLICY_FILE_MAX);
    free(text);
    report = reload(ps);
    cr_assert(has_name(report, "loaded", "big"), "%s", dump(report));
    json_decref(report);
    policies_free(ps);
}

Test(policies, grown_past_max_keeps_previous)
{
    struct policies *ps = new_set();
    char *text = padded_policy(POLICY_FILE_MAX + 1);
    json_t *report, *e;

    put("big.json", GOOD("small"));
    json_decref(reload(ps));
    put_bytes("big.json", text, POLICY_FILE_MAX + 1);
    free(text);
    report = reload(ps);
    e = error_for(report, "big.json");
    cr_assert_not_null(e);
    cr_assert(kept_previous(e));
    expect_description(ps, "big", "small");
    json_decref(report);
    policies_free(ps);
}

Test(policies, too_many_files)
{
    struct policies *ps = new_set();
    json_t *report;
    size_t too_many = 0;
    size_t i;
    json_t *v;

    for (int k = 0; k < POLICY_COUNT_MAX + 3; k++) {
        char file[32];
        snprintf(file, sizeof(file), "p%04d.json", k);
        put(file, "{}");
    }
    report = reload(ps);
    cr_assert_eq(policies_count(ps), POLICY_COUNT_MAX);
    json_array_foreach(json_object_get(report, "errors"), i, v)
    {
        if (strstr(error_message(v), "too many"))
            too_many++;
    }
    cr_assert_eq(too_many, 1);
    json_decref(report);
    policies_free(ps);
}

/* A NUL byte inside a policy file: policies.c hands policy_parse strlen(text), not the number of
 * bytes read, so whatever follows the NUL is never looked at, and two files that differ only
 * after it compare "unchanged". */
Test(policies, nul_byte_in_file_refused)
{
    static const char text[] = "{\"description\": \"x\"}\0{\"bogus\": true}";
    struct policies *ps = new_set();
    json_t *report;

    put_bytes("nul.json", text, sizeof(text) - 1);
    report = reload(ps);
    cr_assert_null(policies_get(ps, "nul"), "%s", dump(report));
    cr_assert_not_null(error_for(report, "nul.json"));
    json_decref(report);
    policies_free(ps);
}

/* A FIFO named like a policy: openat(O_RDONLY) without O_NONBLOCK waits for a writer forever,
 * with reload_lock held, so every later reload hangs too. */
Test(policies, fifo_refused_without_hanging, .timeout = 5)
{
    struct policies *ps = new_set();
    char path[PATH_MAX];
    json_t *report, *e;

    snprintf(path, sizeof(path), "%s/x.json", dir);
    cr_assert_eq(mkfifo(path, 0644), 0);
    report = reload(ps);
    e = error_for(report, "x.json");
    cr_assert_not_null(e);
    cr_assert_not_null(strstr(error_message(e), "not a regular file"));
    json_decref(report);
    policies_free(ps);
}
