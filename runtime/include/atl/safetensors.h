/* safetensors checkpoints (https://github.com/huggingface/safetensors, "Format").
 *
 * File layout:
 *   8 bytes   N, unsigned little-endian 64-bit: the header length
 *   N bytes   UTF-8 JSON object: for each tensor
 *               "NAME": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [BEGIN, END]}
 *             with offsets relative to the start of the data section, plus an optional
 *             "__metadata__": {"key": "value", ...} (strings only). The writer pads the header with
 *             spaces (0x20) so the data section starts at a multiple of 8 bytes.
 *   rest      the data section: raw little-endian, C-order tensor bytes; the tensors cover it
 *             exactly (no holes, no overlaps).
 *
 * Writing goes to a temporary file in the destination directory that is renamed over the target
 * when complete (atomic): on any error no partial file is left and an existing file is untouched.
 * Reading validates everything before use: header length bounds, JSON syntax, no duplicate keys,
 * known dtypes, integer shapes, offsets that match dtype size x element count, lie in range and
 * tile the data section.
 *
 * Errors: 0 on success, -1 with a one-line message (naming the file) in err otherwise.
 */
#ifndef ATL_SAFETENSORS_H
#define ATL_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every dtype of the specification (element size in bytes in parentheses). */
typedef enum atl_st_dtype {
    ATL_ST_BOOL,    /* "BOOL" (1) */
    ATL_ST_U8,      /* "U8" (1) */
    ATL_ST_I8,      /* "I8" (1) */
    ATL_ST_F8_E5M2, /* "F8_E5M2" (1) */
    ATL_ST_F8_E4M3, /* "F8_E4M3" (1) */
    ATL_ST_I16,     /* "I16" (2) */
    ATL_ST_U16,     /* "U16" (2) */
    ATL_ST_F16,     /* "F16" (2) */
    ATL_ST_BF16,    /* "BF16" (2) */
    ATL_ST_I32,     /* "I32" (4) */
    ATL_ST_U32,     /* "U32" (4) */
    ATL_ST_F32,     /* "F32" (4) */
    ATL_ST_F64,     /* "F64" (8) */
    ATL_ST_I64,     /* "I64" (8) */
    ATL_ST_U64,     /* "U64" (8) */
    ATL_ST_DTYPE_COUNT
} atl_st_dtype;

const char *atl_st_dtype_name(atl_st_dtype t);
size_t atl_st_dtype_size(atl_st_dtype t);
/* Returns 0 and sets *t for a valid name ("F32", ...), else -1. */
int atl_st_dtype_from_name(const char *name, atl_st_dtype *t);

#define ATL_ST_MAX_DIMS 8
/* Largest header accepted when reading (the reference implementation uses the same bound). */
#define ATL_ST_MAX_HEADER ((uint64_t)100 << 20)

/* A tensor to save, or a destination to load into. Shapes are row-major (C order), outermost
 * first; ndim 0 is a scalar. data holds atl_st_dtype_size(dtype) * prod(shape) bytes. */
typedef struct atl_st_tensor {
    const char *name;
    atl_st_dtype dtype;
    int ndim;
    int64_t shape[ATL_ST_MAX_DIMS];
    void *data;
} atl_st_tensor;

typedef struct atl_st_kv {
    const char *key;
    const char *value;
} atl_st_kv;

/* Save tensors and optional metadata (n_meta pairs; keys unique) to path, atomically. Tensors are
 * laid out grouped by descending element size (keeping the given order within a group), so each
 * is aligned to its element size; the header lists them in the same order. Names must be unique,
 * non-empty and not "__metadata__". */
int atl_st_save(const char *path, const atl_st_tensor *tensors, size_t n, const atl_st_kv *meta,
                size_t n_meta, char *err, size_t err_len);

/* ---- reading --------------------------------------------------------------------------------- */

typedef struct atl_st_file atl_st_file; /* an open, validated file (memory-mapped) */

typedef struct atl_st_info {
    const char *name;
    atl_st_dtype dtype;
    int ndim;
    int64_t shape[ATL_ST_MAX_DIMS];
    uint64_t begin, end; /* data_offsets, relative to the data section */
    const void *data;    /* points into the mapping; alignment not guaranteed for foreign files */
} atl_st_info;

int atl_st_open(const char *path, atl_st_file **out, char *err, size_t err_len);
void atl_st_close(atl_st_file *f);

/* Tensors in header order. */
size_t atl_st_count(const atl_st_file *f);
const atl_st_info *atl_st_at(const atl_st_file *f, size_t i);
const atl_st_info *atl_st_find(const atl_st_file *f, const char *name);
int64_t atl_st_numel(const atl_st_info *t);

/* __metadata__ entries in header order; atl_st_meta_get returns NULL for a missing key. */
size_t atl_st_meta_count(const atl_st_file *f);
atl_st_kv atl_st_meta_at(const atl_st_file *f, size_t i);
const char *atl_st_meta_get(const atl_st_file *f, const char *key);

/* Copy one tensor into dst (dst_bytes must equal its byte size). */
int atl_st_read(const atl_st_file *f, const atl_st_info *t, void *dst, size_t dst_bytes,
                char *err, size_t err_len);

/* Skip patterns: a pattern matches a tensor name if it equals the name or is a dotted prefix of
 * it ("head" matches "head", "head.weight", "head.fc.bias" but not "header.w"); a trailing '*'
 * makes it a plain prefix ("blocks.3*"). */
bool atl_st_name_matches(const char *name, const char *pattern);

enum {
    /* Tensors in the file that no destination asks for are not an error. */
    ATL_ST_LOAD_ALLOW_UNEXPECTED = 1u << 0,
    /* Destinations absent from the file are not an error (they keep their contents). */
    ATL_ST_LOAD_ALLOW_MISSING = 1u << 1,
};

/* Load file tensors into caller-provided destinations, matched by name. Destinations (and file
 * tensors) matching any skip pattern are neither read nor checked (e.g. skip "head" to re-initialise
 * a classifier head for transfer learning). Every mismatch is reported in one message:
 * "missing: a, b; unexpected: c; wrong shape: d [10,768] in file, [2,768] expected; wrong dtype:
 * ...". Nothing is written to any destination unless all checks pass. n_loaded (may be NULL)
 * receives the number of tensors copied. */
int atl_st_load_into(const atl_st_file *f, const atl_st_tensor *dst, size_t n,
                     const char *const *skip, size_t n_skip, unsigned flags, size_t *n_loaded,
                     char *err, size_t err_len);
/* Open, load_into, close. */
int atl_st_load(const char *path, const atl_st_tensor *dst, size_t n, const char *const *skip,
                size_t n_skip, unsigned flags, size_t *n_loaded, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
