/* Interoperability of atl's safetensors and .npy files with independent readers and writers in
 * Python + numpy (Debian's python3-numpy):
 *
 *   1. atl writes the safetensors fixture; read_safetensors.py parses it per the specification
 *      and compares every value and the metadata;
 *   2. write_safetensors.py writes a file with another writer's layout choices; atl reads it;
 *   3. numpy writes .npy files in format versions 1.0, 2.0, 3.0 (and files atl must reject);
 *      atl reads them;
 *   4. atl writes .npy files; numpy loads and compares them.
 *
 *   interop_driver PYTHON SCRIPT_DIR
 * Exit status 0 on success, 1 on failure, 77 (skip) when PYTHON cannot import numpy.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "atl/data.h"
#include "atl/safetensors.h"

static int failures;

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    printf("$ %s\n", cmd);
    fflush(stdout);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* ---- safetensors --------------------------------------------------------------------------- */

/* The fixture of read_safetensors.py (keep in sync with fixture() there). */
static int st_write_fixture(const char *path)
{
    float w[12], scalar = 42.5f, empty_dummy = 0;
    double bias[5];
    int64_t count[4];
    int32_t idx[8];
    uint8_t mask[7], flag[3] = {1, 0, 1};
    uint16_t half[3] = {0x3C00, 0xC000, 0x3555}; /* 1, -2, 0.333251953125 */
    uint16_t bf[3] = {0x3F80, 0xC040, 0x4049};   /* 1, -3, 3.140625 */
    int8_t small[3] = {-128, 0, 127};
    uint16_t wide[2] = {65535, 1};
    uint32_t big[1] = {4000000000u};
    uint64_t huge[1] = {((uint64_t)1 << 63) + 5};
    int16_t shrt[2] = {-300, 300};
    for (int i = 0; i < 12; i++)
        w[i] = (float)i * 0.25f - 1.5f;
    for (int i = 0; i < 5; i++)
        bias[i] = i * 0.5 - 7.0;
    for (int i = 0; i < 4; i++)
        count[i] = (int64_t)(i - 2) * ((int64_t)1 << 40) + i;
    for (int i = 0; i < 8; i++)
        idx[i] = 7 - 3 * i;
    for (int i = 0; i < 7; i++)
        mask[i] = (uint8_t)((i * 37 + 11) % 256);
    atl_st_tensor t[] = {
        {"weights.f32", ATL_ST_F32, 2, {3, 4}, w},
        {"bias.f64", ATL_ST_F64, 1, {5}, bias},
        {"count.i64", ATL_ST_I64, 1, {4}, count},
        {"idx.i32", ATL_ST_I32, 3, {2, 2, 2}, idx},
        {"mask.u8", ATL_ST_U8, 1, {7}, mask},
        {"half.f16", ATL_ST_F16, 1, {3}, half},
        {"bf.bf16", ATL_ST_BF16, 1, {3}, bf},
        {"scalar.f32", ATL_ST_F32, 0, {0}, &scalar},
        {"empty.f32", ATL_ST_F32, 2, {0, 4}, &empty_dummy},
        {"flag.bool", ATL_ST_BOOL, 1, {3}, flag},
        {"small.i8", ATL_ST_I8, 1, {3}, small},
        {"wide.u16", ATL_ST_U16, 1, {2}, wide},
        {"big.u32", ATL_ST_U32, 1, {1}, big},
        {"huge.u64", ATL_ST_U64, 1, {1}, huge},
        {"short.i16", ATL_ST_I16, 1, {2}, shrt},
    };
    atl_st_kv meta[] = {{"format", "pt"},
                        {"step", "1200"},
                        {"model_hash", "sha256:0123abcd"},
                        {"note", "\xc3\xa9t\xc3\xa9"}};
    char err[512];
    if (atl_st_save(path, t, sizeof t / sizeof t[0], meta, 4, err, sizeof err) != 0) {
        fail("%s", err);
        return -1;
    }
    return 0;
}

static void st_check_python_file(const char *path)
{
    char err[512];
    atl_st_file *f;
    if (atl_st_open(path, &f, err, sizeof err) != 0) {
        fail("%s", err);
        return;
    }
    float pf[6], want_f[6];
    int64_t pi[3], want_i[3] = {-1, 0, (int64_t)1 << 62};
    uint8_t pu[4], want_u[4] = {9, 8, 7, 6};
    for (int i = 0; i < 6; i++)
        want_f[i] = (float)i * 1.5f - 2.0f;
    atl_st_tensor dst[] = {
        {"py.f32", ATL_ST_F32, 2, {2, 3}, pf},
        {"py.i64", ATL_ST_I64, 1, {3}, pi},
        {"py.u8", ATL_ST_U8, 1, {4}, pu},
    };
    size_t loaded = 0;
    if (atl_st_load_into(f, dst, 3, NULL, 0, 0, &loaded, err, sizeof err) != 0)
        fail("%s", err);
    else if (loaded != 3 || memcmp(pf, want_f, sizeof pf) || memcmp(pi, want_i, sizeof pi) ||
             memcmp(pu, want_u, sizeof pu))
        fail("%s: values differ from write_safetensors.py's", path);
    const char *w = atl_st_meta_get(f, "writer");
    if (!w || strcmp(w, "numpy") != 0 || atl_st_meta_count(f) != 2)
        fail("%s: metadata differs", path);
    if (atl_st_count(f) != 3 || strcmp(atl_st_at(f, 0)->name, "py.i64") != 0)
        fail("%s: header order not kept", path);
    atl_st_close(f);
    printf("atl read %s: OK\n", path);
}

/* ---- npy ------------------------------------------------------------------------------------ */

static const char *const npy_codes[5] = {"u1", "i4", "i8", "f4", "f8"};
static const atl_npy_dtype npy_types[5] = {ATL_NPY_U8, ATL_NPY_I32, ATL_NPY_I64, ATL_NPY_F32,
                                           ATL_NPY_F64};

/* Element i of the fixture of npy_interop.py, stored into buf (typed). */
static void npy_value(atl_npy_dtype t, int64_t i, void *buf)
{
    switch (t) {
    case ATL_NPY_U8: ((uint8_t *)buf)[i] = (uint8_t)((37 * i + 11) % 256); break;
    case ATL_NPY_I32: ((int32_t *)buf)[i] = (int32_t)(7 - 3000 * i); break;
    case ATL_NPY_I64: ((int64_t *)buf)[i] = (i - 2) * ((int64_t)1 << 40) + i; break;
    case ATL_NPY_F32: ((float *)buf)[i] = (float)((double)i / 4.0 - 1.5); break;
    case ATL_NPY_F64: ((double *)buf)[i] = (double)i / 3.0; break;
    }
}

static void npy_write_atl(const char *dir)
{
    int64_t shape[3] = {2, 3, 4};
    for (int k = 0; k < 5; k++) {
        uint8_t buf[24 * 8];
        for (int64_t i = 0; i < 24; i++)
            npy_value(npy_types[k], i, buf);
        char path[600], err[512];
        snprintf(path, sizeof path, "%s/atl_%s.npy", dir, npy_codes[k]);
        if (atl_npy_write(path, npy_types[k], 3, shape, buf, err, sizeof err) != 0)
            fail("%s", err);
    }
}

static void npy_check_numpy_files(const char *dir)
{
    char path[600], err[512];
    for (int k = 0; k < 5; k++) {
        for (int v = 1; v <= 3; v++) {
            snprintf(path, sizeof path, "%s/py_%s_v%d.npy", dir, npy_codes[k], v);
            atl_npy a;
            if (atl_npy_read(path, &a, err, sizeof err) != 0) {
                fail("%s", err);
                continue;
            }
            uint8_t want[24 * 8];
            for (int64_t i = 0; i < 24; i++)
                npy_value(npy_types[k], i, want);
            if (a.dtype != npy_types[k] || a.ndim != 3 || a.shape[0] != 2 || a.shape[1] != 3 ||
                a.shape[2] != 4 || a.nbytes != 24 * atl_npy_dtype_size(npy_types[k]) ||
                memcmp(a.data, want, a.nbytes) != 0)
                fail("%s: contents differ from numpy's", path);
            else
                printf("atl read %s: OK\n", path);
            atl_npy_free(&a);
        }
    }
    const struct {
        const char *file, *msg;
    } reject[] = {{"py_fortran.npy", "Fortran-order"},
                  {"py_be.npy", "big-endian dtype '>f4'"},
                  {"py_f2.npy", "unsupported dtype '<f2'"}};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, reject[k].file);
        atl_npy a;
        err[0] = '\0';
        if (atl_npy_read(path, &a, err, sizeof err) == 0) {
            fail("%s: accepted", path);
            atl_npy_free(&a);
        } else if (!strstr(err, reject[k].msg)) {
            fail("%s: unexpected message '%s'", path, err);
        } else {
            printf("atl rejected %s: %s\n", path, err);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: interop_driver PYTHON SCRIPT_DIR\n");
        return 2;
    }
    const char *py = argv[1], *scripts = argv[2];
    if (run("%s -c 'import numpy' >/dev/null 2>&1", py) != 0) {
        printf("%s cannot import numpy: skipping\n", py);
        return 77;
    }
    char dir[] = "/tmp/atl_interop_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[600];

    snprintf(path, sizeof path, "%s/atl.safetensors", dir);
    if (st_write_fixture(path) == 0 &&
        run("%s %s/read_safetensors.py %s --fixture", py, scripts, path) != 0)
        fail("read_safetensors.py rejected or mismatched %s", path);

    snprintf(path, sizeof path, "%s/py.safetensors", dir);
    if (run("%s %s/write_safetensors.py %s", py, scripts, path) != 0)
        fail("write_safetensors.py failed");
    else
        st_check_python_file(path);

    if (run("%s %s/npy_interop.py write %s", py, scripts, dir) != 0)
        fail("npy_interop.py write failed");
    else
        npy_check_numpy_files(dir);
    npy_write_atl(dir);
    if (run("%s %s/npy_interop.py check %s", py, scripts, dir) != 0)
        fail("numpy rejected or mismatched atl's .npy files");

    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%s\n", failures ? "FAILED" : "all interop checks passed");
    return failures ? 1 : 0;
}
