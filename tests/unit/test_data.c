/* Data layer: spec strings, CIFAR-10/100 binary readers (exact formats written here), .npy files,
 * the synthetic generator (determinism, separability, statistics), permutations, augmentation and
 * the batch iterator. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "atl/data.h"

/* ---- helpers ----------------------------------------------------------------------------------- */

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
    strcpy(tmpdir, "/tmp/atl_test_data_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *path_in(const char *sub, const char *file)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    if (sub)
        snprintf(buf[k], sizeof buf[k], "%s/%s/%s", tmpdir, sub, file);
    else
        snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, file);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected \"%s\" in message \"%s\"", needle, haystack);
}

/* Pixel k of record r of file b: a pattern that differs between records and positions. */
static uint8_t fixture_pixel(int b, int r, int k) { return (uint8_t)(b * 31 + r * 7 + k * 13); }

/* CIFAR-10 file b (0..4 train, 5 test) with n records; labels from a fixed list. */
static void write_cifar10_file(const char *path, int b, int n, const uint8_t *labels)
{
    uint8_t *buf = malloc((size_t)n * 3073);
    for (int r = 0; r < n; r++) {
        buf[(size_t)r * 3073] = labels[r];
        for (int k = 0; k < 3072; k++)
            buf[(size_t)r * 3073 + 1 + k] = fixture_pixel(b, r, k);
    }
    write_bytes(path, buf, (size_t)n * 3073);
    free(buf);
}

/* Labels of the CIFAR-10 fixture: batch b, record r. */
static uint8_t c10_label(int b, int r) { return (uint8_t)((b * 3 + r * 7) % 10); }
enum { C10_PER_BATCH = 12 };

static void make_cifar10(const char *sub)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, sub);
    mkdir(dir, 0777);
    for (int b = 0; b < 6; b++) {
        uint8_t labels[C10_PER_BATCH];
        for (int r = 0; r < C10_PER_BATCH; r++)
            labels[r] = c10_label(b, r);
        char name[64];
        if (b < 5)
            snprintf(name, sizeof name, "data_batch_%d.bin", b + 1);
        else
            snprintf(name, sizeof name, "test_batch.bin");
        write_cifar10_file(path_in(sub, name), b, C10_PER_BATCH, labels);
    }
}

/* ---- spec strings -------------------------------------------------------------------------------- */

static void test_spec_parse(void **state)
{
    (void)state;
    char err[256];
    atl_data_spec s;
    assert_int_equal(atl_data_spec_parse("synthetic:classes=10", &s, err, sizeof err), 0);
    assert_int_equal(s.kind, ATL_DATA_SYNTHETIC);
    assert_int_equal(s.n_classes, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(s.classes[i], i);
    assert_int_equal(s.per_class, -1);
    assert_int_equal(s.size, 32);
    atl_data_spec_free(&s);

    assert_int_equal(atl_data_spec_parse("synthetic:classes=10-11:n=7:seed=5", &s, err, sizeof err), 0);
    assert_int_equal(s.n_classes, 2);
    assert_int_equal(s.classes[0], 10);
    assert_int_equal(s.classes[1], 11);
    assert_int_equal(s.n_per_class, 7);
    assert_int_equal(s.seed, 5);
    atl_data_spec_free(&s);

    assert_int_equal(atl_data_spec_parse("synthetic:classes=11,10,0-2", &s, err, sizeof err), 0);
    int32_t want[] = {11, 10, 0, 1, 2};
    assert_int_equal(s.n_classes, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(s.classes[i], want[i]);
    atl_data_spec_free(&s);

    assert_int_equal(atl_data_spec_parse("cifar100:/d/c100:classes=3,42:per_class=500:label=coarse",
                                         &s, err, sizeof err), 0);
    assert_int_equal(s.kind, ATL_DATA_CIFAR100);
    assert_string_equal(s.dir, "/d/c100");
    assert_int_equal(s.n_classes, 2);
    assert_int_equal(s.classes[1], 42);
    assert_int_equal(s.per_class, 500);
    assert_true(s.coarse);
    atl_data_spec_free(&s);

    assert_int_equal(atl_data_spec_parse("npy:a.npy,b.npy:test=c.npy,d.npy:layout=nhwc:"
                                         "mean=0.5,0.5,0.5:std=0.25,0.25,0.25",
                                         &s, err, sizeof err), 0);
    assert_string_equal(s.x_path, "a.npy");
    assert_string_equal(s.y_path, "b.npy");
    assert_string_equal(s.xt_path, "c.npy");
    assert_string_equal(s.yt_path, "d.npy");
    assert_true(s.nhwc);
    assert_int_equal(s.norm, ATL_NORM_CUSTOM);
    assert_int_equal(s.n_mean, 3);
    assert_true(s.std[2] == 0.25f);
    atl_data_spec_free(&s);

    struct {
        const char *spec, *msg;
    } bad[] = {
        {"", "empty data spec"},
        {"imagenet:/x", "unknown data source 'imagenet'"},
        {"synthetic", "synthetic needs classes="},
        {"synthetic:classes=0", "expected a class count >= 1"},
        {"synthetic:classes=5-3", "bad range '5-3'"},
        {"synthetic:classes=1,1", "class 1 listed twice"},
        {"synthetic:classes=1,,2", "empty item"},
        {"synthetic:classes=2:classes=3", "option 'classes' given twice"},
        {"synthetic:classes=2:label=fine", "unknown option 'label' for synthetic"},
        {"synthetic:classes=2:n=0", "n=0"},
        {"synthetic:classes=2:bogus", "expected key=value"},
        {"cifar10", "missing directory"},
        {"cifar10:/d:per_class=-1", "per_class=-1"},
        {"cifar100:/d:label=medium", "expected coarse or fine"},
        {"npy:x.npy", "expected npy:X.npy,Y.npy"},
        {"npy:x.npy,y.npy:layout=hwc", "expected nchw or nhwc"},
        {"npy:x.npy,y.npy:mean=0.5", "needs both mean= and std="},
        {"npy:x.npy,y.npy:mean=1,2:std=1", "mean= has 2 values but std= has 1"},
        {"npy:x.npy,y.npy:mean=1:std=0", "values must be > 0"},
        {"synthetic:classes=2::n=3", "empty field"},
        {"synthetic:classes=2:norm=imagenet", "norm=imagenet"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(atl_data_spec_parse(bad[i].spec, &s, err, sizeof err), -1);
        assert_contains(err, bad[i].msg);
    }
}

/* ---- CIFAR-10 ------------------------------------------------------------------------------------- */

static void test_cifar10_load(void **state)
{
    (void)state;
    make_cifar10("c10");
    char spec[600], err[512];
    snprintf(spec, sizeof spec, "cifar10:%s/c10", tmpdir);
    atl_dataset *ds;
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), 0);
    assert_int_equal(ds->n, 5 * C10_PER_BATCH);
    assert_int_equal(ds->c, 3);
    assert_int_equal(ds->h, 32);
    assert_int_equal(ds->num_classes, 10);
    assert_int_equal(ds->pixel_type, ATL_PIXEL_U8);
    /* File order: batch 1 records, then batch 2, ... */
    for (int b = 0; b < 5; b++) {
        for (int r = 0; r < C10_PER_BATCH; r++) {
            int64_t i = b * C10_PER_BATCH + r;
            assert_int_equal(ds->labels[i], c10_label(b, r));
            const uint8_t *p = (const uint8_t *)ds->pixels + (size_t)i * 3072;
            for (int k = 0; k < 3072; k += 97)
                assert_int_equal(p[k], fixture_pixel(b, r, k));
        }
    }
    /* CHW: channel 1 (green) starts at byte 1024 of the record. */
    float img[3072];
    atl_dataset_get_raw(ds, 3, img);
    assert_float_equal(img[1024], fixture_pixel(0, 3, 1024) / 255.0f, 1e-7);
    /* Default normalisation: the CIFAR-10 constants. */
    assert_float_equal(ds->mean[0], 0.4914f, 1e-6);
    assert_float_equal(ds->std[2], 0.2616f, 1e-6);
    assert_string_equal(ds->class_names[3], "cat");
    atl_dataset_free(ds);

    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TEST, 1, &ds, err, sizeof err), 0);
    assert_int_equal(ds->n, C10_PER_BATCH);
    assert_int_equal(ds->labels[4], c10_label(5, 4));
    atl_dataset_free(ds);
}

static void test_cifar10_subset_cap(void **state)
{
    (void)state;
    make_cifar10("c10s");
    char spec[600], err[512];
    /* Classes 3 then 1 (relabelled 0, 1), at most 4 images each: the first 4 in file order. */
    snprintf(spec, sizeof spec, "cifar10:%s/c10s:classes=3,1:per_class=4", tmpdir);
    atl_dataset *ds;
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), 0);
    assert_int_equal(ds->num_classes, 2);
    assert_int_equal(ds->class_ids[0], 3);
    assert_int_equal(ds->class_ids[1], 1);
    assert_string_equal(ds->class_names[0], "cat");
    assert_string_equal(ds->class_names[1], "automobile");
    int64_t expect_n = 0, taken[10] = {0};
    for (int b = 0; b < 5; b++) {
        for (int r = 0; r < C10_PER_BATCH; r++) {
            int lab = c10_label(b, r);
            if ((lab != 3 && lab != 1) || taken[lab] >= 4)
                continue;
            taken[lab]++;
            assert_true(expect_n < ds->n);
            assert_int_equal(ds->labels[expect_n], lab == 3 ? 0 : 1);
            const uint8_t *p = (const uint8_t *)ds->pixels + (size_t)expect_n * 3072;
            assert_int_equal(p[100], fixture_pixel(b, r, 100));
            expect_n++;
        }
    }
    assert_int_equal(ds->n, expect_n);
    assert_int_equal(taken[3], 4);
    assert_int_equal(taken[1], 4);
    int64_t counts[2];
    atl_dataset_class_counts(ds, counts);
    assert_int_equal(counts[0], 4);
    assert_int_equal(counts[1], 4);
    atl_dataset_free(ds);
}

static void test_cifar10_errors(void **state)
{
    (void)state;
    char spec[600], err[512];
    atl_dataset *ds = NULL;

    /* Missing directory / file. */
    snprintf(spec, sizeof spec, "cifar10:%s/nowhere", tmpdir);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), -1);
    assert_null(ds);
    assert_contains(err, "nowhere/data_batch_1.bin");
    assert_contains(err, "No such file");

    make_cifar10("c10m");
    remove(path_in("c10m", "data_batch_3.bin"));
    snprintf(spec, sizeof spec, "cifar10:%s/c10m", tmpdir);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "c10m/data_batch_3.bin");

    /* Truncated file: size not a multiple of 3073. */
    make_cifar10("c10t");
    truncate(path_in("c10t", "data_batch_2.bin"), 3073 * 5 + 100);
    snprintf(spec, sizeof spec, "cifar10:%s/c10t", tmpdir);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "c10t/data_batch_2.bin");
    assert_contains(err, "15465 bytes is not a positive multiple of the record size 3073");

    /* Label out of range in record 5 of the test batch. */
    make_cifar10("c10l");
    uint8_t labels[C10_PER_BATCH];
    for (int r = 0; r < C10_PER_BATCH; r++)
        labels[r] = c10_label(5, r);
    labels[5] = 12;
    write_cifar10_file(path_in("c10l", "test_batch.bin"), 5, C10_PER_BATCH, labels);
    snprintf(spec, sizeof spec, "cifar10:%s/c10l", tmpdir);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TEST, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "c10l/test_batch.bin: record 5 (byte offset 15365): label 12 out of "
                         "range 0..9");

    /* Class id out of range, and a class with no images. */
    make_cifar10("c10c");
    snprintf(spec, sizeof spec, "cifar10:%s/c10c:classes=3,12", tmpdir);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "class id 12 out of range 0..9");
    for (int r = 0; r < C10_PER_BATCH; r++)
        labels[r] = (uint8_t)(r % 2);
    write_cifar10_file(path_in("c10c", "test_batch.bin"), 5, C10_PER_BATCH, labels);
    snprintf(spec, sizeof spec, "cifar10:%s/c10c:classes=1,7", tmpdir);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TEST, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "test_batch.bin: no images of class 7");

    /* Empty file. */
    write_bytes(path_in("c10c", "test_batch.bin"), "", 0);
    snprintf(spec, sizeof spec, "cifar10:%s/c10c", tmpdir);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TEST, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "0 bytes is not a positive multiple");
}

/* ---- CIFAR-100 ------------------------------------------------------------------------------------ */

enum { C100_N = 40 };
/* Fine labels of the CIFAR-100 fixture: classes 3 and 42 often, others spread over 0..99. */
static uint8_t c100_fine(int r)
{
    return (uint8_t)(r % 4 == 0 ? 3 : r % 4 == 1 ? 42 : (r * 37 + 3) % 100);
}
static uint8_t c100_coarse(int r) { return (uint8_t)(c100_fine(r) / 5); }

static void write_cifar100_file(const char *path, int b, int n, int bad_record)
{
    uint8_t *buf = malloc((size_t)n * 3074);
    for (int r = 0; r < n; r++) {
        uint8_t *p = buf + (size_t)r * 3074;
        p[0] = c100_coarse(r);
        p[1] = r == bad_record ? 100 : c100_fine(r);
        for (int k = 0; k < 3072; k++)
            p[2 + k] = fixture_pixel(b, r, k);
    }
    write_bytes(path, buf, (size_t)n * 3074);
    free(buf);
}

static void test_cifar100_load(void **state)
{
    (void)state;
    char dir[512], spec[700], err[512];
    snprintf(dir, sizeof dir, "%s/c100", tmpdir);
    mkdir(dir, 0777);
    write_cifar100_file(path_in("c100", "train.bin"), 0, C100_N, -1);
    write_cifar100_file(path_in("c100", "test.bin"), 1, C100_N / 2, -1);
    const char *names = "apple\naquarium_fish\nbaby\nbear\n";
    write_bytes(path_in("c100", "fine_label_names.txt"), names, strlen(names));

    /* Fine classes [42, 3] -> labels 0, 1, capped at 3 per class, file order kept. */
    snprintf(spec, sizeof spec, "cifar100:%s:classes=42,3:per_class=3", dir);
    atl_dataset *ds;
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), 0);
    assert_int_equal(ds->num_classes, 2);
    assert_int_equal(ds->n, 6);
    int64_t o = 0, taken[100] = {0};
    for (int r = 0; r < C100_N; r++) {
        int fine = c100_fine(r);
        if ((fine != 42 && fine != 3) || taken[fine] >= 3)
            continue;
        taken[fine]++;
        assert_int_equal(ds->labels[o], fine == 42 ? 0 : 1);
        assert_int_equal(((const uint8_t *)ds->pixels)[(size_t)o * 3072 + 5],
                         fixture_pixel(0, r, 5));
        o++;
    }
    assert_int_equal(o, 6);
    assert_null(ds->class_names[0]); /* the names file stops at 'bear' (3) */
    assert_string_equal(ds->class_names[1], "bear");
    atl_dataset_free(ds);

    /* Coarse labels: all 20 coarse classes present in the header range. */
    snprintf(spec, sizeof spec, "cifar100:%s:label=coarse", dir);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TEST, 1, &ds, err, sizeof err), 0);
    assert_int_equal(ds->num_classes, 20);
    assert_int_equal(ds->n, C100_N / 2);
    for (int r = 0; r < C100_N / 2; r++)
        assert_int_equal(ds->labels[r], c100_coarse(r));
    atl_dataset_free(ds);

    /* Errors: fine label 100 in record 7; class 100 out of range; truncated file. */
    write_cifar100_file(path_in("c100", "test.bin"), 1, C100_N / 2, 7);
    snprintf(spec, sizeof spec, "cifar100:%s", dir);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TEST, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "c100/test.bin: record 7 (byte offset 21518)");
    assert_contains(err, "fine 100 out of range");
    snprintf(spec, sizeof spec, "cifar100:%s:classes=3,100", dir);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "class id 100 out of range 0..99");
    truncate(path_in("c100", "train.bin"), 3074 * 3 - 1);
    snprintf(spec, sizeof spec, "cifar100:%s", dir);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "c100/train.bin: file size 9221 bytes is not a positive multiple of the "
                         "record size 3074");
}

/* ---- .npy ------------------------------------------------------------------------------------------ */

static void test_npy_round_trip(void **state)
{
    (void)state;
    char err[512];
    const atl_npy_dtype types[] = {ATL_NPY_U8, ATL_NPY_I32, ATL_NPY_I64, ATL_NPY_F32, ATL_NPY_F64};
    const int64_t shapes[][4] = {{0}, {7}, {2, 3}, {2, 3, 4, 5}, {3, 0}};
    const int ndims[] = {0, 1, 2, 4, 2};
    for (size_t t = 0; t < 5; t++) {
        for (size_t s = 0; s < 5; s++) {
            size_t es = atl_npy_dtype_size(types[t]), count = 1;
            for (int d = 0; d < ndims[s]; d++)
                count *= (size_t)shapes[s][d];
            uint8_t *data = malloc(count * es + 1);
            for (size_t i = 0; i < count * es; i++)
                data[i] = (uint8_t)(i * 29 + t);
            char *p = path_in(NULL, "rt.npy");
            assert_int_equal(atl_npy_write(p, types[t], ndims[s], shapes[s], data, err, sizeof err),
                             0);
            /* Data starts at a multiple of 64 bytes. */
            struct stat st;
            assert_int_equal(stat(p, &st), 0);
            assert_int_equal(((size_t)st.st_size - count * es) % 64, 0);
            atl_npy a;
            assert_int_equal(atl_npy_read(p, &a, err, sizeof err), 0);
            assert_int_equal(a.dtype, types[t]);
            assert_int_equal(a.ndim, ndims[s]);
            for (int d = 0; d < ndims[s]; d++)
                assert_int_equal(a.shape[d], shapes[s][d]);
            assert_int_equal(a.nbytes, count * es);
            if (count)
                assert_memory_equal(a.data, data, count * es);
            atl_npy_free(&a);
            free(data);
        }
    }
}

/* A .npy file with a hand-written header (any version), followed by `data`. */
static void write_npy_raw(const char *path, int major, const char *dict, const void *data,
                          size_t n)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
    uint8_t *buf = malloc(total + n);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    buf[8] = (uint8_t)hlen;
    buf[9] = (uint8_t)(hlen >> 8);
    if (major != 1) {
        buf[10] = 0;
        buf[11] = 0;
    }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hlen - dl - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, data, n);
    write_bytes(path, buf, total + n);
    free(buf);
}

static void test_npy_versions_and_errors(void **state)
{
    (void)state;
    char err[512];
    atl_npy a;
    float v[6] = {1, 2, 3, 4, 5, 6};
    char *p = path_in(NULL, "v.npy");
    /* Versions 2.0 and 3.0, keys in another order, double quotes, Python 2 'L' suffixes. */
    write_npy_raw(p, 2, "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}", v, sizeof v);
    assert_int_equal(atl_npy_read(p, &a, err, sizeof err), 0);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[1], 3);
    assert_true(((float *)a.data)[5] == 6.0f);
    atl_npy_free(&a);
    write_npy_raw(p, 3, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (6L,), }", v,
                  sizeof v);
    assert_int_equal(atl_npy_read(p, &a, err, sizeof err), 0);
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.shape[0], 6);
    atl_npy_free(&a);

    struct {
        int major;
        const char *dict;
        size_t n;
        const char *msg;
    } bad[] = {
        {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24,
         "Fortran-order arrays are not supported"},
        {1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24,
         "big-endian dtype '>f4'"},
        {1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", 12,
         "unsupported dtype '<f2'"},
        {1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8,
         "structured dtypes"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20,
         "needs 24 data bytes but the file has 20"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 28,
         "needs 24 data bytes but the file has 28"},
        {1, "{'descr': '<f4', 'shape': (2, 3), }", 24, "lacks one of"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", 24,
         "unexpected or repeated key 'extra'"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 24, "malformed 'shape'"},
        {4, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 24,
         "unsupported .npy format version 4.0"},
    };
    uint8_t zeros[64] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_npy_raw(p, bad[i].major, bad[i].dict, zeros, bad[i].n);
        err[0] = '\0';
        assert_int_equal(atl_npy_read(p, &a, err, sizeof err), -1);
        assert_null(a.data);
        assert_contains(err, bad[i].msg);
        assert_contains(err, "v.npy");
    }
    write_bytes(p, "PK\x03\x04 this is a zip", 18);
    assert_int_equal(atl_npy_read(p, &a, err, sizeof err), -1);
    assert_contains(err, "not a .npy file (bad magic)");
    assert_int_equal(atl_npy_read(path_in(NULL, "absent.npy"), &a, err, sizeof err), -1);
    assert_contains(err, "cannot open");
    assert_contains(err, "absent.npy");
}

static void test_npy_dataset(void **state)
{
    (void)state;
    char err[512], spec[1200];
    enum { N = 9, C = 3, H = 6, W = 5 };
    uint8_t x[N * C * H * W];
    float xf[N * H * W * C];
    int64_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = (i * 2) % 5; /* labels 0 2 4 1 3 0 2 4 1 */
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) {
                    uint8_t v = (uint8_t)(i * 11 + c * 5 + h * 3 + w);
                    x[((i * C + c) * H + h) * W + w] = v;
                    xf[((i * H + h) * W + w) * C + c] = (float)v; /* NHWC copy */
                }
    }
    int64_t xs[4] = {N, C, H, W}, xfs[4] = {N, H, W, C}, ys[1] = {N};
    char xp[512], xfp[512], yp[512];
    snprintf(xp, sizeof xp, "%s", path_in(NULL, "x.npy"));
    snprintf(xfp, sizeof xfp, "%s", path_in(NULL, "xf.npy"));
    snprintf(yp, sizeof yp, "%s", path_in(NULL, "y.npy"));
    assert_int_equal(atl_npy_write(xp, ATL_NPY_U8, 4, xs, x, err, sizeof err), 0);
    assert_int_equal(atl_npy_write(xfp, ATL_NPY_F32, 4, xfs, xf, err, sizeof err), 0);
    assert_int_equal(atl_npy_write(yp, ATL_NPY_I64, 1, ys, y, err, sizeof err), 0);

    atl_dataset *ds, *df;
    snprintf(spec, sizeof spec, "npy:%s,%s", xp, yp);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), 0);
    assert_int_equal(ds->n, N);
    assert_int_equal(ds->num_classes, 5);
    assert_int_equal(ds->c, C);
    assert_int_equal(ds->h, H);
    assert_int_equal(ds->w, W);
    assert_true(ds->mean[0] == 0.0f && ds->std[0] == 1.0f); /* npy default: no normalisation */
    snprintf(spec, sizeof spec, "npy:%s,%s:layout=nhwc", xfp, yp);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &df, err, sizeof err), 0);
    assert_int_equal(df->pixel_type, ATL_PIXEL_F32);
    float a[C * H * W], b[C * H * W];
    for (int i = 0; i < N; i++) {
        assert_int_equal(ds->labels[i], y[i]);
        atl_dataset_get_raw(ds, i, a);
        atl_dataset_get_raw(df, i, b);
        for (int k = 0; k < C * H * W; k++)
            assert_float_equal(a[k] * 255.0f, b[k], 1e-4);
    }
    atl_dataset_free(ds);
    atl_dataset_free(df);

    /* Subset with relabelling and a cap. */
    snprintf(spec, sizeof spec, "npy:%s,%s:classes=4,0:per_class=1", xp, yp);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), 0);
    assert_int_equal(ds->n, 2);
    assert_int_equal(ds->labels[0], 1); /* image 0 has label 0 -> 1 */
    assert_int_equal(ds->labels[1], 0); /* image 2 has label 4 -> 0 */
    atl_dataset_free(ds);

    /* Errors: NCHW data read as... a channels-last hint; length mismatch; negative label;
     * wrong label dtype. */
    snprintf(spec, sizeof spec, "npy:%s,%s", xfp, yp);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "channels last? use layout=nhwc");
    int64_t y8[8] = {0};
    int64_t ys8[1] = {8};
    char yb[512];
    snprintf(yb, sizeof yb, "%s", path_in(NULL, "ybad.npy"));
    assert_int_equal(atl_npy_write(yb, ATL_NPY_I64, 1, ys8, y8, err, sizeof err), 0);
    snprintf(spec, sizeof spec, "npy:%s,%s", xp, yb);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "ybad.npy: labels must have shape [9]");
    int32_t yn[N] = {0, 1, 2, -1, 0, 0, 0, 0, 0};
    assert_int_equal(atl_npy_write(yb, ATL_NPY_I32, 1, ys, yn, err, sizeof err), 0);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "ybad.npy: label -1 at index 3");
    float yfl[N] = {0};
    assert_int_equal(atl_npy_write(yb, ATL_NPY_F32, 1, ys, yfl, err, sizeof err), 0);
    assert_int_equal(atl_dataset_open(spec, ATL_SPLIT_TRAIN, 1, &ds, err, sizeof err), -1);
    assert_contains(err, "labels must be int64, int32 or uint8");
}

/* ---- synthetic ------------------------------------------------------------------------------------ */

static atl_dataset *open_ok(const char *spec, atl_split split, int threads)
{
    char err[512];
    atl_dataset *ds = NULL;
    if (atl_dataset_open(spec, split, threads, &ds, err, sizeof err) != 0)
        fail_msg("%s: %s", spec, err);
    return ds;
}

static void test_synthetic_determinism(void **state)
{
    (void)state;
    atl_dataset *a = open_ok("synthetic:classes=4:n=6", ATL_SPLIT_TRAIN, 1);
    atl_dataset *b = open_ok("synthetic:classes=4:n=6", ATL_SPLIT_TRAIN, 3);
    atl_dataset *c = open_ok("synthetic:classes=4:n=6:seed=1", ATL_SPLIT_TRAIN, 1);
    atl_dataset *t = open_ok("synthetic:classes=4:n=6", ATL_SPLIT_TEST, 2);
    assert_int_equal(a->n, 24);
    size_t bytes = (size_t)a->n * atl_dataset_image_elems(a);
    assert_memory_equal(a->pixels, b->pixels, bytes); /* thread count does not matter */
    assert_memory_equal(a->labels, b->labels, (size_t)a->n * sizeof *a->labels);
    assert_memory_not_equal(a->pixels, c->pixels, bytes); /* seed matters */
    assert_memory_not_equal(a->pixels, t->pixels, bytes); /* test split has its own samples */
    /* Interleaved classes. */
    for (int64_t i = 0; i < a->n; i++)
        assert_int_equal(a->labels[i], i % 4);
    /* A class keeps its appearance under relabelling: class 2 of "classes=4" equals label 0 of
     * "classes=2-3" sample for sample. */
    atl_dataset *s = open_ok("synthetic:classes=2-3:n=6", ATL_SPLIT_TRAIN, 1);
    size_t m = atl_dataset_image_elems(a);
    for (int64_t k = 0; k < 6; k++)
        assert_memory_equal((uint8_t *)a->pixels + (size_t)(k * 4 + 2) * m,
                            (uint8_t *)s->pixels + (size_t)(k * 2) * m, m);
    /* Individual renders are a pure function and differ between indices. */
    float r1[3 * 16 * 16], r2[3 * 16 * 16];
    atl_synth_render(9, ATL_SPLIT_TRAIN, 57, 3, 16, r1);
    atl_synth_render(9, ATL_SPLIT_TRAIN, 57, 3, 16, r2);
    assert_memory_equal(r1, r2, sizeof r1);
    atl_synth_render(9, ATL_SPLIT_TRAIN, 57, 4, 16, r2);
    assert_memory_not_equal(r1, r2, sizeof r1);
    char d[96];
    atl_synth_describe(11, d, sizeof d);
    assert_string_equal(d, "square/dots on checker, hue 4");
    assert_string_equal(a->class_names[1], "square/stripes on clouds, hue 1");
    /* Defaults: 500 train / 100 test per class; per_class caps n. */
    atl_dataset *dflt = open_ok("synthetic:classes=2:size=8", ATL_SPLIT_TEST, 2);
    assert_int_equal(dflt->n, 200);
    assert_int_equal(dflt->h, 8);
    atl_dataset *cap = open_ok("synthetic:classes=2:size=8:per_class=3", ATL_SPLIT_TRAIN, 2);
    assert_int_equal(cap->n, 6);
    atl_dataset_free(a);
    atl_dataset_free(b);
    atl_dataset_free(c);
    atl_dataset_free(t);
    atl_dataset_free(s);
    atl_dataset_free(dflt);
    atl_dataset_free(cap);
}

/* Nearest-class-mean accuracy with features f(image) -> float[dim]. */
typedef void (*feature_fn)(const float *img, float *f);
enum { POOL = 4, POOL_DIM = 3 * (32 / POOL) * (32 / POOL) };

static void pooled_features(const float *img, float *f)
{
    for (int c = 0; c < 3; c++)
        for (int by = 0; by < 32 / POOL; by++)
            for (int bx = 0; bx < 32 / POOL; bx++) {
                float s = 0;
                for (int y = 0; y < POOL; y++)
                    for (int x = 0; x < POOL; x++)
                        s += img[c * 1024 + (by * POOL + y) * 32 + bx * POOL + x];
                f[(c * (32 / POOL) + by) * (32 / POOL) + bx] = s / (POOL * POOL);
            }
}

static void mean_colour_features(const float *img, float *f)
{
    for (int c = 0; c < 3; c++) {
        float s = 0;
        for (int k = 0; k < 1024; k++)
            s += img[c * 1024 + k];
        f[c] = s / 1024.0f;
    }
}

static double ncm_accuracy(const atl_dataset *tr, const atl_dataset *te, feature_fn fn, int dim)
{
    int k = tr->num_classes;
    double *means = calloc((size_t)k * (size_t)dim, sizeof *means);
    int64_t *cnt = calloc((size_t)k, sizeof *cnt);
    float img[3072], *f = malloc((size_t)dim * sizeof *f);
    for (int64_t i = 0; i < tr->n; i++) {
        atl_dataset_get_raw(tr, i, img);
        fn(img, f);
        for (int d = 0; d < dim; d++)
            means[(size_t)tr->labels[i] * (size_t)dim + (size_t)d] += f[d];
        cnt[tr->labels[i]]++;
    }
    for (int c = 0; c < k; c++)
        for (int d = 0; d < dim; d++)
            means[(size_t)c * (size_t)dim + (size_t)d] /= (double)cnt[c];
    int64_t correct = 0;
    for (int64_t i = 0; i < te->n; i++) {
        atl_dataset_get_raw(te, i, img);
        fn(img, f);
        int best = -1;
        double bd = 0;
        for (int c = 0; c < k; c++) {
            double dd = 0;
            for (int d = 0; d < dim; d++) {
                double e = f[d] - means[(size_t)c * (size_t)dim + (size_t)d];
                dd += e * e;
            }
            if (best < 0 || dd < bd) {
                bd = dd;
                best = c;
            }
        }
        correct += best == te->labels[i];
    }
    free(means);
    free(cnt);
    free(f);
    return (double)correct / (double)te->n;
}

static void test_synthetic_separability(void **state)
{
    (void)state;
    atl_dataset *tr = open_ok("synthetic:classes=10:n=100", ATL_SPLIT_TRAIN, 2);
    atl_dataset *te = open_ok("synthetic:classes=10:n=50", ATL_SPLIT_TEST, 2);
    /* Chance is 1/10; under chance, accuracy on 500 test images has sigma sqrt(.1*.9/500) =
     * 0.0134, so 5 sigma above chance is 0.167. */
    const double chance = 0.1, sigma = sqrt(chance * (1 - chance) / (double)te->n);
    double acc = ncm_accuracy(tr, te, pooled_features, POOL_DIM);
    double acc_col = ncm_accuracy(tr, te, mean_colour_features, 3);
    print_message("NCM accuracy on 4x4-pooled pixels %.3f, on mean colour %.3f (chance 0.1, "
                  "5 sigma %.3f)\n", acc, acc_col, chance + 5 * sigma);
    assert_true(acc > chance + 5 * sigma);
    /* Not trivial: the mean colour alone must leave most of the work to shape and texture
     * (a constant colour per class would give ~1.0 here). */
    assert_true(acc_col < 0.6);
    /* Transfer classes 10, 11 reuse the vocabulary and are separable too (chance 0.5, sigma
     * sqrt(.25/200) = 0.035, 5 sigma above chance 0.677). */
    atl_dataset *tr2 = open_ok("synthetic:classes=10-11:n=100", ATL_SPLIT_TRAIN, 2);
    atl_dataset *te2 = open_ok("synthetic:classes=10-11:n=100", ATL_SPLIT_TEST, 2);
    double acc2 = ncm_accuracy(tr2, te2, pooled_features, POOL_DIM);
    print_message("classes 10-11: NCM accuracy %.3f\n", acc2);
    assert_true(acc2 > 0.5 + 5 * sqrt(0.25 / (double)te2->n));
    atl_dataset_free(tr);
    atl_dataset_free(te);
    atl_dataset_free(tr2);
    atl_dataset_free(te2);
}

static void test_synthetic_stats(void **state)
{
    (void)state;
    /* Re-measure the generator's channel statistics over classes 0..99 (20 images each) and
     * compare with the built-in constants (measured with 100 each). Tolerance: 5 standard
     * errors of the mean of per-image channel means, plus the constants' 4-digit rounding. */
    atl_dataset *ds = open_ok("synthetic:classes=100:n=20", ATL_SPLIT_TRAIN, 2);
    float mean[3], std[3];
    atl_dataset_raw_stats(ds, mean, std);
    double s[3] = {0}, s2[3] = {0};
    float img[3072];
    for (int64_t i = 0; i < ds->n; i++) {
        float f[3];
        atl_dataset_get_raw(ds, i, img);
        mean_colour_features(img, f);
        for (int c = 0; c < 3; c++) {
            s[c] += f[c];
            s2[c] += (double)f[c] * f[c];
        }
    }
    for (int c = 0; c < 3; c++) {
        double mu = s[c] / (double)ds->n, var = s2[c] / (double)ds->n - mu * mu;
        double tol = 5 * sqrt(var / (double)ds->n) + 5e-5;
        print_message("channel %d: mean %.4f (constant %.4f, tol %.4f) std %.4f (constant %.4f)\n",
                      c, (double)mean[c], (double)atl_synth_mean[c], tol, (double)std[c],
                      (double)atl_synth_std[c]);
        assert_true(fabs(mean[c] - atl_synth_mean[c]) < tol);
        /* The pixel std mixes within- and between-image spread; it moves less than the mean. */
        assert_true(fabs(std[c] - atl_synth_std[c]) < 2 * tol);
    }
    assert_true(ds->mean[0] == atl_synth_mean[0] && ds->std[1] == atl_synth_std[1]);
    atl_dataset_free(ds);
}

/* ---- permutations, augmentation, loader ------------------------------------------------------- */

static void test_permutation(void **state)
{
    (void)state;
    enum { N = 1000 };
    int64_t p[N], q[N];
    atl_data_permutation(7, 3, N, p);
    atl_data_permutation(7, 3, N, q);
    assert_memory_equal(p, q, sizeof p);
    bool seen[N] = {false};
    for (int i = 0; i < N; i++) {
        assert_true(p[i] >= 0 && p[i] < N);
        assert_false(seen[p[i]]);
        seen[p[i]] = true;
    }
    atl_data_permutation(7, 4, N, q);
    assert_memory_not_equal(p, q, sizeof p);
    atl_data_permutation(8, 3, N, q);
    assert_memory_not_equal(p, q, sizeof p);
    /* Uniformity: the position of element 0 in a 5-permutation over 2000 epochs is uniform;
     * each count is Binomial(2000, 0.2) with sigma 17.9: allow 5 sigma. */
    int pos[5] = {0};
    for (uint64_t e = 0; e < 2000; e++) {
        int64_t r[5];
        atl_data_permutation(1, e, 5, r);
        for (int i = 0; i < 5; i++)
            if (r[i] == 0)
                pos[i]++;
    }
    for (int i = 0; i < 5; i++)
        assert_true(fabs(pos[i] - 400.0) < 5 * sqrt(2000 * 0.2 * 0.8));
}

static void test_augment(void **state)
{
    (void)state;
    /* A 1x3x4 image, hand-checked crop and flip. */
    float in[12], out[12];
    for (int i = 0; i < 12; i++)
        in[i] = (float)(i + 1);
    atl_aug a = {1, -1, false}; /* out(y, x) = in(y + 1, x - 1) */
    atl_data_aug_apply(in, out, 1, 3, 4, a);
    float want[12] = {0, 5, 6, 7, 0, 9, 10, 11, 0, 0, 0, 0};
    assert_memory_equal(out, want, sizeof want);
    atl_aug f = {0, 1, true}; /* out(y, x) = in(y, 3 - x + 1) */
    atl_data_aug_apply(in, out, 1, 3, 4, f);
    float want2[12] = {0, 4, 3, 2, 0, 8, 7, 6, 0, 12, 11, 10};
    assert_memory_equal(out, want2, sizeof want2);

    /* Draws: reproducible, cover [-4, 4], flips about half (binomial, 5 sigma). */
    int hist[9] = {0}, flips = 0;
    for (int64_t i = 0; i < 4000; i++) {
        atl_aug d = atl_data_aug_draw(3, 1, i, 4, true, true);
        atl_aug e = atl_data_aug_draw(3, 1, i, 4, true, true);
        assert_true(d.dx == e.dx && d.dy == e.dy && d.flip == e.flip);
        assert_true(d.dx >= -4 && d.dx <= 4 && d.dy >= -4 && d.dy <= 4);
        hist[d.dx + 4]++;
        flips += d.flip;
    }
    for (int k = 0; k < 9; k++)
        assert_true(fabs(hist[k] - 4000.0 / 9) < 5 * sqrt(4000 * (1.0 / 9) * (8.0 / 9)));
    assert_true(fabs(flips - 2000.0) < 5 * sqrt(4000 * 0.25));
    atl_aug none = atl_data_aug_draw(3, 1, 5, 4, false, false);
    assert_true(none.dx == 0 && none.dy == 0 && !none.flip);
}

static void test_loader(void **state)
{
    (void)state;
    char err[256];
    atl_dataset *ds = open_ok("synthetic:classes=3:n=7:size=16", ATL_SPLIT_TRAIN, 1);
    const size_t m = atl_dataset_image_elems(ds);
    assert_int_equal(ds->n, 21);

    /* Training: reproducible, thread-count independent, batch-size independent. */
    atl_loader_opts o = atl_loader_opts_train(5, 42);
    o.crop_pad = 2;
    atl_loader l1, l2, l3;
    assert_int_equal(atl_loader_init(&l1, ds, &o, err, sizeof err), 0);
    o.n_threads = 3;
    assert_int_equal(atl_loader_init(&l2, ds, &o, err, sizeof err), 0);
    o.batch = 3;
    assert_int_equal(atl_loader_init(&l3, ds, &o, err, sizeof err), 0);
    assert_int_equal(atl_loader_num_batches(&l1), 5); /* 4 full + 1 partial */
    assert_int_equal(atl_loader_num_batches(&l3), 7);
    /* Buffers hold whole batches: the final partial batch pads up to the batch size. */
    float *x1 = malloc(25 * m * sizeof *x1), *x2 = malloc(25 * m * sizeof *x2),
          *x3 = malloc(21 * m * sizeof *x3);
    int32_t y1[25], y2[25], y3[21];
    for (uint64_t epoch = 0; epoch < 2; epoch++) {
        atl_loader_set_epoch(&l1, epoch);
        atl_loader_set_epoch(&l2, epoch);
        atl_loader_set_epoch(&l3, epoch);
        int64_t got = 0, got3 = 0, n;
        while ((n = atl_loader_next(&l1, x1 + (size_t)got * m, y1 + got)) > 0)
            got += n;
        assert_int_equal(got, 21);
        for (int64_t b = 0; b < 5; b++)
            assert_int_equal(atl_loader_fill(&l2, b, x2 + (size_t)b * 5 * m, y2 + b * 5),
                             b < 4 ? 5 : 1);
        /* Padding slots of the partial batch: zeros and label -1. */
        for (int s = 21; s < 25; s++) {
            assert_int_equal(y2[s], -1);
            assert_true(x2[(size_t)s * m] == 0.0f && x2[(size_t)s * m + m - 1] == 0.0f);
        }
        while ((n = atl_loader_next(&l3, x3 + (size_t)got3 * m, y3 + got3)) > 0) {
            got3 += n;
            if (got3 == 21)
                break;
        }
        assert_int_equal(got3, 21);
        assert_memory_equal(x1, x2, 21 * m * sizeof *x1);
        assert_memory_equal(y1, y2, 21 * sizeof *y1);
        assert_memory_equal(x1, x3, 21 * m * sizeof *x1);
        /* Every image exactly once per epoch, and the label belongs to it. */
        int per_class[3] = {0};
        for (int i = 0; i < 21; i++)
            per_class[y1[i]]++;
        assert_true(per_class[0] == 7 && per_class[1] == 7 && per_class[2] == 7);
        assert_int_equal(atl_loader_next(&l1, x1, y1), 0);
    }
    /* The loader's order is the epoch permutation; different epochs shuffle differently. */
    atl_loader_set_epoch(&l1, 1);
    int64_t perm0[21], perm1[21];
    atl_data_permutation(42, 0, 21, perm0);
    atl_data_permutation(42, 1, 21, perm1);
    assert_memory_equal(l1.order, perm1, sizeof perm1);
    assert_memory_not_equal(perm0, perm1, sizeof perm0);
    atl_loader_fini(&l1);
    atl_loader_fini(&l2);
    atl_loader_fini(&l3);

    /* drop_last: 4 batches of 5. */
    o = atl_loader_opts_train(5, 1);
    o.drop_last = true;
    assert_int_equal(atl_loader_init(&l1, ds, &o, err, sizeof err), 0);
    assert_int_equal(atl_loader_num_batches(&l1), 4);
    assert_int_equal(atl_loader_fill(&l1, 4, x1, y1), 0);
    atl_loader_fini(&l1);

    /* Evaluation: file order, no augmentation, normalised exactly as atl_dataset_get. */
    o = atl_loader_opts_eval(8);
    assert_int_equal(atl_loader_init(&l1, ds, &o, err, sizeof err), 0);
    assert_int_equal(atl_loader_fill(&l1, 1, x1, y1), 8);
    float *ref = malloc(m * sizeof *ref);
    for (int s = 0; s < 8; s++) {
        atl_dataset_get(ds, 8 + s, ref);
        assert_memory_equal(x1 + (size_t)s * m, ref, m * sizeof *ref);
        assert_int_equal(y1[s], ds->labels[8 + s]);
    }
    atl_dataset_get_raw(ds, 8, ref);
    assert_float_equal(x1[0], (ref[0] - atl_synth_mean[0]) / atl_synth_std[0], 1e-6);
    atl_loader_fini(&l1);

    /* Augmented images: crop + flip of the raw image, zero padding in raw space. */
    o = atl_loader_opts_train(1, 9);
    o.shuffle = false;
    assert_int_equal(atl_loader_init(&l1, ds, &o, err, sizeof err), 0);
    atl_loader_set_epoch(&l1, 2);
    atl_loader_fill(&l1, 6, x1, y1);
    float *raw = malloc(m * sizeof *raw), *aug = malloc(m * sizeof *aug);
    atl_dataset_get_raw(ds, 6, raw);
    atl_data_aug_apply(raw, aug, 3, 16, 16, atl_data_aug_draw(9, 2, 6, 4, true, true));
    for (size_t k = 0; k < m; k++) {
        int c = (int)(k / 256);
        assert_float_equal(x1[k], (aug[k] - ds->mean[c]) / ds->std[c], 1e-6);
    }
    atl_loader_fini(&l1);

    o.batch = 0;
    assert_int_equal(atl_loader_init(&l1, ds, &o, err, sizeof err), -1);
    assert_contains(err, "batch size 0");
    free(raw);
    free(aug);
    free(ref);
    free(x1);
    free(x2);
    free(x3);
    atl_dataset_free(ds);
}

static void test_grid_ppm(void **state)
{
    (void)state;
    char err[256];
    atl_dataset *ds = open_ok("synthetic:classes=3:n=4:size=8", ATL_SPLIT_TRAIN, 1);
    char *p = path_in(NULL, "grid.ppm");
    assert_int_equal(atl_dataset_write_grid_ppm(ds, p, 4, 2, err, sizeof err), 0);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    int w = 0, h = 0, mx = 0;
    assert_int_equal(fscanf(f, "P6 %d %d %d", &w, &h, &mx), 3);
    fgetc(f);
    assert_int_equal(w, 4 * (16 + 2) + 2);
    assert_int_equal(h, 3 * (16 + 2) + 2);
    assert_int_equal(mx, 255);
    long start = ftell(f);
    fseek(f, 0, SEEK_END);
    assert_int_equal(ftell(f) - start, (long)w * h * 3);
    fclose(f);
    atl_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_parse),
        cmocka_unit_test(test_cifar10_load),
        cmocka_unit_test(test_cifar10_subset_cap),
        cmocka_unit_test(test_cifar10_errors),
        cmocka_unit_test(test_cifar100_load),
        cmocka_unit_test(test_npy_round_trip),
        cmocka_unit_test(test_npy_versions_and_errors),
        cmocka_unit_test(test_npy_dataset),
        cmocka_unit_test(test_synthetic_determinism),
        cmocka_unit_test(test_synthetic_separability),
        cmocka_unit_test(test_synthetic_stats),
        cmocka_unit_test(test_permutation),
        cmocka_unit_test(test_augment),
        cmocka_unit_test(test_loader),
        cmocka_unit_test(test_grid_ppm),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
