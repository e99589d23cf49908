/* ORC LLJIT sessions and JIT-compiled steps (jit.h).
 *
 * Per step: code generation into a fresh ThreadSafeContext (codegen.c), default<O3> with the
 * session's host target machine, optional dumps, then the module goes to the LLJIT and the first
 * lookup of the entry compiles and links it. Host functions resolve only through the absolute
 * symbols defined at session creation (symbols.c). Every LLVMErrorRef is consumed by
 * atl_llvm_take_error; every ownership transfer is commented.
 */
#include "jit.h"

#include <errno.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "llvm_internal.h"
#include "pass.h"

struct atl_jit_session {
    atl_jit_opts opts;
    char *dump_dir;
    atl_llvm_host host;
    LLVMTargetMachineRef tm; /* ours: the optimiser's and the --emit target machine */
    LLVMOrcLLJITRef jit;     /* ours: LLVMOrcDisposeLLJIT frees all JIT'd code */
    atl_kernel_set kernels;  /* kernel functions compiled so far (deduplication) */
    int n_steps;             /* steps created (entry names are unique) */
    int live;                /* steps not yet freed */
};

struct atl_jit {
    atl_jit_session *s;
    const atl_module *m;
    const atl_func *f;
    atl_params *ps;
    void (*fn)(uint8_t *arena, void *const *slots);
    uint8_t *arena;
    atl_cg_layout layout;
    atl_jit_profile prof; /* profiling builds */
    void **slots;
    int *slot_ref;           /* per slot: parameter index, or INPUT node */
    uint8_t *first;          /* per slot: first-step flag storage (FIRST slots) */
    const void **bound;      /* per node: bound input memory */
    atl_analog *an;          /* the tiles of TILE slots (slot_ref: index), atl_jit_set_analog */
    char entry[64];
    atl_jit_stats stats;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- sessions ------------------------------------------------------------------------------------ */

static int define_host_symbols(atl_jit_session *s, char *err, size_t errlen)
{
    size_t n;
    const atl_jit_symbol *tab = atl_jit_symbols(&n);
    LLVMOrcCSymbolMapPairs pairs = calloc(n, sizeof *pairs);
    if (!pairs)
        abort();
    for (size_t i = 0; i < n; i++) {
        /* the interned name is retained for us; LLVMOrcAbsoluteSymbols takes it over */
        pairs[i].Name = LLVMOrcLLJITMangleAndIntern(s->jit, tab[i].name);
        pairs[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)tab[i].fn;
        pairs[i].Sym.Flags.GenericFlags =
            LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
        pairs[i].Sym.Flags.TargetFlags = 0;
    }
    /* takes ownership of the names; the array itself stays ours */
    LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(pairs, n);
    free(pairs);
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(s->jit);
    LLVMErrorRef e = LLVMOrcJITDylibDefine(jd, mu); /* on success the JITDylib owns mu */
    if (e) {
        LLVMOrcDisposeMaterializationUnit(mu); /* on failure it is still ours */
        return atl_llvm_take_error(e, "JIT: defining the host symbols", err, errlen);
    }
    return 0;
}

atl_jit_session *atl_jit_session_create(const atl_jit_opts *o, char *err, size_t errlen)
{
    atl_jit_session *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    if (o)
        s->opts = *o;
    const char *dump = s->opts.dump_dir ? s->opts.dump_dir : getenv("ATL_DUMP_DIR");
    if (dump && *dump && !(s->dump_dir = strdup(dump)))
        abort();
    if (getenv("ATL_PROFILE"))
        s->opts.profile = true;
    LLVMTargetMachineRef jit_tm = NULL;
    LLVMOrcLLJITBuilderRef builder = NULL;
    if (atl_llvm_host_init(&s->host, err, errlen))
        goto fail;
    if (!(s->tm = atl_llvm_host_tm(&s->host, err, errlen)))
        goto fail;
    /* the JIT's code generator gets its own TM with the same CPU and features (an ORC builder
     * destroys the TM it is given) */
    if (!(jit_tm = atl_llvm_host_tm(&s->host, err, errlen)))
        goto fail;
    builder = LLVMOrcCreateLLJITBuilder();
    /* jit_tm -> owned by the JTMB (destroyed inside); JTMB -> owned by the builder */
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
        builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(jit_tm));
    jit_tm = NULL;
    /* the builder -> owned (and disposed) by LLVMOrcCreateLLJIT, even when it fails */
    LLVMErrorRef e = LLVMOrcCreateLLJIT(&s->jit, builder);
    builder = NULL;
    if (atl_llvm_take_error(e, "JIT: creating the LLJIT", err, errlen)) {
        s->jit = NULL;
        goto fail;
    }
    if (define_host_symbols(s, err, errlen))
        goto fail;
    return s;
fail:
    atl_jit_session_free(s);
    return NULL;
}

void atl_jit_session_free(atl_jit_session *s)
{
    if (!s)
        return;
    if (s->jit) {
        char msg[512];
        /* frees every JIT'd function: steps of this session must be gone */
        if (atl_llvm_take_error(LLVMOrcDisposeLLJIT(s->jit), "JIT: disposing the LLJIT", msg,
                                sizeof msg))
            fprintf(stderr, "atl: %s\n", msg);
    }
    if (s->tm)
        LLVMDisposeTargetMachine(s->tm);
    atl_llvm_host_fini(&s->host);
    atl_kernel_set_free(&s->kernels);
    free(s->dump_dir);
    free(s);
}

/* ---- dumps and emission ---------------------------------------------------------------------------- */

static int write_asm(LLVMTargetMachineRef tm, LLVMModuleRef mod, FILE *out, char *err,
                     size_t errlen)
{
    /* code generation mutates the IR: emit from a clone (ours, disposed below) */
    LLVMModuleRef clone = LLVMCloneModule(mod);
    LLVMMemoryBufferRef buf = NULL;
    char *msg = NULL;
    int rc = 0;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, clone, LLVMAssemblyFile, &msg, &buf)) {
        snprintf(err, errlen, "LLVM: emitting assembly: %s", msg ? msg : "?");
        rc = -1;
    } else {
        fwrite(LLVMGetBufferStart(buf), 1, LLVMGetBufferSize(buf), out);
        LLVMDisposeMemoryBuffer(buf);
    }
    LLVMDisposeMessage(msg);
    LLVMDisposeModule(clone);
    return rc;
}

static void dump_step(atl_jit_session *s, LLVMModuleRef mod, const char *entry)
{
    char path[4096], err[512];
    if (mkdir(s->dump_dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "atl: ATL_DUMP_DIR: cannot create %s\n", s->dump_dir);
        return;
    }
    snprintf(path, sizeof path, "%s/%s.ll", s->dump_dir, entry);
    char *ir = LLVMPrintModuleToString(mod);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(ir, f);
        fclose(f);
    } else {
        fprintf(stderr, "atl: cannot write %s\n", path);
    }
    LLVMDisposeMessage(ir);
    snprintf(path, sizeof path, "%s/%s.s", s->dump_dir, entry);
    if ((f = fopen(path, "w"))) {
        if (write_asm(s->tm, mod, f, err, sizeof err))
            fprintf(stderr, "atl: %s\n", err);
        fclose(f);
    }
}

static const char *entry_base(const atl_module *m)
{
    const atl_func *f = &m->funcs[0];
    for (int i = 0; i < f->n_nodes; i++)
        if (atl_op_get(f->nodes[i].op)->flags & ATL_OPF_EFFECT)
            return "train_step";
    return "eval_step";
}

int atl_llvm_emit_module(const atl_module *m, atl_llvm_emit kind, FILE *out, char *err,
                         size_t errlen)
{
    atl_llvm_host host;
    if (atl_llvm_host_init(&host, err, errlen))
        return -1;
    int rc = -1;
    LLVMTargetMachineRef tm = atl_llvm_host_tm(&host, err, errlen);
    LLVMContextRef ctx = LLVMContextCreate(); /* ours */
    LLVMModuleRef mod = NULL;
    atl_cg_layout layout;
    memset(&layout, 0, sizeof layout);
    if (!tm)
        goto out;
    if (!(mod = atl_codegen(ctx, &host, tm, m, entry_base(m), NULL, false, &layout, err,
                            errlen)))
        goto out;
    if (atl_llvm_optimize(mod, tm, err, errlen))
        goto out;
    if (kind == ATL_EMIT_LLVM_IR) {
        char *ir = LLVMPrintModuleToString(mod);
        fputs(ir, out);
        LLVMDisposeMessage(ir);
        rc = 0;
    } else {
        rc = write_asm(tm, mod, out, err, errlen);
    }
out:
    atl_cg_layout_free(&layout);
    if (mod)
        LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    if (tm)
        LLVMDisposeTargetMachine(tm);
    atl_llvm_host_fini(&host);
    return rc;
}

/* ---- steps ----------------------------------------------------------------------------------------- */

static void report_timing(const atl_jit_session *s, const atl_jit *j)
{
    FILE *t = s->opts.timing ? s->opts.timing : stderr;
    const atl_jit_stats *st = &j->stats;
    double tot = st->total_s > 0 ? st->total_s : 1;
    fprintf(t, "===-------------------------------------------------------------===\n");
    fprintf(t, "                 ... JIT compile timing report (%s) ...\n", j->entry);
    fprintf(t, "===-------------------------------------------------------------===\n");
    fprintf(t, "  Total Execution Time: %.6f seconds\n\n", st->total_s);
    fprintf(t, "   ---Wall Time---  --- Name ---\n");
    fprintf(t, "   %.6f (%5.1f%%)  codegen: LLVM IR of %d kernels, %d kernel calls, %d runtime "
               "calls\n",
            st->build_s, 100 * st->build_s / tot, st->kernels_defined, st->kernel_calls,
            st->host_calls);
    fprintf(t, "   %.6f (%5.1f%%)  default<O3>\n", st->opt_s, 100 * st->opt_s / tot);
    fprintf(t, "   %.6f (%5.1f%%)  machine code + link (ORC LLJIT)\n", st->codegen_s,
            100 * st->codegen_s / tot);
    fprintf(t, "   %.6f (100.0%%)  Total\n", st->total_s);
}

static int resolve_slots(atl_jit *j, char *err, size_t errlen)
{
    int n = j->layout.n_slots;
    j->slots = calloc((size_t)(n ? n : 1), sizeof *j->slots);
    j->slot_ref = calloc((size_t)(n ? n : 1), sizeof *j->slot_ref);
    j->first = calloc((size_t)(n ? n : 1), 1);
    if (!j->slots || !j->slot_ref || !j->first)
        abort();
    for (int i = 0; i < n; i++) {
        const atl_cg_slot *sl = &j->layout.slots[i];
        if (sl->kind == ATL_SLOT_TILE || sl->kind == ATL_SLOT_PROFILE) {
            j->slot_ref[i] = 0; /* tiles: resolved by atl_jit_set_analog */
        } else if (sl->kind == ATL_SLOT_INPUT) {
            j->slot_ref[i] = -1;
            for (int32_t k = 0; k < j->f->n_nodes; k++)
                if (j->f->nodes[k].op == ATL_OP_INPUT &&
                    strcmp(atl_node_attr_str(&j->f->nodes[k], "name"), sl->name) == 0)
                    j->slot_ref[i] = k;
        } else {
            j->slot_ref[i] = atl_params_find(j->ps, sl->name);
        }
        if (j->slot_ref[i] < 0) {
            snprintf(err, errlen, "JIT: %s \"%s\" is missing",
                     sl->kind == ATL_SLOT_INPUT ? "input" : "parameter", sl->name);
            return -1;
        }
    }
    /* like the interpreter: every parameter node must match the store */
    for (int32_t i = 0; i < j->f->n_nodes; i++) {
        const atl_node *nd = &j->f->nodes[i];
        if (nd->op != ATL_OP_PARAM && nd->op != ATL_OP_SGD_UPDATE)
            continue;
        const char *name = atl_node_attr_str(nd, nd->op == ATL_OP_PARAM ? "name" : "param");
        int k = atl_params_find(j->ps, name);
        const atl_type *want = nd->op == ATL_OP_PARAM ? &nd->type : &j->f->nodes[nd->src[0]].type;
        if (k < 0 || !atl_type_equal(&j->ps->types[k], want)) {
            snprintf(err, errlen,
                     "parameter \"%s\" is missing from the store or has another shape", name);
            return -1;
        }
    }
    return 0;
}

atl_jit *atl_jit_create(atl_jit_session *s, const atl_module *m, atl_params *ps, char *err,
                        size_t errlen)
{
    if (m->n_funcs != 1 || m->arena_size <= 0) {
        snprintf(err, errlen, "the module must be expanded and scheduled (schedule pass)");
        return NULL;
    }
    atl_jit *j = calloc(1, sizeof *j);
    if (!j)
        abort();
    j->s = s;
    j->m = m;
    j->f = &m->funcs[0];
    j->ps = ps;
    snprintf(j->entry, sizeof j->entry, s->n_steps ? "%s.%d" : "%s", entry_base(m), s->n_steps);
    s->n_steps++;
    s->live++;
    j->stats.entry = j->entry;
    double t0 = now_s();

    /* a context per module: codegen happens in it, then the JIT owns both */
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext(); /* ours */
    LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);          /* owned by tsc */
    LLVMModuleRef mod = atl_codegen(ctx, &s->host, s->tm, m, j->entry, &s->kernels,
                                    s->opts.profile, &j->layout, err,
                                    errlen); /* ours until wrapped */
    double t1 = now_s();
    if (!mod) {
        LLVMOrcDisposeThreadSafeContext(tsc);
        goto fail;
    }
    if (atl_llvm_optimize(mod, s->tm, err, errlen)) {
        LLVMDisposeModule(mod);
        LLVMOrcDisposeThreadSafeContext(tsc);
        goto fail;
    }
    double t2 = now_s();
    if (s->dump_dir)
        dump_step(s, mod, j->entry);
    double t_dump = now_s() - t2;
    /* mod -> owned by the TSM; our tsc reference can go (the TSM keeps the context alive) */
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
    LLVMOrcDisposeThreadSafeContext(tsc);
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(s->jit);
    LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(s->jit, jd, tsm); /* success: the JIT owns tsm */
    if (e) {
        LLVMOrcDisposeThreadSafeModule(tsm); /* failure: still ours */
        atl_llvm_take_error(e, "JIT: adding the module", err, errlen);
        goto fail;
    }
    for (int i = 0; i < j->layout.new_kernels.n; i++)
        atl_kernel_set_add(&s->kernels, j->layout.new_kernels.names[i],
                           j->layout.new_kernels.sigs[i]);
    LLVMOrcExecutorAddress addr = 0;
    /* the first lookup compiles and links the module */
    if (atl_llvm_take_error(LLVMOrcLLJITLookup(s->jit, &addr, j->entry), "JIT: looking up the step",
                            err, errlen))
        goto fail;
    j->fn = (void (*)(uint8_t *, void *const *))(uintptr_t)addr;
    double t3 = now_s();
    j->stats.build_s = t1 - t0;
    j->stats.opt_s = t2 - t1;
    j->stats.codegen_s = t3 - t2 - t_dump;
    j->stats.total_s = t3 - t0 - t_dump;
    j->stats.kernels_defined = j->layout.new_kernels.n;
    j->stats.kernel_calls = j->layout.n_kernel_calls;
    j->stats.host_calls = j->layout.n_host_calls;
    if (s->opts.time_passes)
        report_timing(s, j);

    if (resolve_slots(j, err, errlen))
        goto fail;
    size_t bytes = ((size_t)m->arena_size + 63) & ~(size_t)63;
    j->arena = aligned_alloc(64, bytes);
    j->bound = calloc((size_t)(j->f->n_nodes ? j->f->n_nodes : 1), sizeof *j->bound);
    if (!j->arena || !j->bound)
        abort();
    memset(j->arena, 0, bytes);
    return j;
fail:
    atl_jit_free(j);
    return NULL;
}

void atl_jit_free(atl_jit *j)
{
    if (!j)
        return;
    /* the code stays in the session (its kernels may serve later steps) */
    j->s->live--;
    atl_cg_layout_free(&j->layout);
    free(j->slots);
    free(j->slot_ref);
    free(j->first);
    free(j->bound);
    free(j->arena);
    free(j);
}

int atl_jit_bind(atl_jit *j, const char *input, const void *data)
{
    int found = -1;
    for (int32_t i = 0; i < j->f->n_nodes; i++) {
        const atl_node *nd = &j->f->nodes[i];
        if (nd->op == ATL_OP_INPUT && strcmp(atl_node_attr_str(nd, "name"), input) == 0) {
            j->bound[i] = data;
            found = 0;
        }
    }
    return found;
}

int atl_jit_run(atl_jit *j, char *err, size_t errlen)
{
    for (int32_t i = 0; i < j->f->n_nodes; i++)
        if (j->f->nodes[i].op == ATL_OP_INPUT && !j->bound[i]) {
            snprintf(err, errlen, "input \"%s\" is not bound",
                     atl_node_attr_str(&j->f->nodes[i], "name"));
            return -1;
        }
    atl_params *ps = j->ps;
    for (int i = 0; i < j->layout.n_slots; i++) {
        int k = j->slot_ref[i];
        switch (j->layout.slots[i].kind) {
        case ATL_SLOT_PARAM:
            j->slots[i] = ps->data[k];
            break;
        case ATL_SLOT_INPUT:
            j->slots[i] = (void *)j->bound[k];
            break;
        case ATL_SLOT_MOMENTUM:
            /* allocated on first use, as the interpreter does (the store owns it) */
            if (!ps->momentum[k]) {
                size_t np = (size_t)atl_type_numel(&ps->types[k]);
                ps->momentum[k] = aligned_alloc(64, (np * 4 + 63) & ~(size_t)63);
                if (!ps->momentum[k])
                    abort();
                memset(ps->momentum[k], 0, np * 4);
            }
            j->slots[i] = ps->momentum[k];
            break;
        case ATL_SLOT_FIRST:
            j->first[i] = !ps->mom_started[k];
            j->slots[i] = &j->first[i];
            break;
        case ATL_SLOT_TILE:
            /* looked up every run: restoring a snapshot or a checkpoint replaces tile objects */
            if (!j->an) {
                snprintf(err, errlen, "analog tile \"%s\" is not attached (atl_jit_set_analog)",
                         j->layout.slots[i].name);
                return -1;
            }
            j->slots[i] = atl_analog_tile(j->an, k);
            break;
        case ATL_SLOT_PROFILE:
            j->slots[i] = &j->prof;
            break;
        }
    }
    j->prof.last = -1;
    j->fn(j->arena, j->slots);
    j->prof.runs++;
    for (int i = 0; i < j->layout.n_slots; i++)
        if (j->layout.slots[i].kind == ATL_SLOT_FIRST)
            ps->mom_started[j->slot_ref[i]] = true;
    return 0;
}

int atl_jit_set_analog(atl_jit *j, atl_analog *a, char *err, size_t errlen)
{
    for (int i = 0; i < j->layout.n_slots; i++) {
        if (j->layout.slots[i].kind != ATL_SLOT_TILE)
            continue;
        int t = atl_analog_find(a, j->layout.slots[i].name);
        if (t < 0) {
            snprintf(err, errlen, "no runtime tile \"%s\"", j->layout.slots[i].name);
            return -1;
        }
        j->slot_ref[i] = t;
    }
    j->an = a;
    return 0;
}

static const void *value_ptr(const atl_jit *j, int32_t i)
{
    int32_t r = atl_node_storage_root(j->f, i);
    const atl_node *nd = &j->f->nodes[r];
    if (nd->op == ATL_OP_PARAM) {
        int k = atl_params_find(j->ps, atl_node_attr_str(nd, "name"));
        return k >= 0 ? j->ps->data[k] : NULL;
    }
    if (nd->op == ATL_OP_INPUT)
        return j->bound[r];
    return nd->arena >= 0 ? j->arena + nd->arena : NULL;
}

const void *atl_jit_output(const atl_jit *j, const char *name, atl_type *type)
{
    for (int k = 0; k < j->f->n_outputs; k++)
        if (j->f->output_names[k] && strcmp(j->f->output_names[k], name) == 0) {
            if (type)
                *type = j->f->nodes[j->f->outputs[k]].type;
            return value_ptr(j, j->f->outputs[k]);
        }
    return NULL;
}

const void *atl_jit_value(const atl_jit *j, int32_t node)
{
    if (node < 0 || node >= j->f->n_nodes)
        return NULL;
    return value_ptr(j, node);
}

void atl_jit_get_stats(const atl_jit *j, atl_jit_stats *st) { *st = j->stats; }

void atl_jit_prof_mark(atl_jit_profile *p, int32_t op)
{
    double t = now_s();
    if (p->last >= 0)
        p->time[p->last] += t - p->t_last;
    p->last = op;
    p->t_last = t;
    if (op >= 0 && op < ATL_OP_COUNT)
        p->calls[op]++;
}

void atl_jit_print_profile(const atl_jit *j, FILE *out)
{
    const atl_jit_profile *p = &j->prof;
    bool compiled = false;
    for (int i = 0; i < j->layout.n_slots; i++)
        compiled |= j->layout.slots[i].kind == ATL_SLOT_PROFILE;
    if (!compiled) {
        fprintf(out, "JIT profile: %s was compiled without profiling (set ATL_PROFILE before "
                     "the session is created)\n",
                j->entry);
        return;
    }
    double total = 0, shown[ATL_OP_COUNT];
    for (int op = 0; op < ATL_OP_COUNT; op++) {
        total += p->time[op];
        shown[op] = 0;
    }
    double runs = (double)(p->runs ? p->runs : 1);
    fprintf(out, "JIT profile (%s): %lld runs, %.3f ms per run\n", j->entry, (long long)p->runs,
            1e3 * total / runs);
    for (;;) {
        int best = -1;
        for (int op = 0; op < ATL_OP_COUNT; op++)
            if (p->calls[op] > 0 && !shown[op] && (best < 0 || p->time[op] > p->time[best]))
                best = op;
        if (best < 0)
            break;
        shown[best] = 1;
        fprintf(out, "  %-20s %8.3f ms/run %5.1f%%  %lld calls/run\n", atl_op_name((atl_op)best),
                1e3 * p->time[best] / runs, total > 0 ? 100.0 * p->time[best] / total : 0.0,
                (long long)((double)p->calls[best] / runs));
    }
}

/* ---- the executor interface ------------------------------------------------------------------------ */

static void *jit_create(void *ctx, const atl_module *m, atl_params *ps, char *err, size_t errlen)
{
    if (!ctx) {
        snprintf(err, errlen, "the JIT backend needs a session");
        return NULL;
    }
    return atl_jit_create(ctx, m, ps, err, errlen);
}
static void jit_destroy(void *e) { atl_jit_free(e); }
static int jit_bind(void *e, const char *input, const void *data)
{
    return atl_jit_bind(e, input, data);
}
static int jit_run(void *e, char *err, size_t errlen) { return atl_jit_run(e, err, errlen); }
static const void *jit_output(const void *e, const char *name, atl_type *type)
{
    return atl_jit_output(e, name, type);
}

static int jit_set_analog(void *e, atl_analog *a, char *err, size_t errlen)
{
    return atl_jit_set_analog(e, a, err, errlen);
}

static void jit_set_profile(void *e, bool on)
{
    (void)e, (void)on; /* decided when the step was compiled (atl_jit_opts.profile) */
}
static void jit_print_profile(const void *e, FILE *out) { atl_jit_print_profile(e, out); }

static const atl_exec_ops jit_ops = {"jit",          jit_create,      jit_destroy,
                                     jit_bind,       jit_run,         jit_output,
                                     jit_set_analog, jit_set_profile, jit_print_profile};

const atl_exec_ops *atl_exec_jit_ops(void) { return &jit_ops; }
