#include "pass.h"

#include <stdlib.h>

void atl_func_rebuild(atl_module *m, atl_func *f, const int32_t *repl)
{
    (void)m;
    int32_t *newidx = malloc(sizeof(int32_t) * (size_t)(f->n_nodes ? f->n_nodes : 1));
    if (!newidx)
        abort();
    int32_t k = 0;
    for (int32_t i = 0; i < f->n_nodes; i++) {
        if (repl[i] == i) {
            atl_node n = f->nodes[i];
            for (int s = 0; s < n.n_src; s++)
                n.src[s] = newidx[n.src[s]];
            newidx[i] = k;
            f->nodes[k++] = n;
        } else if (repl[i] >= 0) {
            newidx[i] = newidx[repl[i]];
        } else {
            newidx[i] = -1;
        }
    }
    f->n_nodes = k;
    for (int i = 0; i < f->n_outputs; i++)
        f->outputs[i] = newidx[f->outputs[i]];
    free(newidx);
}
