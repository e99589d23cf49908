/* Resolution of the `analog` configuration section into runtime tile configurations (shared by
 * the analog-map, noise and optimizer passes and by the executors). */
#ifndef ATL_ANALOG_CONFIG_H
#define ATL_ANALOG_CONFIG_H

#include "atl/analog.h"
#include "ir.h"

typedef struct atl_analog_rule {
    atl_tile_config cfg; /* sizes, seed and stream left zero */
    int64_t rows, cols;  /* largest tile */
    char device[64];
    char algorithm[32];
} atl_analog_rule;

/* Resolve `layers` rule number `rule` (top-level defaults, then the rule). Returns 0, or -1
 * after reporting located errors to d (d may be NULL). */
int atl_analog_rule_resolve(const atl_module *m, int rule, atl_analog_rule *out, atl_diag *d);
/* analog.transfer_noise (tau), 0 when absent. */
int atl_analog_transfer_noise(const atl_module *m, double *tau, atl_diag *d);
/* IO parameter by reference name (numbers and booleans). */
int atl_io_params_set(atl_io_params *p, const char *name, double v, char *err, size_t errlen);
const char *atl_nm_name(atl_noise_management nm);
const char *atl_bm_name(atl_bound_management bm);
void atl_analog_algo_summary(const atl_tile_config *cfg, char *buf, size_t n);

#endif
