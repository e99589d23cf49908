/* safetensors: round trip, layout per the specification, metadata, loading into model tensors
 * (mismatch reports, skip patterns), atomic writes, and rejection of corrupt headers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "atl/safetensors.h"

static char tmpdir[64];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup_dir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/atl_test_st_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *path_in(const char *file)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, file);
    return buf[k];
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected \"%s\" in message \"%s\"", needle, haystack);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Number of directory entries whose name contains `part`. */
static int count_entries(const char *part)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

/* A file written by hand: 8-byte length, header text as given, then data. */
static void write_st_raw(const char *path, uint64_t hlen, const char *header, const void *data,
                         size_t n)
{
    size_t hl = strlen(header);
    uint8_t *b = malloc(8 + hl + n + 1);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(b + 8, header, hl);
    if (n)
        memcpy(b + 8 + hl, data, n);
    write_bytes(path, b, 8 + hl + n);
    free(b);
}

static void test_dtypes(void **state)
{
    (void)state;
    atl_st_dtype t;
    assert_int_equal(atl_st_dtype_from_name("F32", &t), 0);
    assert_int_equal(t, ATL_ST_F32);
    assert_int_equal(atl_st_dtype_from_name("BF16", &t), 0);
    assert_int_equal(atl_st_dtype_size(t), 2);
    assert_int_equal(atl_st_dtype_from_name("F8_E4M3", &t), 0);
    assert_int_equal(atl_st_dtype_size(t), 1);
    assert_int_equal(atl_st_dtype_from_name("float32", &t), -1);
    for (int i = 0; i < ATL_ST_DTYPE_COUNT; i++) {
        assert_int_equal(atl_st_dtype_from_name(atl_st_dtype_name((atl_st_dtype)i), &t), 0);
        assert_int_equal(t, i);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    char err[512];
    float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.125f, 1e30f};
    int64_t steps[4] = {1, -2, (int64_t)1 << 40, INT64_MIN};
    uint8_t bytes[5] = {0, 1, 127, 128, 255};
    int32_t scalar = -7;
    uint16_t bf[3] = {0x3F80, 0xC000, 0x4049};
    double empty_dummy = 0;
    atl_st_tensor t[] = {
        {"bytes", ATL_ST_U8, 1, {5}, bytes},
        {"layer.weight", ATL_ST_F32, 2, {2, 3}, w},
        {"scalar", ATL_ST_I32, 0, {0}, &scalar},
        {"steps", ATL_ST_I64, 1, {4}, steps},
        {"empty", ATL_ST_F64, 2, {0, 3}, &empty_dummy},
        {"bf", ATL_ST_BF16, 1, {3}, bf},
    };
    atl_st_kv meta[] = {{"step", "1200"}, {"config", "{\"lr\": 0.01}"}, {"unicode", "\xc3\xa9t\xc3\xa9"}};
    char *p = path_in("rt.safetensors");
    assert_int_equal(atl_st_save(p, t, 6, meta, 3, err, sizeof err), 0);
    assert_int_equal(count_entries(".tmp."), 0);

    /* Layout per the specification. */
    size_t n;
    uint8_t *raw = read_all(p, &n);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)raw[i] << (8 * i);
    assert_int_equal(hlen % 8, 0);
    assert_int_equal(raw[8], '{');
    size_t data_bytes = 5 + 24 + 4 + 32 + 0 + 6;
    assert_int_equal(n, 8 + hlen + data_bytes);
    /* Header padding is spaces after the closing brace. */
    size_t last = 8 + hlen - 1;
    while (raw[last] == ' ')
        last--;
    assert_int_equal(raw[last], '}');
    /* Grouped by element size (8, 4, 2, 1 bytes): steps, empty, layer.weight, scalar, bf, bytes. */
    const uint8_t *data = raw + 8 + hlen;
    assert_memory_equal(data, steps, 32);
    assert_memory_equal(data + 32, w, 24);
    assert_memory_equal(data + 56, &scalar, 4);
    assert_memory_equal(data + 60, bf, 6);
    assert_memory_equal(data + 66, bytes, 5);
    free(raw);

    atl_st_file *f;
    assert_int_equal(atl_st_open(p, &f, err, sizeof err), 0);
    assert_int_equal(atl_st_count(f), 6);
    assert_string_equal(atl_st_at(f, 0)->name, "steps"); /* header order = layout order */
    const atl_st_info *i = atl_st_find(f, "layer.weight");
    assert_non_null(i);
    assert_int_equal(i->dtype, ATL_ST_F32);
    assert_int_equal(i->ndim, 2);
    assert_int_equal(i->shape[0], 2);
    assert_int_equal(i->shape[1], 3);
    assert_int_equal(i->begin, 32);
    assert_int_equal(i->end, 56);
    assert_int_equal(atl_st_numel(i), 6);
    float wr[6];
    assert_int_equal(atl_st_read(f, i, wr, sizeof wr, err, sizeof err), 0);
    assert_memory_equal(wr, w, sizeof w);
    assert_int_equal(atl_st_read(f, i, wr, 20, err, sizeof err), -1);
    assert_contains(err, "'layer.weight' has 24 bytes, destination 20");
    const atl_st_info *s = atl_st_find(f, "scalar");
    assert_int_equal(s->ndim, 0);
    assert_int_equal(atl_st_numel(s), 1);
    const atl_st_info *e = atl_st_find(f, "empty");
    assert_int_equal(e->begin, e->end);
    assert_null(atl_st_find(f, "nope"));
    assert_int_equal(atl_st_meta_count(f), 3);
    assert_string_equal(atl_st_meta_get(f, "step"), "1200");
    assert_string_equal(atl_st_meta_get(f, "config"), "{\"lr\": 0.01}");
    assert_string_equal(atl_st_meta_get(f, "unicode"), "\xc3\xa9t\xc3\xa9");
    assert_string_equal(atl_st_meta_at(f, 0).key, "step");
    assert_null(atl_st_meta_get(f, "absent"));
    atl_st_close(f);

    /* No tensors and no metadata is a valid file ("{}" padded to 8 bytes). */
    p = path_in("empty.safetensors");
    assert_int_equal(atl_st_save(p, NULL, 0, NULL, 0, err, sizeof err), 0);
    assert_int_equal(atl_st_open(p, &f, err, sizeof err), 0);
    assert_int_equal(atl_st_count(f), 0);
    assert_int_equal(atl_st_meta_count(f), 0);
    atl_st_close(f);
}

static void test_save_errors(void **state)
{
    (void)state;
    char err[512];
    float v[2] = {0};
    char *p = path_in("bad.safetensors");
    atl_st_tensor dup[] = {{"a", ATL_ST_F32, 1, {2}, v}, {"a", ATL_ST_F32, 1, {2}, v}};
    assert_int_equal(atl_st_save(p, dup, 2, NULL, 0, err, sizeof err), -1);
    assert_contains(err, "duplicate tensor name 'a'");
    atl_st_tensor reserved[] = {{"__metadata__", ATL_ST_F32, 1, {2}, v}};
    assert_int_equal(atl_st_save(p, reserved, 1, NULL, 0, err, sizeof err), -1);
    assert_contains(err, "reserved");
    atl_st_tensor neg[] = {{"a", ATL_ST_F32, 2, {2, -1}, v}};
    assert_int_equal(atl_st_save(p, neg, 1, NULL, 0, err, sizeof err), -1);
    assert_contains(err, "invalid shape [2,-1]");
    atl_st_tensor nodata[] = {{"a", ATL_ST_F32, 1, {2}, NULL}};
    assert_int_equal(atl_st_save(p, nodata, 1, NULL, 0, err, sizeof err), -1);
    assert_contains(err, "'a' has no data");
    atl_st_kv dupm[] = {{"k", "1"}, {"k", "2"}};
    assert_int_equal(atl_st_save(p, NULL, 0, dupm, 2, err, sizeof err), -1);
    assert_contains(err, "duplicate metadata key 'k'");
    atl_st_tensor badutf[] = {{"a\xff", ATL_ST_F32, 1, {2}, v}};
    assert_int_equal(atl_st_save(p, badutf, 1, NULL, 0, err, sizeof err), -1);
    assert_contains(err, "not valid UTF-8");
    /* None of these left a file or a temporary behind. */
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(count_entries(".tmp."), 0);
}

static void test_atomic_write(void **state)
{
    (void)state;
    char err[512];
    /* A directory that does not exist: error, nothing created. */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.safetensors", tmpdir);
    float v[4] = {1, 2, 3, 4};
    atl_st_tensor small[] = {{"v", ATL_ST_F32, 1, {4}, v}};
    assert_int_equal(atl_st_save(missing, small, 1, NULL, 0, err, sizeof err), -1);
    assert_contains(err, "no/such/dir/x.safetensors");

    /* An existing checkpoint, then a write that fails halfway (file size limit): the old file
     * stays intact and no temporary is left behind. */
    char *p = path_in("ckpt.safetensors");
    assert_int_equal(atl_st_save(p, small, 1, NULL, 0, err, sizeof err), 0);
    size_t n_old;
    uint8_t *old = read_all(p, &n_old);

    enum { BIG = 1 << 20 };
    float *big = calloc(BIG, sizeof *big);
    atl_st_tensor large[] = {{"big", ATL_ST_F32, 1, {BIG}, big}};
    struct rlimit saved, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN); /* make write() fail with EFBIG */
    lim = saved;
    lim.rlim_cur = 64 * 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = atl_st_save(p, large, 1, NULL, 0, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, -1);
    assert_contains(err, "ckpt.safetensors");
    assert_int_equal(count_entries(".tmp."), 0);
    size_t n_now;
    uint8_t *now = read_all(p, &n_now);
    assert_int_equal(n_now, n_old);
    assert_memory_equal(now, old, n_old);
    free(now);
    free(old);

    /* The same write without the limit replaces the file completely. */
    assert_int_equal(atl_st_save(p, large, 1, NULL, 0, err, sizeof err), 0);
    atl_st_file *f;
    assert_int_equal(atl_st_open(p, &f, err, sizeof err), 0);
    assert_non_null(atl_st_find(f, "big"));
    assert_null(atl_st_find(f, "v"));
    atl_st_close(f);
    free(big);
}

static void test_load_into(void **state)
{
    (void)state;
    char err[1024];
    float w1[6] = {1, 2, 3, 4, 5, 6}, b1[2] = {7, 8}, hw[20], hb[10];
    for (int i = 0; i < 20; i++)
        hw[i] = (float)i;
    for (int i = 0; i < 10; i++)
        hb[i] = (float)-i;
    int64_t step = 99;
    atl_st_tensor saved[] = {
        {"blocks.0.w", ATL_ST_F32, 2, {2, 3}, w1}, {"blocks.0.b", ATL_ST_F32, 1, {2}, b1},
        {"head.weight", ATL_ST_F32, 2, {10, 2}, hw}, {"head.bias", ATL_ST_F32, 1, {10}, hb},
        {"opt.step", ATL_ST_I64, 0, {0}, &step},
    };
    char *p = path_in("model.safetensors");
    assert_int_equal(atl_st_save(p, saved, 5, NULL, 0, err, sizeof err), 0);

    /* Exact match. */
    float rw[6] = {0}, rb[2] = {0}, rhw[20] = {0}, rhb[10] = {0};
    int64_t rstep = 0;
    atl_st_tensor dst[] = {
        {"blocks.0.w", ATL_ST_F32, 2, {2, 3}, rw}, {"blocks.0.b", ATL_ST_F32, 1, {2}, rb},
        {"head.weight", ATL_ST_F32, 2, {10, 2}, rhw}, {"head.bias", ATL_ST_F32, 1, {10}, rhb},
        {"opt.step", ATL_ST_I64, 0, {0}, &rstep},
    };
    size_t loaded = 0;
    assert_int_equal(atl_st_load(p, dst, 5, NULL, 0, 0, &loaded, err, sizeof err), 0);
    assert_int_equal(loaded, 5);
    assert_memory_equal(rw, w1, sizeof w1);
    assert_memory_equal(rhb, hb, sizeof hb);
    assert_int_equal(rstep, 99);

    /* A 2-class model: the head has another shape. Without skipping: a located error, and no
     * destination is written. With skip "head": the rest loads, the head keeps its init. */
    float mw[6] = {0}, mb[2] = {0}, mhw[4] = {-1, -1, -1, -1}, mhb[2] = {-1, -1};
    atl_st_tensor model[] = {
        {"blocks.0.w", ATL_ST_F32, 2, {2, 3}, mw}, {"blocks.0.b", ATL_ST_F32, 1, {2}, mb},
        {"head.weight", ATL_ST_F32, 2, {2, 2}, mhw}, {"head.bias", ATL_ST_F32, 1, {2}, mhb},
    };
    assert_int_equal(atl_st_load(p, model, 4, NULL, 0, 0, &loaded, err, sizeof err), -1);
    assert_int_equal(loaded, 0);
    assert_contains(err, "model.safetensors: checkpoint does not match (3 problems)");
    assert_contains(err, "unexpected: opt.step");
    assert_contains(err, "wrong shape: head.weight [10,2] in file, [2,2] expected, head.bias [10] "
                         "in file, [2] expected");
    assert_true(mw[0] == 0.0f && mb[1] == 0.0f); /* all-or-nothing */
    const char *skip[] = {"head", "opt"};
    assert_int_equal(atl_st_load(p, model, 4, skip, 2, 0, &loaded, err, sizeof err), 0);
    assert_int_equal(loaded, 2);
    assert_memory_equal(mw, w1, sizeof w1);
    assert_memory_equal(mb, b1, sizeof b1);
    assert_true(mhw[0] == -1.0f && mhb[1] == -1.0f);
    /* ALLOW_UNEXPECTED instead of skipping opt. */
    const char *skip_head[] = {"head"};
    assert_int_equal(atl_st_load(p, model, 4, skip_head, 1, ATL_ST_LOAD_ALLOW_UNEXPECTED, &loaded,
                                 err, sizeof err),
                     0);

    /* Missing, dtype mismatch, all reported together. */
    int32_t wrong_b[2];
    float extra[3];
    atl_st_tensor model2[] = {
        {"blocks.0.w", ATL_ST_F32, 2, {2, 3}, mw}, {"blocks.0.b", ATL_ST_I32, 1, {2}, wrong_b},
        {"blocks.1.w", ATL_ST_F32, 1, {3}, extra},
    };
    assert_int_equal(atl_st_load(p, model2, 3, skip_head, 1, ATL_ST_LOAD_ALLOW_UNEXPECTED, NULL,
                                 err, sizeof err),
                     -1);
    assert_contains(err, "missing: blocks.1.w");
    assert_contains(err, "wrong dtype: blocks.0.b F32 in file, I32 expected");
    assert_int_equal(atl_st_load(p, model2, 3, skip_head, 1,
                                 ATL_ST_LOAD_ALLOW_UNEXPECTED | ATL_ST_LOAD_ALLOW_MISSING, NULL,
                                 err, sizeof err),
                     -1);
    assert_false(strstr(err, "missing"));

    /* Skip patterns. */
    assert_true(atl_st_name_matches("head", "head"));
    assert_true(atl_st_name_matches("head.weight", "head"));
    assert_true(atl_st_name_matches("head.fc.bias", "head.fc"));
    assert_false(atl_st_name_matches("header.w", "head"));
    assert_false(atl_st_name_matches("hea", "head"));
    assert_true(atl_st_name_matches("blocks.3.attn", "blocks.3*"));
    assert_true(atl_st_name_matches("blocks.31", "blocks.3*"));
    assert_false(atl_st_name_matches("blocks.2", "blocks.3*"));
}

static void test_corrupt_headers(void **state)
{
    (void)state;
    char err[512];
    char *p = path_in("corrupt.safetensors");
    uint8_t data[64] = {0};
    atl_st_file *f = NULL;

    struct {
        int64_t hlen; /* -1: the header's own length */
        const char *header;
        size_t n_data;
        const char *msg;
    } bad[] = {
        {-1, "[1, 2]", 0, "does not start with '{'"},
        {-1, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}", 8,
         "bad JSON header"},
        {-1, "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
             "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
         8, "bad JSON header"},
        {-1, "{\"a\": {\"dtype\": \"F31\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
         "unknown dtype \"F31\""},
        {-1, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2.0], \"data_offsets\": [0, 8]}}", 8,
         "shape entries must be non-negative integers"},
        {-1, "{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8,
         "shape entries must be non-negative integers"},
        {-1, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", 8,
         "data_offsets must be [BEGIN, END]"},
        {-1, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "needs \"dtype\""},
        {-1, "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8,
         "span 8 bytes but F32 [3] needs 12"},
        {-1, "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8,
         "run past the data section (8 bytes)"},
        {-1, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
             "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
         12, "overlaps 'a'"},
        {-1, "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
             "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}",
         12, "data bytes [4, 8) belong to no tensor"},
        {-1, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 12,
         "data section has 12 bytes but the tensors cover 8"},
        {-1, "{\"__metadata__\": {\"step\": 3}}", 0, "value of 'step' is not a string"},
        {-1, "{\"__metadata__\": [\"x\"]}", 0, "__metadata__ is not an object"},
        {-1, "{\"a\": [0, 8]}", 8, "entry 'a' is not an object"},
        {1000, "{}", 0, "header length 1000 is invalid"},
        {0, "", 0, "header length 0 is invalid"},
        {(int64_t)ATL_ST_MAX_HEADER + 1, "{}", 0, "is invalid"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t hl = bad[i].hlen < 0 ? strlen(bad[i].header) : (uint64_t)bad[i].hlen;
        write_st_raw(p, hl, bad[i].header, data, bad[i].n_data);
        err[0] = '\0';
        f = NULL;
        assert_int_equal(atl_st_open(p, &f, err, sizeof err), -1);
        assert_null(f);
        assert_contains(err, bad[i].msg);
        assert_contains(err, "corrupt.safetensors");
    }
    write_bytes(p, "abc", 3);
    assert_int_equal(atl_st_open(p, &f, err, sizeof err), -1);
    assert_contains(err, "3 bytes is too short");
    assert_int_equal(atl_st_open(path_in("absent.safetensors"), &f, err, sizeof err), -1);
    assert_contains(err, "cannot open");
}

static void test_foreign_layout(void **state)
{
    (void)state;
    /* Another writer's choices: no padding, pretty JSON, tensors stored in reverse order of the
     * header, zero-size tensor in the middle, metadata last. */
    char err[512];
    const char *h = "{\n  \"x\": {\"dtype\": \"I16\", \"shape\": [2], \"data_offsets\": [6, 10]},\n"
                    "  \"z\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [6, 6]},\n"
                    "  \"y\": {\"dtype\": \"U8\", \"shape\": [2, 3], \"data_offsets\": [0, 6]},\n"
                    "  \"__metadata__\": {\"format\": \"pt\"}\n}";
    uint8_t data[10] = {1, 2, 3, 4, 5, 6, 0x34, 0x12, 0xff, 0xff};
    char *p = path_in("foreign.safetensors");
    write_st_raw(p, strlen(h), h, data, sizeof data);
    atl_st_file *f;
    assert_int_equal(atl_st_open(p, &f, err, sizeof err), 0);
    assert_int_equal(atl_st_count(f), 3);
    assert_string_equal(atl_st_at(f, 0)->name, "x");
    int16_t x[2];
    assert_int_equal(atl_st_read(f, atl_st_find(f, "x"), x, sizeof x, err, sizeof err), 0);
    assert_int_equal(x[0], 0x1234);
    assert_int_equal(x[1], -1);
    uint8_t y[6];
    assert_int_equal(atl_st_read(f, atl_st_find(f, "y"), y, sizeof y, err, sizeof err), 0);
    assert_memory_equal(y, data, 6);
    assert_string_equal(atl_st_meta_get(f, "format"), "pt");
    atl_st_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes),          cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_save_errors),     cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_load_into),       cmocka_unit_test(test_corrupt_headers),
        cmocka_unit_test(test_foreign_layout),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
