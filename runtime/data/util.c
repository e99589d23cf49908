/* Shared helpers of the data layer: error messages, atomic file replacement, parallel-for. */
#include "data_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int atl_data_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

char *atl_data_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- atomic files ---------------------------------------------------------------------------- */

int atl_atomic_begin(atl_atomic_file *af, const char *path, char *err, size_t err_len)
{
    memset(af, 0, sizeof *af);
    size_t cap = strlen(path) + 48;
    af->tmp_path = malloc(cap);
    af->path = atl_data_strdup(path);
    if (!af->tmp_path || !af->path) {
        free(af->tmp_path);
        free(af->path);
        memset(af, 0, sizeof *af);
        return atl_data_err(err, err_len, "%s: out of memory", path);
    }
    /* A name unique among concurrent writers: pid plus a retry counter under O_EXCL. */
    int fd = -1;
    for (unsigned k = 0; k < 10000 && fd < 0; k++) {
        snprintf(af->tmp_path, cap, "%s.tmp.%ld.%u", path, (long)getpid(), k);
        fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        atl_data_err(err, err_len, "%s: cannot create temporary file %s: %s", path,
                     af->tmp_path, strerror(e));
        free(af->tmp_path);
        free(af->path);
        memset(af, 0, sizeof *af);
        return -1;
    }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int e = errno;
        close(fd);
        unlink(af->tmp_path);
        atl_data_err(err, err_len, "%s: fdopen: %s", path, strerror(e));
        free(af->tmp_path);
        free(af->path);
        memset(af, 0, sizeof *af);
        return -1;
    }
    return 0;
}

void atl_atomic_abort(atl_atomic_file *af)
{
    if (af->f)
        fclose(af->f);
    if (af->tmp_path)
        unlink(af->tmp_path);
    free(af->tmp_path);
    free(af->path);
    memset(af, 0, sizeof *af);
}

static void fsync_parent_dir(const char *path)
{
    /* Make the rename itself durable; failure here does not undo a completed rename, so it is
     * not reported. */
    char *dir = atl_data_strdup(path);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash) {
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
        d = dir;
    }
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int atl_atomic_commit(atl_atomic_file *af, char *err, size_t err_len)
{
    int rc = 0;
    if (fflush(af->f) != 0 || ferror(af->f)) {
        rc = atl_data_err(err, err_len, "%s: write failed: %s", af->path, strerror(errno));
    } else if (fsync(fileno(af->f)) != 0) {
        rc = atl_data_err(err, err_len, "%s: fsync failed: %s", af->path, strerror(errno));
    }
    int close_rc = fclose(af->f);
    af->f = NULL;
    if (rc == 0 && close_rc != 0)
        rc = atl_data_err(err, err_len, "%s: close failed: %s", af->path, strerror(errno));
    if (rc == 0 && rename(af->tmp_path, af->path) != 0)
        rc = atl_data_err(err, err_len, "%s: cannot rename temporary file %s into place: %s",
                          af->path, af->tmp_path, strerror(errno));
    if (rc != 0) {
        atl_atomic_abort(af);
        return -1;
    }
    fsync_parent_dir(af->path);
    free(af->tmp_path);
    free(af->path);
    memset(af, 0, sizeof *af);
    return 0;
}

/* ---- parallel-for ---------------------------------------------------------------------------- */

typedef struct range_job {
    atl_data_range_fn fn;
    void *ctx;
    int64_t begin, end;
} range_job;

static void *range_thread(void *arg)
{
    range_job *j = arg;
    j->fn(j->ctx, j->begin, j->end);
    return NULL;
}

void atl_data_parallel_for(int n_threads, int64_t n, atl_data_range_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (n_threads < 1)
        n_threads = 1;
    if (n_threads > 64)
        n_threads = 64;
    if ((int64_t)n_threads > n)
        n_threads = (int)n;
    if (n_threads == 1) {
        fn(ctx, 0, n);
        return;
    }
    range_job jobs[64];
    pthread_t tid[64];
    bool started[64] = {false};
    for (int t = 0; t < n_threads; t++) {
        jobs[t].fn = fn;
        jobs[t].ctx = ctx;
        jobs[t].begin = n * t / n_threads;
        jobs[t].end = n * (t + 1) / n_threads;
    }
    for (int t = 1; t < n_threads; t++)
        started[t] = pthread_create(&tid[t], NULL, range_thread, &jobs[t]) == 0;
    fn(ctx, jobs[0].begin, jobs[0].end);
    /* A chunk whose thread could not be created runs here: the result is the same. */
    for (int t = 1; t < n_threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            fn(ctx, jobs[t].begin, jobs[t].end);
    }
}
