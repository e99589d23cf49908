/* CIFAR-10 / CIFAR-100 binary readers.
 *
 * CIFAR-10:  data_batch_1..5.bin (train), test_batch.bin (test); record = 1 label byte (0..9)
 *            + 3072 pixel bytes (1024 R, 1024 G, 1024 B; rows top to bottom): 3073 bytes.
 * CIFAR-100: train.bin, test.bin; record = coarse label byte (0..19), fine label byte (0..99)
 *            + 3072 pixel bytes: 3074 bytes.
 * Files are read in order, records in file order, so "the first k images of a class" (the
 * per-class cap) is well defined and matches other frameworks' file order. */
#include "data_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_PIXELS 3072
#define CHUNK_RECORDS 1024

static const char *const cifar10_names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static char *join(const char *dir, const char *file)
{
    size_t a = strlen(dir), b = strlen(file);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, file, b + 1);
    return p;
}

/* Read up to n newline-separated names (blank lines skipped) into names[]; missing file -> no-op. */
static void read_names(const char *path, char **names, int n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[256];
    int k = 0;
    while (k < n && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        names[k++] = atl_data_strdup(line);
    }
    fclose(f);
}

int atl_data_load_cifar(const atl_data_spec *spec, atl_split split, atl_dataset **out, char *err,
                        size_t err_len)
{
    *out = NULL;
    const bool c100 = spec->kind == ATL_DATA_CIFAR100;
    const char *kind = c100 ? "cifar100" : "cifar10";
    const size_t head = c100 ? 2 : 1, rec = head + CIFAR_PIXELS;
    const int n_source = c100 ? (spec->coarse ? 20 : 100) : 10;
    const char *files10_train[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                   "data_batch_4.bin", "data_batch_5.bin"};
    const char *files10_test[] = {"test_batch.bin"};
    const char *files100_train[] = {"train.bin"};
    const char *files100_test[] = {"test.bin"};
    const char *const *files;
    int n_files;
    if (c100) {
        files = split == ATL_SPLIT_TRAIN ? files100_train : files100_test;
        n_files = 1;
    } else {
        files = split == ATL_SPLIT_TRAIN ? files10_train : files10_test;
        n_files = split == ATL_SPLIT_TRAIN ? 5 : 1;
    }

    int rc = 0;
    char *dir = NULL;
    char *paths[5] = {NULL};
    FILE *f = NULL;
    uint8_t *chunk = NULL;
    atl_dataset *ds = NULL;
    int32_t map[100];
    int64_t taken[100] = {0};
    int64_t file_records[5] = {0};

    if (atl_data_class_map(spec, n_source, kind, map, err, err_len) != 0)
        return -1;
    const int n_out = spec->classes ? spec->n_classes : n_source;

    /* Accept the directory of the archive too (DIR/cifar-10-batches-bin, DIR/cifar-100-binary). */
    dir = atl_data_strdup(spec->dir);
    {
        char *probe = join(dir, files[0]);
        if (probe && !file_exists(probe)) {
            char *sub = join(dir, c100 ? "cifar-100-binary" : "cifar-10-batches-bin");
            char *probe2 = sub ? join(sub, files[0]) : NULL;
            if (probe2 && file_exists(probe2)) {
                free(dir);
                dir = sub;
                sub = NULL;
            }
            free(sub);
            free(probe2);
        }
        free(probe);
    }

    /* Validate every file before reading any: existence, size multiple of the record. */
    int64_t total = 0;
    for (int i = 0; i < n_files; i++) {
        paths[i] = join(dir, files[i]);
        if (!paths[i]) {
            rc = atl_data_err(err, err_len, "%s: out of memory", kind);
            goto done;
        }
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            rc = atl_data_err(err, err_len, "%s: cannot open %s: %s", kind, paths[i],
                              strerror(errno));
            goto done;
        }
        if (!S_ISREG(st.st_mode)) {
            rc = atl_data_err(err, err_len, "%s: %s is not a regular file", kind, paths[i]);
            goto done;
        }
        if (st.st_size == 0 || (uint64_t)st.st_size % rec != 0) {
            rc = atl_data_err(err, err_len,
                              "%s: %s: file size %lld bytes is not a positive multiple of the "
                              "record size %zu (%s + 3072 pixel bytes); truncated or not a %s "
                              "binary file?",
                              kind, paths[i], (long long)st.st_size, rec,
                              c100 ? "coarse and fine label bytes" : "1 label byte",
                              c100 ? "CIFAR-100" : "CIFAR-10");
            goto done;
        }
        file_records[i] = (int64_t)((uint64_t)st.st_size / rec);
        total += file_records[i];
    }

    int64_t bound = total;
    if (spec->per_class > 0 && spec->per_class < INT64_MAX / n_out &&
        spec->per_class * n_out < bound)
        bound = spec->per_class * n_out;
    ds = atl_dataset_create(bound, 3, 32, 32, ATL_PIXEL_U8, n_out);
    chunk = malloc(CHUNK_RECORDS * rec);
    if (!ds || !chunk) {
        rc = atl_data_err(err, err_len, "%s: out of memory for %lld images", kind,
                          (long long)bound);
        goto done;
    }
    uint8_t *pix = ds->pixels;
    int64_t n = 0;
    for (int i = 0; i < n_files; i++) {
        f = fopen(paths[i], "rb");
        if (!f) {
            rc = atl_data_err(err, err_len, "%s: cannot open %s: %s", kind, paths[i],
                              strerror(errno));
            goto done;
        }
        for (int64_t r0 = 0; r0 < file_records[i]; r0 += CHUNK_RECORDS) {
            int64_t nr = file_records[i] - r0;
            if (nr > CHUNK_RECORDS)
                nr = CHUNK_RECORDS;
            if (fread(chunk, rec, (size_t)nr, f) != (size_t)nr) {
                rc = atl_data_err(err, err_len, "%s: %s: read error near record %lld: %s", kind,
                                  paths[i], (long long)r0,
                                  ferror(f) ? strerror(errno) : "unexpected end of file");
                goto done;
            }
            for (int64_t r = 0; r < nr; r++) {
                const uint8_t *p = chunk + (size_t)r * rec;
                int64_t idx = r0 + r;
                int label;
                if (c100) {
                    if (p[0] >= 20 || p[1] >= 100) {
                        rc = atl_data_err(err, err_len,
                                          "%s: %s: record %lld (byte offset %lld): labels "
                                          "coarse %d / fine %d out of range 0..19 / 0..99",
                                          kind, paths[i], (long long)idx,
                                          (long long)(idx * (int64_t)rec), p[0], p[1]);
                        goto done;
                    }
                    label = spec->coarse ? p[0] : p[1];
                } else {
                    if (p[0] >= 10) {
                        rc = atl_data_err(err, err_len,
                                          "%s: %s: record %lld (byte offset %lld): label %d out "
                                          "of range 0..9",
                                          kind, paths[i], (long long)idx,
                                          (long long)(idx * (int64_t)rec), p[0]);
                        goto done;
                    }
                    label = p[0];
                }
                int32_t y = map[label];
                if (y < 0 || (spec->per_class > 0 && taken[label] >= spec->per_class))
                    continue;
                taken[label]++;
                memcpy(pix + (size_t)n * CIFAR_PIXELS, p + head, CIFAR_PIXELS);
                ds->labels[n++] = y;
            }
        }
        fclose(f);
        f = NULL;
    }
    if (spec->classes) {
        for (int j = 0; j < spec->n_classes; j++) {
            if (taken[spec->classes[j]] == 0) {
                rc = atl_data_err(err, err_len, "%s: %s%s: no images of class %d", kind,
                                  paths[0], n_files > 1 ? " (and the other batches)" : "",
                                  (int)spec->classes[j]);
                goto done;
            }
        }
    }
    ds->n = n;
    if (n < bound) {
        void *shrunk = realloc(ds->pixels, (size_t)(n ? n : 1) * CIFAR_PIXELS);
        if (shrunk)
            ds->pixels = shrunk;
    }
    for (int j = 0; j < n_out; j++)
        ds->class_ids[j] = spec->classes ? spec->classes[j] : j;

    /* Class names: from the archive's text files when present, else the CIFAR-10 names. */
    char *src_names[100] = {NULL};
    if (c100) {
        char *np = join(dir, spec->coarse ? "coarse_label_names.txt" : "fine_label_names.txt");
        if (np)
            read_names(np, src_names, n_source);
        free(np);
    } else {
        char *np = join(dir, "batches.meta.txt");
        if (np)
            read_names(np, src_names, n_source);
        free(np);
        for (int k = 0; k < 10; k++)
            if (!src_names[k])
                src_names[k] = atl_data_strdup(cifar10_names[k]);
    }
    bool any = false;
    for (int k = 0; k < n_source; k++)
        any |= src_names[k] != NULL;
    if (any) {
        ds->class_names = calloc((size_t)n_out, sizeof *ds->class_names);
        if (ds->class_names)
            for (int j = 0; j < n_out; j++) {
                ds->class_names[j] = src_names[ds->class_ids[j]];
                src_names[ds->class_ids[j]] = NULL;
            }
    }
    for (int k = 0; k < n_source; k++)
        free(src_names[k]);

    ds->name = atl_data_strdup(dir);
done:
    if (f)
        fclose(f);
    free(chunk);
    for (int i = 0; i < 5; i++)
        free(paths[i]);
    free(dir);
    if (rc != 0) {
        atl_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return 0;
}
