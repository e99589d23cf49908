/* atl data layer: image classification data sets, class subsets, normalisation, augmentation,
 * deterministic shuffling and a batch iterator.  See docs/DATA.md for the spec-string grammar and
 * the synthetic generator.
 *
 * Sources (opened from a spec string, e.g. "cifar100:/data/cifar-100-binary:classes=3,42"):
 *   synthetic   the built-in deterministic image set (no files needed)
 *   cifar10     CIFAR-10 binary batches (1 label byte + 3072 CHW pixel bytes per record)
 *   cifar100    CIFAR-100 binary files (coarse byte, fine byte, 3072 CHW pixel bytes)
 *   npy         a pair of NumPy .npy arrays (images, labels)
 *
 * Every random decision (synthetic sample jitter, epoch shuffles, augmentation) is a pure function
 * of (seed, stream, epoch, index) through the counter-based generator of atl/rng.h, so batches do
 * not depend on the thread count, the batch size or on the order in which batches are requested.
 *
 * Errors: functions that can fail return 0 on success, -1 on failure with a one-line message in
 * err (err_len bytes, always NUL-terminated when err_len > 0) that names the file, and the record
 * where one is involved.
 */
#ifndef ATL_DATA_H
#define ATL_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATL_DATA_MAX_CHANNELS 4

/* Stream ids of the data layer (atl/rng.h). The compiler assigns model streams; these constants
 * live in their own namespace ("DATA" in the top bytes) so the two never need coordinating. */
#define ATL_DATA_STREAM_BASE 0x4441544100000000ull
#define ATL_DATA_STREAM_SHUFFLE (ATL_DATA_STREAM_BASE + 1u)
#define ATL_DATA_STREAM_AUGMENT (ATL_DATA_STREAM_BASE + 2u)
#define ATL_DATA_STREAM_SYNTH (ATL_DATA_STREAM_BASE + 3u)

typedef enum atl_split { ATL_SPLIT_TRAIN = 0, ATL_SPLIT_TEST = 1 } atl_split;

typedef enum atl_data_kind {
    ATL_DATA_SYNTHETIC,
    ATL_DATA_CIFAR10,
    ATL_DATA_CIFAR100,
    ATL_DATA_NPY,
} atl_data_kind;

typedef enum atl_data_norm {
    ATL_NORM_DEFAULT,   /* per source: cifar10 constants for CIFAR-10/100, synthetic constants
                           for synthetic, none for npy */
    ATL_NORM_NONE,      /* mean 0, std 1 */
    ATL_NORM_CIFAR10,   /* (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616) */
    ATL_NORM_CIFAR100,  /* (0.5071, 0.4865, 0.4409) / (0.2673, 0.2564, 0.2762) */
    ATL_NORM_SYNTHETIC, /* measured constants of the synthetic generator (docs/DATA.md) */
    ATL_NORM_CUSTOM,    /* mean=... and std=... given in the spec */
} atl_data_norm;

/* A parsed spec string. All strings and arrays are owned (atl_data_spec_free). */
typedef struct atl_data_spec {
    atl_data_kind kind;
    char *dir;              /* cifar10 / cifar100: directory */
    char *x_path, *y_path;  /* npy: images and labels */
    char *xt_path, *yt_path;/* npy: optional test split (":test=XT.npy,YT.npy"); NULL = same */
    int32_t *classes;       /* selected source class ids in label order; NULL = all */
    int n_classes;          /* entries of classes; synthetic: number of classes */
    int64_t per_class;      /* cap on images per class (first in file order); -1 = no cap */
    int64_t n_per_class;    /* synthetic: images per class; -1 = default (500 train, 100 test) */
    uint64_t seed;          /* synthetic: generator seed (default 0) */
    int size;               /* synthetic: image height = width (default 32) */
    bool coarse;            /* cifar100: label=coarse (default fine) */
    bool nhwc;              /* npy: layout=nhwc (default nchw) */
    atl_data_norm norm;
    float mean[ATL_DATA_MAX_CHANNELS], std[ATL_DATA_MAX_CHANNELS]; /* ATL_NORM_CUSTOM */
    int n_mean, n_std;
} atl_data_spec;

int atl_data_spec_parse(const char *spec, atl_data_spec *out, char *err, size_t err_len);
void atl_data_spec_free(atl_data_spec *s);

typedef enum atl_pixel_type { ATL_PIXEL_U8, ATL_PIXEL_F32 } atl_pixel_type;

/* N images [N, C, H, W] plus labels in 0..num_classes-1.  Pixels are stored as read (uint8 for
 * CIFAR, synthetic and uint8 .npy files; float32 otherwise); the raw value of a pixel is
 * stored * pixel_scale (1/255 for uint8, so raw images lie in [0, 1]).  The loader maps raw values
 * to (raw - mean[c]) / std[c]. */
typedef struct atl_dataset {
    int64_t n;
    int c, h, w;
    atl_pixel_type pixel_type;
    void *pixels;
    float pixel_scale;
    int32_t *labels;     /* [n] */
    int num_classes;
    int32_t *class_ids;  /* [num_classes]: id in the source of each label (subset relabelling) */
    char **class_names;  /* [num_classes] or NULL; entries may be NULL */
    float mean[ATL_DATA_MAX_CHANNELS], std[ATL_DATA_MAX_CHANNELS];
    char *name;          /* the spec string (or a description) for messages */
} atl_dataset;

/* Open a data set from a spec string (grammar in docs/DATA.md). n_threads (>= 1) only speeds up
 * the synthetic generator; the result does not depend on it. On success *out is owned by the
 * caller (atl_dataset_free). */
int atl_dataset_open(const char *spec, atl_split split, int n_threads, atl_dataset **out,
                     char *err, size_t err_len);
int atl_dataset_open_spec(const atl_data_spec *spec, atl_split split, int n_threads,
                          atl_dataset **out, char *err, size_t err_len);

/* An empty data set with room for n images (pixels zeroed, labels 0, no normalisation); for
 * tests and callers that build data in memory. Returns NULL when out of memory. */
atl_dataset *atl_dataset_create(int64_t n, int c, int h, int w, atl_pixel_type type,
                                int num_classes);
void atl_dataset_free(atl_dataset *ds);

static inline size_t atl_dataset_image_elems(const atl_dataset *ds)
{
    return (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
}

/* Image i as raw floats (stored * pixel_scale), CHW. */
void atl_dataset_get_raw(const atl_dataset *ds, int64_t i, float *out);
/* Image i normalised ((raw - mean) / std), CHW, without augmentation. */
void atl_dataset_get(const atl_dataset *ds, int64_t i, float *out);
/* counts[k] = number of images with label k (counts has num_classes entries). */
void atl_dataset_class_counts(const atl_dataset *ds, int64_t *counts);
/* Per-channel mean and standard deviation of the raw pixels (double accumulation). */
void atl_dataset_raw_stats(const atl_dataset *ds, float *mean, float *std);
/* Fill mean/std of ds from a normalisation choice (ATL_NORM_DEFAULT resolves by kind). */
int atl_dataset_set_norm(atl_dataset *ds, atl_data_kind kind, atl_data_norm norm,
                         const float *mean, const float *std, char *err, size_t err_len);

/* ---- Synthetic image set (docs/DATA.md, "Synthetic generator") ------------------------------- */

/* Render sample `index` of class `class_id` of a split into out[3*size*size] (raw, [0, 1]).
 * A pure function of (seed, split, class_id, index, size). */
void atl_synth_render(uint64_t seed, atl_split split, int32_t class_id, int64_t index, int size,
                      float *out);
/* A short human-readable description of a class recipe ("disk/stripes on clouds, hue 3"). */
void atl_synth_describe(int32_t class_id, char *buf, size_t len);
/* Raw per-channel mean/std of the generator (measured over classes 0..99; docs/DATA.md). */
extern const float atl_synth_mean[3], atl_synth_std[3];

/* ---- Shuffling and augmentation --------------------------------------------------------------- */

/* out = a uniformly random permutation of 0..n-1 for (seed, epoch); Fisher-Yates with unbiased
 * bounded draws. n must be < 2^32. */
void atl_data_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *out);

typedef struct atl_aug {
    int dy, dx; /* crop offset in [-pad, pad]: out(y, x) = in(y + dy, x' + dx), zero outside */
    bool flip;  /* x' = W-1-x (horizontal flip) when set, else x' = x */
} atl_aug;

/* The augmentation drawn for dataset image `index` in `epoch`. */
atl_aug atl_data_aug_draw(uint64_t seed, uint64_t epoch, int64_t index, int pad, bool crop,
                          bool flip);
/* Apply an augmentation to one raw CHW image (zero padding happens in raw pixel space, as with
 * padding the stored image by black pixels before cropping). */
void atl_data_aug_apply(const float *in, float *out, int c, int h, int w, atl_aug a);

/* ---- Batch iterator --------------------------------------------------------------------------- */

typedef struct atl_loader_opts {
    int64_t batch;   /* images per batch (>= 1) */
    bool shuffle;    /* new permutation each epoch from (seed, epoch); else file order */
    bool crop;       /* random crop with crop_pad zero padding (training) */
    bool flip;       /* random horizontal flip (training) */
    int crop_pad;    /* default 4 */
    bool drop_last;  /* drop the final partial batch */
    uint64_t seed;   /* run seed: shuffles and augmentation */
    int n_threads;   /* >= 1; results do not depend on it */
} atl_loader_opts;

/* Training defaults: shuffle, crop (pad 4) + flip, drop_last false, 1 thread. */
atl_loader_opts atl_loader_opts_train(int64_t batch, uint64_t seed);
/* Evaluation defaults: file order, no augmentation, final partial batch kept. */
atl_loader_opts atl_loader_opts_eval(int64_t batch);

typedef struct atl_loader {
    const atl_dataset *ds; /* borrowed; must outlive the loader */
    atl_loader_opts o;
    int64_t *order;        /* image order of the current epoch */
    uint64_t epoch;
    int64_t next_batch;
} atl_loader;

int atl_loader_init(atl_loader *l, const atl_dataset *ds, const atl_loader_opts *o, char *err,
                    size_t err_len);
void atl_loader_fini(atl_loader *l);
/* Start epoch `epoch` (0-based): compute its order and rewind. atl_loader_init starts epoch 0. */
void atl_loader_set_epoch(atl_loader *l, uint64_t epoch);
int64_t atl_loader_num_batches(const atl_loader *l);
/* Fill batch b of the current epoch into x[batch*C*H*W] (normalised) and y[batch]. Returns the
 * number of images written (batch, or fewer for a final partial batch; 0 when b is out of
 * range). Unused slots get zeros in x and -1 in y. A pure function of (ds, opts, epoch, b). */
int64_t atl_loader_fill(const atl_loader *l, int64_t b, float *x, int32_t *y);
/* Next batch of the epoch (atl_loader_fill of the cursor, then advance); 0 at the end. */
int64_t atl_loader_next(atl_loader *l, float *x, int32_t *y);

/* ---- NumPy .npy files ------------------------------------------------------------------------- */

typedef enum atl_npy_dtype {
    ATL_NPY_U8,  /* |u1 */
    ATL_NPY_I32, /* <i4 */
    ATL_NPY_I64, /* <i8 */
    ATL_NPY_F32, /* <f4 */
    ATL_NPY_F64, /* <f8 */
} atl_npy_dtype;

#define ATL_NPY_MAX_DIMS 8

typedef struct atl_npy {
    atl_npy_dtype dtype;
    int ndim;
    int64_t shape[ATL_NPY_MAX_DIMS];
    void *data; /* C order, little-endian (host order on the little-endian hosts atl supports) */
    size_t nbytes;
} atl_npy;

size_t atl_npy_dtype_size(atl_npy_dtype t);
const char *atl_npy_dtype_descr(atl_npy_dtype t);
/* Read a .npy file (format versions 1.0, 2.0, 3.0). Rejects Fortran order, big-endian and
 * unsupported dtypes, and size mismatches, with a message naming the file. */
int atl_npy_read(const char *path, atl_npy *out, char *err, size_t err_len);
/* Write a .npy file (version 1.0, or 2.0 when the header needs it), atomically (temp + rename). */
int atl_npy_write(const char *path, atl_npy_dtype dtype, int ndim, const int64_t *shape,
                  const void *data, char *err, size_t err_len);
void atl_npy_free(atl_npy *a);

/* ---- Looking at data -------------------------------------------------------------------------- */

/* Write a binary PPM (P6) of a grid: one row per class, `per_class` raw images (first ones in
 * data set order) per row, each scaled up by an integer factor `zoom`. Channels other than 3 are
 * shown as grey (channel 0). */
int atl_dataset_write_grid_ppm(const atl_dataset *ds, const char *path, int per_class, int zoom,
                               char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
