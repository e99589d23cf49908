/* Internal table of contents of runtime/data (not installed; not part of the public API).
 *
 *   util.c        error formatting, atomic file writes (temp + rename), a tiny parallel-for
 *   spec.c        spec-string parser (atl_data_spec_parse)
 *   dataset.c     atl_dataset: create/free, open dispatch, subsets, normalisation, stats
 *   cifar.c       CIFAR-10 / CIFAR-100 binary readers
 *   npy.c         .npy reader/writer and the npy data source
 *   synthetic.c   the synthetic image generator
 *   loader.c      permutations, augmentation, batch iterator
 *   ppm.c         sample grids as PPM images
 *   safetensors.c checkpoints (public API in atl/safetensors.h)
 */
#ifndef ATL_DATA_INTERNAL_H
#define ATL_DATA_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>

#include "atl/data.h"

#if defined(__GNUC__)
#define ATL_DATA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ATL_DATA_PRINTF(a, b)
#endif

/* snprintf into err (if err_len > 0); always returns -1 so callers can `return atl_data_err(...)`. */
int atl_data_err(char *err, size_t err_len, const char *fmt, ...) ATL_DATA_PRINTF(3, 4);

/* Atomic writes: create a unique temporary file next to `path` (same directory, so rename(2) is
 * atomic), write through the FILE*, then commit (flush, fsync, close, rename over path, fsync the
 * directory) or abort (close and unlink the temporary). Either way the temporary is gone
 * afterwards, and `path` holds the complete old or the complete new contents. */
typedef struct atl_atomic_file {
    FILE *f;
    char *tmp_path;
    char *path;
} atl_atomic_file;

int atl_atomic_begin(atl_atomic_file *af, const char *path, char *err, size_t err_len);
int atl_atomic_commit(atl_atomic_file *af, char *err, size_t err_len);
void atl_atomic_abort(atl_atomic_file *af);

/* Run fn(ctx, begin, end) over [0, n) split into n_threads contiguous chunks (threads are created
 * per call; the caller's thread does the first chunk). Work items must be independent. */
typedef void (*atl_data_range_fn)(void *ctx, int64_t begin, int64_t end);
void atl_data_parallel_for(int n_threads, int64_t n, atl_data_range_fn fn, void *ctx);

/* Source readers. Each fills a fresh data set (labels relabelled per spec->classes, per-class
 * cap applied) or returns -1 with a message. */
int atl_data_load_cifar(const atl_data_spec *spec, atl_split split, atl_dataset **out, char *err,
                        size_t err_len);
int atl_data_load_npy(const atl_data_spec *spec, atl_split split, atl_dataset **out, char *err,
                      size_t err_len);
int atl_data_load_synthetic(const atl_data_spec *spec, atl_split split, int n_threads,
                            atl_dataset **out, char *err, size_t err_len);

/* Class selection shared by the readers: map[source_id] = label or -1 (map has n_source
 * entries). Fails if a requested id is out of range [0, n_source). */
int atl_data_class_map(const atl_data_spec *spec, int n_source, const char *what, int32_t *map,
                       char *err, size_t err_len);

char *atl_data_strdup(const char *s);

#endif
