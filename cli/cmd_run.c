/* atlc run | sweep | merge (docs/EXPERIMENTS.md) */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "jit.h"
#include "experiment.h"

#ifdef ATL_HAVE_MPI
#include <mpi.h>
#endif

static const char *run_help =
    "usage: atlc run EXP.atl [--runs DIR] [--seed S] [--set PATH=VALUE]... [--quiet]\n"
    "\n"
    "Run an experiment (docs/EXPERIMENTS.md): digital pretraining, then every task with every\n"
    "method (analog_tl, digital_tl, analog_scratch, digital_scratch) for every seed; write\n"
    "runs/NAME/ (experiment.json, metrics, checkpoints, result.json files, results.json) and\n"
    "print the results table. Running again resumes: finished phases are not redone (the\n"
    "pretraining checkpoint is shared with every run and sweep point that uses it). The\n"
    "experiment's sweep section is ignored here (see 'atlc sweep').\n"
    "\n"
    "options:\n"
    "  --runs DIR          parent directory of the run directories (default: runs)\n"
    "  --seed S            run this seed only (default: the experiment's seeds)\n"
    "  --set PATH=VALUE    override a setting: analog.*, defines.NAME, pretrain.KEY,\n"
    "                      finetune.KEY, seeds (e.g. --set finetune.epochs=1)\n"
    "  --backend B         jit (default) or interp: the executor of the training steps\n"
    "  --quiet             no progress output\n";

static const char *sweep_help =
    "usage: atlc sweep EXP.atl [-j N] [--shard I/N] [--runs DIR] [--set PATH=VALUE]... [--quiet]\n"
    "\n"
    "Expand the experiment's sweep (grid or zip) x seeds into jobs, run them in N worker\n"
    "processes (a job's output goes to its point directory's log-s<SEED>.txt), skip jobs whose\n"
    "results exist (so a killed sweep resumes), and write runs/NAME/results.csv: one row per\n"
    "point, seed, task and method, with every swept parameter as a column.\n"
    "\n"
    "options:\n"
    "  -j N                worker processes (default 1)\n"
    "  --shard I/N         run only the points p with p mod N == I (0 <= I < N), e.g. a batch\n"
    "                      scheduler's array index; writes results.shard-I-of-N.csv (join the\n"
    "                      shards with 'atlc merge')\n"
    "  --runs DIR, --set PATH=VALUE, --backend B, --quiet   as for 'atlc run'\n";

static const char *merge_help =
    "usage: atlc merge A.csv B.csv ... -o results.csv\n"
    "\n"
    "Join sweep result files (shards) with identical columns; a row of the same (point, seed,\n"
    "task, method) in two files is an error. Rows are sorted by point, seed, task, method.\n";

typedef struct exp_args {
    const char *file;
    const char *sets[256];
    int n_sets;
    atl_run_opts ro;
    long long seed;
    bool have_seed;
    long long jobs;
    long long shard_i, shard_n;
    bool interp; /* --backend=interp */
} exp_args;

/* atl_experiment_run with the chosen executor: a JIT session (the default) lives for one run,
 * so the steps of its phases share their kernels; it is created in the process that runs (after
 * a sweep's fork). */
static int experiment_run(const atl_experiment *e, int point, uint64_t seed,
                          const atl_run_opts *ro, bool interp, atl_diag *d)
{
    atl_run_opts o = *ro;
    atl_jit_session *s = NULL;
    if (interp) {
        o.backend.ops = atl_exec_interp_ops();
    } else {
        char err[1024];
        if (!(s = atl_jit_session_create(NULL, err, sizeof err))) {
            atl_diag_error(d, ATL_NO_SPAN, "%s (use --backend=interp)", err);
            return 1;
        }
        o.backend = (atl_backend){atl_exec_jit_ops(), s};
    }
    int rc = atl_experiment_run(e, point, seed, &o, d);
    atl_jit_session_free(s);
    return rc;
}

static int parse_exp_args(cli_args *a, exp_args *x, bool sweep)
{
    while (cli_next(a)) {
        if (cli_is(a, "--help") || cli_is(a, "-h")) {
            fputs(sweep ? sweep_help : run_help, stdout);
            return -2;
        }
        if (cli_is(a, "--runs")) {
            if (!(x->ro.runs = cli_value(a)))
                return ATL_EXIT_USAGE;
        } else if (cli_is(a, "--set")) {
            if (cli_push(a, x->sets, &x->n_sets, 256) < 0)
                return ATL_EXIT_USAGE;
        } else if (cli_is(a, "--quiet")) {
            x->ro.quiet = true;
        } else if (cli_is(a, "--backend")) {
            const char *v = cli_value(a);
            if (!v)
                return ATL_EXIT_USAGE;
            if (strcmp(v, "jit") && strcmp(v, "interp")) {
                cli_usage_error(a->cmd, "--backend must be jit or interp, got '%s'", v);
                return ATL_EXIT_USAGE;
            }
            x->interp = strcmp(v, "interp") == 0;
        } else if (!sweep && cli_is(a, "--seed")) {
            if (!cli_int(a, 0, INT64_MAX, &x->seed))
                return ATL_EXIT_USAGE;
            x->have_seed = true;
        } else if (sweep && cli_is(a, "-j")) {
            if (!cli_int(a, 1, 256, &x->jobs))
                return ATL_EXIT_USAGE;
        } else if (sweep && cli_is(a, "--shard")) {
            const char *v = cli_value(a);
            char *end;
            if (!v)
                return ATL_EXIT_USAGE;
            x->shard_i = strtoll(v, &end, 10);
            if (*end != '/' || (x->shard_n = strtoll(end + 1, &end, 10)) <= 0 || *end ||
                x->shard_i < 0 || x->shard_i >= x->shard_n) {
                cli_usage_error(a->cmd, "--shard expects I/N with 0 <= I < N, got '%s'", v);
                return ATL_EXIT_USAGE;
            }
        } else if (cli_positional(a) && !x->file) {
            x->file = a->cur;
        } else {
            return cli_unknown(a);
        }
    }
    if (a->error)
        return ATL_EXIT_USAGE;
    if (!x->file) {
        cli_usage_error(a->cmd, "no experiment file");
        return ATL_EXIT_USAGE;
    }
    return 0;
}

int cmd_run(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, argc, argv, "run");
    exp_args x;
    memset(&x, 0, sizeof x);
    int rc = parse_exp_args(&a, &x, false);
    if (rc)
        return rc == -2 ? ATL_EXIT_OK : rc;
    x.ro.progress = !x.ro.quiet && isatty(fileno(stdout));
    atl_diag d;
    atl_diag_init(&d, stderr);
    atl_experiment e;
    rc = ATL_EXIT_OK;
    if (atl_experiment_load(&d, x.file, x.sets, x.n_sets, &e)) {
        rc = ATL_EXIT_USER;
        goto out;
    }
    if (e.n_sweep && !x.ro.quiet)
        printf("note: %s has a sweep of %d points; 'atlc run' runs the base settings, 'atlc "
               "sweep' runs the points\n",
               x.file, atl_experiment_points(&e));
    for (int s = 0; s < e.n_seeds; s++) {
        if (x.have_seed && e.seeds[s] != (uint64_t)x.seed)
            continue;
        int r = experiment_run(&e, -1, e.seeds[s], &x.ro, x.interp, &d);
        if (r) {
            rc = r == 3 ? ATL_EXIT_INTERNAL : ATL_EXIT_USER;
            goto out;
        }
    }
    if (x.have_seed) {
        e.seeds[0] = (uint64_t)x.seed;
        e.n_seeds = 1;
    }
    if (atl_experiment_gather(&e, -1, &x.ro, true, &d))
        rc = ATL_EXIT_USER;
out:
    atl_experiment_free(&e);
    atl_diag_fini(&d);
    return rc;
}

static void mkdir_p(const char *dir)
{
    char mk[2100];
    snprintf(mk, sizeof mk, "%s", dir);
    for (char *p = mk + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(mk, 0755);
            *p = '/';
        }
    mkdir(mk, 0755);
}

/* One sweep job, its output in the point directory's log: in a child process (stdout and stderr
 * redirected) or, under MPI, in this process (its messages written to the log file). */
static int run_job(const atl_experiment *e, int point, uint64_t seed, const atl_run_opts *ro,
                   bool interp, bool in_process)
{
    char dir[2048], log[2200];
    atl_experiment_dir(e, ro, point, dir, sizeof dir);
    mkdir_p(dir);
    snprintf(log, sizeof log, "%s/log-s%llu.txt", dir, (unsigned long long)seed);
    if (in_process) {
        FILE *lf = fopen(log, "a");
        atl_diag d;
        atl_diag_init(&d, lf ? lf : stderr);
        atl_run_opts o = *ro;
        o.progress = false;
        o.out = lf ? lf : stdout;
        o.quiet = false;
        int rc = experiment_run(e, point, seed, &o, interp, &d);
        atl_diag_fini(&d);
        if (lf)
            fclose(lf);
        return rc;
    }
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        fflush(stdout);
        fflush(stderr);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    atl_diag d;
    atl_diag_init(&d, stderr);
    atl_run_opts o = *ro;
    o.progress = false;
    o.out = stdout;
    o.quiet = false;
    int rc = experiment_run(e, point, seed, &o, interp, &d);
    atl_diag_fini(&d);
    fflush(stdout);
    fflush(stderr);
    return rc;
}

#ifdef ATL_HAVE_MPI
typedef struct line_ref {
    const char *text;
    long point;
    size_t order;
} line_ref;

static int cmp_line(const void *a, const void *b)
{
    const line_ref *x = a, *y = b;
    if (x->point != y->point)
        return x->point < y->point ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The sweep over MPI ranks: rank r runs the points p with p mod size == r (each job in process),
 * rank 0 pretrains first and gathers every rank's CSV rows into results.csv. */
static int sweep_mpi(atl_experiment *e, const exp_args *x, atl_diag *d, int rank, int size)
{
    int np = atl_experiment_points(e), ok = 1, fails = 0;
    if (rank == 0 && e->has_pretrain)
        for (int s = 0; s < e->n_seeds && ok; s++) {
            atl_experiment tmp = *e;
            tmp.n_tasks = 0;
            if (run_job(&tmp, 0, e->seeds[s], &x->ro, x->interp, true))
                ok = 0;
        }
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!ok) {
        if (rank == 0)
            atl_diag_error(d, ATL_NO_SPAN, "pretraining failed (see the log of point 0)");
        return ATL_EXIT_USER;
    }
    for (int p = rank; p < np; p += size)
        for (int s = 0; s < e->n_seeds; s++) {
            bool good = run_job(e, p, e->seeds[s], &x->ro, x->interp, true) == 0;
            if (!good)
                fails++;
            if (!x->ro.quiet || !good)
                printf("[rank %d] point %d seed %llu: %s\n", rank, p,
                       (unsigned long long)e->seeds[s], good ? "done" : "FAILED");
            fflush(stdout);
        }
    char *buf = NULL;
    size_t len = 0;
    FILE *ms = open_memstream(&buf, &len);
    for (int p = rank; p < np && !fails; p += size)
        if (atl_experiment_gather(e, p, &x->ro, false, d) ||
            atl_experiment_csv(e, p, &x->ro, ms, false, d))
            fails++;
    fclose(ms);
    int total_fails = 0;
    MPI_Allreduce(&fails, &total_fails, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int mylen = (int)len, *lens = NULL, *displs = NULL;
    char *all = NULL;
    if (rank == 0) {
        lens = calloc((size_t)size, sizeof *lens);
        displs = calloc((size_t)size, sizeof *displs);
    }
    MPI_Gather(&mylen, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        int tot = 0;
        for (int r = 0; r < size; r++) {
            displs[r] = tot;
            tot += lens[r];
        }
        all = malloc((size_t)tot + 1);
        all[tot] = '\0';
    }
    MPI_Gatherv(buf, mylen, MPI_CHAR, all, lens, displs, MPI_CHAR, 0, MPI_COMM_WORLD);
    free(buf);
    int rc = total_fails ? ATL_EXIT_USER : ATL_EXIT_OK;
    if (rank == 0 && !total_fails) {
        /* rows of one point come from one rank in order: a stable sort by point restores the
         * order of a single-process sweep */
        size_t n = 0, cap = 64;
        line_ref *lines = malloc(cap * sizeof *lines);
        for (char *save = NULL, *l = strtok_r(all, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            if (n == cap)
                lines = realloc(lines, (cap *= 2) * sizeof *lines);
            lines[n].text = l;
            lines[n].point = strtol(l, NULL, 10);
            lines[n].order = n;
            n++;
        }
        qsort(lines, n, sizeof *lines, cmp_line);
        char top[2048], path[2400];
        atl_experiment_dir(e, &x->ro, -1, top, sizeof top);
        snprintf(path, sizeof path, "%s/results.csv", top);
        cli_out o;
        if (!cli_out_open(&o, path, d)) {
            rc = ATL_EXIT_USER;
        } else {
            atl_experiment_csv_header(e, o.f);
            for (size_t i = 0; i < n; i++)
                fprintf(o.f, "%s\n", lines[i].text);
            if (!cli_out_commit(&o, d))
                rc = ATL_EXIT_USER;
            else if (!x->ro.quiet)
                printf("gathered %zu rows from %d ranks: written %s\n", n, size, path);
        }
        free(lines);
    }
    if (rank == 0 && total_fails)
        atl_diag_error(d, ATL_NO_SPAN, "%d job%s failed on the ranks (see their logs)",
                       total_fails, total_fails == 1 ? "" : "s");
    free(all);
    free(lens);
    free(displs);
    return rc;
}
#endif

int cmd_sweep(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, argc, argv, "sweep");
    exp_args x;
    memset(&x, 0, sizeof x);
    x.jobs = 1;
    x.shard_n = 1;
    int rc = parse_exp_args(&a, &x, true);
    if (rc)
        return rc == -2 ? ATL_EXIT_OK : rc;
    atl_diag d;
    atl_diag_init(&d, stderr);
    atl_experiment e;
    rc = ATL_EXIT_OK;
    if (atl_experiment_load(&d, x.file, x.sets, x.n_sets, &e)) {
        rc = ATL_EXIT_USER;
        goto out;
    }
#ifdef ATL_HAVE_MPI
    /* under mpirun the ranks split the points; a plain run takes the process path below */
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE")) {
        int rank = 0, size = 1;
        MPI_Init(NULL, NULL);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        if (size > 1) {
            if (x.shard_n > 1) {
                if (rank == 0)
                    cli_usage_error("sweep", "--shard and mpirun do not go together");
                rc = ATL_EXIT_USAGE;
            } else {
                rc = sweep_mpi(&e, &x, &d, rank, size);
            }
            MPI_Finalize();
            goto out;
        }
        MPI_Finalize();
    }
#endif
    int np = atl_experiment_points(&e);
    if (e.n_sweep == 0)
        fprintf(stderr, "atlc sweep: warning: %s has no sweep section; running its single "
                        "point\n",
                x.file);
    /* the jobs of this shard */
    int n_jobs = 0, cap = np * e.n_seeds;
    int *jp = malloc(sizeof(int) * (size_t)cap), *js = malloc(sizeof(int) * (size_t)cap);
    if (!jp || !js)
        abort();
    for (int p = 0; p < np; p++) {
        if (p % x.shard_n != x.shard_i)
            continue;
        for (int s = 0; s < e.n_seeds; s++) {
            jp[n_jobs] = p;
            js[n_jobs++] = s;
        }
    }
    if (!x.ro.quiet)
        printf("sweep %s: %d point%s x %d seed%s; this shard: %d job%s, %lld worker%s\n", e.name,
               np, np == 1 ? "" : "s", e.n_seeds, e.n_seeds == 1 ? "" : "s", n_jobs,
               n_jobs == 1 ? "" : "s", x.jobs, x.jobs == 1 ? "" : "s");
    /* shared pretraining first (once per seed), so that workers do not race to create it */
    if (n_jobs && e.has_pretrain) {
        int first = jp[0];
        for (int s = 0; s < e.n_seeds; s++) {
            pid_t pid = fork();
            if (pid == 0) {
                atl_experiment tmp = e;
                /* pretraining only: a run of this point with no tasks */
                tmp.n_tasks = 0;
                _exit(run_job(&tmp, first, e.seeds[s], &x.ro, x.interp, false) ? 1 : 0);
            }
            int st = 0;
            if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
                char dir[2048];
                atl_experiment_dir(&e, &x.ro, first, dir, sizeof dir);
                atl_diag_error(&d, ATL_NO_SPAN, "pretraining failed (see %s/log-s%llu.txt)", dir,
                               (unsigned long long)e.seeds[s]);
                rc = ATL_EXIT_USER;
                goto out_jobs;
            }
        }
    }
    int running = 0, next = 0, failed = 0, done = 0;
    pid_t *pids = calloc((size_t)(x.jobs > 0 ? x.jobs : 1), sizeof *pids);
    int *slot_job = calloc((size_t)(x.jobs > 0 ? x.jobs : 1), sizeof *slot_job);
    if (!pids || !slot_job)
        abort();
    while (next < n_jobs || running > 0) {
        while (running < x.jobs && next < n_jobs) {
            int k = next++;
            int slot = 0;
            while (pids[slot])
                slot++;
            fflush(stdout);
            pid_t pid = fork();
            if (pid < 0) {
                atl_diag_error(&d, ATL_NO_SPAN, "fork failed: %s", strerror(errno));
                failed++;
                continue;
            }
            if (pid == 0)
                _exit(run_job(&e, jp[k], e.seeds[js[k]], &x.ro, x.interp, false) ? 1 : 0);
            pids[slot] = pid;
            slot_job[slot] = k;
            running++;
        }
        int st = 0;
        pid_t pid = wait(&st);
        if (pid < 0)
            break;
        for (int slot = 0; slot < x.jobs; slot++) {
            if (pids[slot] != pid)
                continue;
            int k = slot_job[slot];
            pids[slot] = 0;
            running--;
            done++;
            bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
            if (!ok)
                failed++;
            if (!x.ro.quiet || !ok) {
                char vals[512] = "";
                size_t len = 0;
                for (int j = 0; j < e.n_sweep && len < sizeof vals; j++) {
                    char t[128];
                    atl_experiment_point_value(&e, jp[k], j, t, sizeof t);
                    len += (size_t)snprintf(vals + len, sizeof vals - len, " %s=%s",
                                            e.sweep[j].path, t);
                }
                printf("[%d/%d] point %d seed %llu%s: %s\n", done, n_jobs, jp[k],
                       (unsigned long long)e.seeds[js[k]], vals, ok ? "done" : "FAILED");
                fflush(stdout);
            }
        }
    }
    free(pids);
    free(slot_job);
    if (failed) {
        atl_diag_error(&d, ATL_NO_SPAN,
                       "%d job%s failed (their log-s<SEED>.txt files say why); the others' "
                       "results are kept, run the sweep again to retry",
                       failed, failed == 1 ? "" : "s");
        rc = ATL_EXIT_USER;
        goto out_jobs;
    }
    /* results: one CSV for this shard */
    {
        char top[2048], path[2400];
        atl_experiment_dir(&e, &x.ro, -1, top, sizeof top);
        mkdir_p(top);
        if (x.shard_n > 1)
            snprintf(path, sizeof path, "%s/results.shard-%lld-of-%lld.csv", top, x.shard_i,
                     x.shard_n);
        else
            snprintf(path, sizeof path, "%s/results.csv", top);
        cli_out o;
        if (!cli_out_open(&o, path, &d)) {
            rc = ATL_EXIT_USER;
            goto out_jobs;
        }
        bool header = true;
        for (int p = 0; p < np && rc == ATL_EXIT_OK; p++) {
            if (p % x.shard_n != x.shard_i)
                continue;
            if (atl_experiment_gather(&e, p, &x.ro, false, &d) ||
                atl_experiment_csv(&e, p, &x.ro, o.f, header, &d))
                rc = ATL_EXIT_USER;
            header = false;
        }
        if (rc != ATL_EXIT_OK)
            cli_out_abort(&o);
        else if (!cli_out_commit(&o, &d))
            rc = ATL_EXIT_USER;
        else if (!x.ro.quiet)
            printf("written %s\n", path);
    }
out_jobs:
    free(jp);
    free(js);
out:
    atl_experiment_free(&e);
    atl_diag_fini(&d);
    return rc;
}

/* ---- merge ---------------------------------------------------------------------------------- */

/* Split one CSV line into fields (quotes: "" escapes a quote). Returns the field count. */
static int split_csv(char *line, char **fields, int cap)
{
    int n = 0;
    char *p = line, *w;
    while (n < cap) {
        fields[n++] = w = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else if (!*p) {
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            while (*p && *p != ',')
                p++;
        } else {
            while (*p && *p != ',')
                w = ++p;
        }
        char c = *p;
        *w = '\0';
        if (c != ',')
            break;
        p++;
    }
    return n;
}

typedef struct mrow {
    char *text; /* the line as read */
    long point;
    long long seed;
    char key[512];
} mrow;

static int cmp_rows(const void *a, const void *b)
{
    const mrow *x = a, *y = b;
    if (x->point != y->point)
        return x->point < y->point ? -1 : 1;
    if (x->seed != y->seed)
        return x->seed < y->seed ? -1 : 1;
    return strcmp(x->key, y->key);
}

int cmd_merge(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, argc, argv, "merge");
    const char *files[256], *out = NULL;
    int nf = 0;
    while (cli_next(&a)) {
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) {
            fputs(merge_help, stdout);
            return ATL_EXIT_OK;
        }
        if (cli_is(&a, "-o") || cli_is(&a, "--output")) {
            if (!(out = cli_value(&a)))
                return ATL_EXIT_USAGE;
        } else if (cli_positional(&a) && nf < 256) {
            files[nf++] = a.cur;
        } else {
            return cli_unknown(&a);
        }
    }
    if (a.error)
        return ATL_EXIT_USAGE;
    if (nf == 0 || !out) {
        cli_usage_error("merge", "needs input files and -o OUTPUT");
        return ATL_EXIT_USAGE;
    }
    atl_diag d;
    atl_diag_init(&d, stderr);
    char *header = NULL;
    mrow *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = ATL_EXIT_OK, i_task = -1, i_method = -1;
    for (int f = 0; f < nf && rc == ATL_EXIT_OK; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp) {
            atl_diag_error(&d, ATL_NO_SPAN, "cannot open '%s': %s", files[f], strerror(errno));
            rc = ATL_EXIT_USER;
            break;
        }
        char *line = NULL;
        size_t ln = 0;
        ssize_t len;
        long lineno = 0;
        while ((len = getline(&line, &ln, fp)) >= 0) {
            lineno++;
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            if (lineno == 1) {
                if (!header) {
                    header = strdup(line);
                    char *tmp = strdup(line), *fl[128];
                    int k = split_csv(tmp, fl, 128);
                    for (int j = 0; j < k; j++) {
                        if (strcmp(fl[j], "task") == 0)
                            i_task = j;
                        if (strcmp(fl[j], "method") == 0)
                            i_method = j;
                    }
                    bool bad = k < 4 || strcmp(fl[0], "point") || i_task < 0 || i_method < 0;
                    free(tmp);
                    if (bad) {
                        atl_diag_error(&d, ATL_NO_SPAN,
                                       "%s:1: not a sweep results file (expected the columns "
                                       "point,seed,...,task,method,...)",
                                       files[f]);
                        rc = ATL_EXIT_USER;
                        break;
                    }
                } else if (strcmp(header, line) != 0) {
                    atl_diag_error(&d, ATL_NO_SPAN, "%s:1: columns differ from %s", files[f],
                                   files[0]);
                    rc = ATL_EXIT_USER;
                    break;
                }
                continue;
            }
            if (len == 0)
                continue;
            char *tmp = strdup(line), *fl[128];
            int k = split_csv(tmp, fl, 128);
            char *end;
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                rows = realloc(rows, cap * sizeof *rows);
                if (!rows)
                    abort();
            }
            mrow *r = &rows[n];
            r->point = strtol(fl[0], &end, 10);
            bool ok = k > i_method && *end == '\0' && k > 1;
            if (ok) {
                r->seed = strtoll(fl[1], &end, 10);
                ok = *end == '\0';
            }
            if (!ok) {
                atl_diag_error(&d, ATL_NO_SPAN, "%s:%ld: malformed row", files[f], lineno);
                free(tmp);
                rc = ATL_EXIT_USER;
                break;
            }
            snprintf(r->key, sizeof r->key, "%s,%s", fl[i_task], fl[i_method]);
            r->text = strdup(line);
            n++;
            free(tmp);
        }
        free(line);
        fclose(fp);
    }
    if (rc == ATL_EXIT_OK && !header) {
        atl_diag_error(&d, ATL_NO_SPAN, "no rows to merge");
        rc = ATL_EXIT_USER;
    }
    if (rc == ATL_EXIT_OK) {
        qsort(rows, n, sizeof *rows, cmp_rows);
        for (size_t i = 1; i < n; i++)
            if (cmp_rows(&rows[i - 1], &rows[i]) == 0) {
                atl_diag_error(&d, ATL_NO_SPAN,
                               "point %ld, seed %lld, %s appears twice (overlapping shards?)",
                               rows[i].point, rows[i].seed, rows[i].key);
                rc = ATL_EXIT_USER;
                break;
            }
    }
    if (rc == ATL_EXIT_OK) {
        cli_out o;
        if (!cli_out_open(&o, out, &d)) {
            rc = ATL_EXIT_USER;
        } else {
            fprintf(o.f, "%s\n", header);
            for (size_t i = 0; i < n; i++)
                fprintf(o.f, "%s\n", rows[i].text);
            if (!cli_out_commit(&o, &d))
                rc = ATL_EXIT_USER;
            else
                printf("merged %zu rows from %d file%s into %s\n", n, nf, nf == 1 ? "" : "s", out);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(rows[i].text);
    free(rows);
    free(header);
    atl_diag_fini(&d);
    return rc;
}
