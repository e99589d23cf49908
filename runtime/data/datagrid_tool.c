/* atl-datagrid: write a PPM grid of samples of a data set (one row per class) so a human can look
 * at it, and print the classes, their counts and the raw channel statistics.
 *
 *   atl-datagrid SPEC OUT.ppm [--test] [--per-class K] [--zoom Z] [--threads T]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atl/data.h"

static int usage(void)
{
    fprintf(stderr, "usage: atl-datagrid SPEC OUT.ppm [--test] [--per-class K] [--zoom Z] "
                    "[--threads T]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    const char *spec = argv[1], *out = argv[2];
    atl_split split = ATL_SPLIT_TRAIN;
    int per_class = 10, zoom = 3, threads = 1;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--test") == 0)
            split = ATL_SPLIT_TEST;
        else if (strcmp(argv[i], "--per-class") == 0 && i + 1 < argc)
            per_class = atoi(argv[++i]);
        else if (strcmp(argv[i], "--zoom") == 0 && i + 1 < argc)
            zoom = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else
            return usage();
    }
    char err[512];
    atl_dataset *ds;
    if (atl_dataset_open(spec, split, threads, &ds, err, sizeof err) != 0) {
        fprintf(stderr, "atl-datagrid: %s\n", err);
        return 1;
    }
    int64_t *counts = calloc((size_t)ds->num_classes, sizeof *counts);
    if (counts) {
        atl_dataset_class_counts(ds, counts);
        for (int k = 0; k < ds->num_classes; k++)
            printf("label %d (source class %d): %lld images  %s\n", k, (int)ds->class_ids[k],
                   (long long)counts[k],
                   ds->class_names && ds->class_names[k] ? ds->class_names[k] : "");
        free(counts);
    }
    float mean[ATL_DATA_MAX_CHANNELS], std[ATL_DATA_MAX_CHANNELS];
    atl_dataset_raw_stats(ds, mean, std);
    printf("%lld images %dx%dx%d; raw mean", (long long)ds->n, ds->c, ds->h, ds->w);
    for (int c = 0; c < ds->c; c++)
        printf(" %.4f", (double)mean[c]);
    printf(" std");
    for (int c = 0; c < ds->c; c++)
        printf(" %.4f", (double)std[c]);
    printf("\n");
    int rc = atl_dataset_write_grid_ppm(ds, out, per_class, zoom, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "atl-datagrid: %s\n", err);
    atl_dataset_free(ds);
    return rc == 0 ? 0 : 1;
}
