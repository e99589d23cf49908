/* atlc device list | show | response: the analog device presets, their parameters and their
 * pulse-response curves (what the reference toolkit's plot_device shows its users). */
#include <stdlib.h>
#include <string.h>

#include "atl/analog.h"
#include "cli.h"

static const char *device_help =
    "usage: atlc device list\n"
    "       atlc device show PRESET [--set NAME=VALUE]...\n"
    "       atlc device response PRESET [--set NAME=VALUE]... [--devices N] [--up N]\n"
    "                            [--down N] [--seed S] [-o FILE.csv] [--svg FILE.svg]\n"
    "\n"
    "list      the presets with their device model and number of states\n"
    "show      every parameter of a preset (after --set overrides)\n"
    "response  N devices (device-to-device variation drawn as in a tile) start at w = 0 and get\n"
    "          --up up pulses then --down down pulses (default 400 / 400, 100 devices); per\n"
    "          pulse the mean, std, min, max of the apparent weight (with cycle-to-cycle and\n"
    "          write noise) and of the noise-free weight, as CSV with a header row (stdout or\n"
    "          -o), and a plot with --svg\n";

static int load_device(const char *name, const char **sets, int n_sets, atl_dev_params *p)
{
    char err[512];
    if (atl_dev_preset(name, p, err, sizeof err)) {
        fprintf(stderr, "atlc: error: %s\n", err);
        return ATL_EXIT_USER;
    }
    for (int i = 0; i < n_sets; i++)
        if (atl_dev_params_set_kv(p, sets[i], err, sizeof err)) {
            fprintf(stderr, "atlc: error: --set %s: %s\n", sets[i], err);
            return ATL_EXIT_USER;
        }
    if (atl_dev_params_validate(p, err, sizeof err)) {
        fprintf(stderr, "atlc: error: %s: %s\n", name, err);
        return ATL_EXIT_USER;
    }
    return 0;
}

static void show_cb(const char *name, double value, int is_bool, void *ud)
{
    (void)ud;
    if (is_bool)
        printf("  %-28s %s\n", name, value != 0 ? "true" : "false");
    else
        printf("  %-28s %.7g\n", name, value);
}

int cmd_device(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(device_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? ATL_EXIT_USAGE : ATL_EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "list") == 0) {
        if (argc > 2) {
            cli_usage_error("device", "list takes no arguments");
            return ATL_EXIT_USAGE;
        }
        printf("%-14s %-22s %9s  %s\n", "preset", "model", "states", "description");
        for (int i = 0; i < atl_dev_preset_count(); i++) {
            atl_dev_params p;
            const char *name = atl_dev_preset_name(i);
            if (atl_dev_preset(name, &p, NULL, 0))
                continue;
            printf("%-14s %-22s %9.1f  %s\n", name, atl_dev_type_name(p.type),
                   atl_dev_n_states(&p), atl_dev_preset_description(i));
        }
        return ATL_EXIT_OK;
    }
    if (strcmp(sub, "show") != 0 && strcmp(sub, "response") != 0) {
        cli_usage_error("device", "unknown subcommand '%s' (list, show, response)", sub);
        return ATL_EXIT_USAGE;
    }
    bool response = strcmp(sub, "response") == 0;
    cli_args a;
    cli_args_init(&a, argc - 1, argv + 1, "device");
    const char *preset = NULL, *out = NULL, *svg = NULL;
    const char *sets[128];
    int n_sets = 0;
    long long devices = 100, up = 400, down = 400, seed = 1;
    while (cli_next(&a)) {
        if (cli_is(&a, "--set")) {
            if (cli_push(&a, sets, &n_sets, 128) < 0)
                return ATL_EXIT_USAGE;
        } else if (response && cli_is(&a, "--devices")) {
            if (!cli_int(&a, 1, 1000000, &devices))
                return ATL_EXIT_USAGE;
        } else if (response && cli_is(&a, "--up")) {
            if (!cli_int(&a, 0, 10000000, &up))
                return ATL_EXIT_USAGE;
        } else if (response && cli_is(&a, "--down")) {
            if (!cli_int(&a, 0, 10000000, &down))
                return ATL_EXIT_USAGE;
        } else if (response && cli_is(&a, "--seed")) {
            if (!cli_int(&a, 0, INT64_MAX, &seed))
                return ATL_EXIT_USAGE;
        } else if (response && (cli_is(&a, "-o") || cli_is(&a, "--output"))) {
            if (!(out = cli_value(&a)))
                return ATL_EXIT_USAGE;
        } else if (response && cli_is(&a, "--svg")) {
            if (!(svg = cli_value(&a)))
                return ATL_EXIT_USAGE;
        } else if (cli_positional(&a) && !preset) {
            preset = a.cur;
        } else {
            return cli_unknown(&a);
        }
    }
    if (a.error)
        return ATL_EXIT_USAGE;
    if (!preset) {
        cli_usage_error("device", "%s needs a preset name (see 'atlc device list')", sub);
        return ATL_EXIT_USAGE;
    }
    atl_dev_params p;
    int rc = load_device(preset, sets, n_sets, &p);
    if (rc)
        return rc;
    if (!response) {
        printf("%s: %s, %.1f states (granularity %.6g)\n", preset, atl_dev_type_name(p.type),
               atl_dev_n_states(&p), atl_dev_granularity(&p));
        atl_dev_params_foreach(&p, show_cb, NULL);
        return ATL_EXIT_OK;
    }
    if (up + down == 0) {
        cli_usage_error("device", "response needs --up or --down > 0");
        return ATL_EXIT_USAGE;
    }
    char err[512];
    atl_dev_response r;
    if (atl_dev_response_compute(&p, (int)devices, (int)up, (int)down, (uint64_t)seed, &r, err,
                                 sizeof err)) {
        fprintf(stderr, "atlc: error: %s\n", err);
        return ATL_EXIT_USER;
    }
    atl_diag d;
    atl_diag_init(&d, stderr);
    cli_out o;
    rc = ATL_EXIT_OK;
    if (!cli_out_open(&o, out, &d) ||
        (atl_dev_response_write_csv(&r, o.f) ? (cli_out_abort(&o), 1) : !cli_out_commit(&o, &d)))
        rc = ATL_EXIT_USER;
    if (rc == ATL_EXIT_OK && svg) {
        char title[256];
        snprintf(title, sizeof title, "%s: %lld devices, %lld up / %lld down pulses", preset,
                 devices, up, down);
        if (!cli_out_open(&o, svg, &d) ||
            (atl_dev_response_write_svg(&r, title, o.f) ? (cli_out_abort(&o), 1)
                                                        : !cli_out_commit(&o, &d)))
            rc = ATL_EXIT_USER;
    }
    atl_dev_response_free(&r);
    atl_diag_fini(&d);
    return rc;
}
