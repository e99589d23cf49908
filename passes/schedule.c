/* `schedule`: plan one arena for all intermediate values of the model function.
 *
 * The node order is already topological (operands come first) and parameter updates come last
 * (the optimizer appends them), so the schedule is the node order. What this pass decides is
 * memory: every value that needs storage gets a byte offset into one arena, with buffers reused
 * once their last reader has run. Inputs and parameters live outside the arena; a reshape is a
 * view of its operand (same storage, which therefore stays alive as long as the view is used).
 * Outputs stay alive to the end of the step. Offsets are 64-byte aligned.
 *
 * The plan is visible in dumps (`arena=OFFSET` on each node, `arena=SIZE` on the module) and
 * round-trips through the IR text, so the interpreter and the JIT execute exactly what a test
 * or a user inspected.
 */
#include "pass.h"

#include <stdlib.h>
#include <string.h>

bool atl_node_in_arena(const atl_node *n)
{
    return n->op != ATL_OP_INPUT && n->op != ATL_OP_PARAM && n->op != ATL_OP_RESHAPE;
}

/* The node whose storage node i uses (follows reshape views). */
int32_t atl_node_storage_root(const atl_func *f, int32_t i)
{
    while (f->nodes[i].op == ATL_OP_RESHAPE)
        i = f->nodes[i].src[0];
    return i;
}

typedef struct block {
    int64_t off, size;
} block;

static int64_t align64(int64_t x) { return (x + 63) & ~(int64_t)63; }

static int64_t node_bytes(const atl_node *n)
{
    int64_t b = atl_type_numel(&n->type) * 4; /* f32 and i32 */
    return align64(b > 0 ? b : 4);
}

int atl_pass_schedule(atl_module *m, atl_pass_ctx *ctx)
{
    if (m->n_funcs != 1) {
        atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, ATL_NO_LOC,
                      "schedule needs an expanded module (run the expand pass first)");
        return 1;
    }
    atl_func *f = &m->funcs[0];
    int n = f->n_nodes;
    int32_t *last = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    block *live = malloc(sizeof(block) * (size_t)(n ? n : 1)); /* sorted by offset */
    int32_t *live_owner = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    if (!last || !live || !live_owner)
        abort();
    for (int i = 0; i < n; i++)
        last[i] = i; /* a value nobody reads is freed right after it is written */
    for (int i = 0; i < n; i++)
        for (int s = 0; s < f->nodes[i].n_src; s++) {
            int32_t r = atl_node_storage_root(f, f->nodes[i].src[s]);
            if (last[r] < i)
                last[r] = i;
        }
    for (int k = 0; k < f->n_outputs; k++)
        last[atl_node_storage_root(f, f->outputs[k])] = n; /* never freed */
    int n_live = 0;
    int64_t top = 0;
    for (int i = 0; i < n; i++) {
        atl_node *nd = &f->nodes[i];
        nd->arena = -1;
        if (atl_node_in_arena(nd)) {
            /* first fit over the gaps between live blocks */
            int64_t size = node_bytes(nd), off = 0;
            int pos = 0;
            for (; pos < n_live; pos++) {
                if (live[pos].off - off >= size)
                    break;
                off = live[pos].off + live[pos].size;
            }
            memmove(&live[pos + 1], &live[pos], sizeof(block) * (size_t)(n_live - pos));
            memmove(&live_owner[pos + 1], &live_owner[pos], sizeof(int32_t) * (size_t)(n_live - pos));
            live[pos] = (block){off, size};
            live_owner[pos] = i;
            n_live++;
            nd->arena = off;
            if (off + size > top)
                top = off + size;
        }
        /* release every buffer whose last reader is node i */
        int k = 0;
        for (int j = 0; j < n_live; j++) {
            if (last[live_owner[j]] == i)
                continue;
            live[k] = live[j];
            live_owner[k++] = live_owner[j];
        }
        n_live = k;
    }
    m->arena_size = top > 0 ? top : 64;
    free(last);
    free(live);
    free(live_owner);
    return 0;
}
