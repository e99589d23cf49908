/* The interpreter behind the executor interface (exec.h). */
#include "exec.h"

static void *interp_create(void *ctx, const atl_module *m, atl_params *ps, char *err,
                           size_t errlen)
{
    (void)ctx;
    return atl_interp_create(m, ps, err, errlen);
}
static void interp_destroy(void *e) { atl_interp_free(e); }
static int interp_bind(void *e, const char *input, const void *data)
{
    return atl_interp_bind(e, input, data);
}
static int interp_run(void *e, char *err, size_t errlen) { return atl_interp_run(e, err, errlen); }
static const void *interp_output(const void *e, const char *name, atl_type *type)
{
    return atl_interp_output(e, name, type);
}

static int interp_set_analog(void *e, atl_analog *a, char *err, size_t errlen)
{
    return atl_interp_set_analog(e, a, err, errlen);
}

static void interp_set_profile(void *e, bool on) { atl_interp_set_profile(e, on); }
static void interp_print_profile(const void *e, FILE *out) { atl_interp_print_profile(e, out); }

static const atl_exec_ops interp_ops = {"interp",          interp_create,     interp_destroy,
                                        interp_bind,       interp_run,        interp_output,
                                        interp_set_analog, interp_set_profile, interp_print_profile};

const atl_exec_ops *atl_exec_interp_ops(void) { return &interp_ops; }
