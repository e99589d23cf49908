#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool cli_out_open(cli_out *o, const char *path, atl_diag *d)
{
    memset(o, 0, sizeof *o);
    if (!path || strcmp(path, "-") == 0) {
        o->f = stdout;
        o->is_stdout = true;
        return true;
    }
    o->path = strdup(path);
    size_t n = strlen(path) + 32;
    o->tmp = malloc(n);
    if (!o->path || !o->tmp)
        abort();
    snprintf(o->tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        atl_diag_error(d, ATL_NO_SPAN, "cannot write '%s': %s", path, strerror(errno));
        free(o->path);
        free(o->tmp);
        o->path = o->tmp = NULL;
        return false;
    }
    fchmod(fd, 0644); /* mkstemp makes 0600; outputs are ordinary files */
    o->f = fdopen(fd, "w");
    if (!o->f) {
        close(fd);
        unlink(o->tmp);
        atl_diag_error(d, ATL_NO_SPAN, "cannot write '%s': %s", path, strerror(errno));
        free(o->path);
        free(o->tmp);
        o->path = o->tmp = NULL;
        return false;
    }
    return true;
}

bool cli_out_commit(cli_out *o, atl_diag *d)
{
    if (o->is_stdout) {
        bool ok = fflush(stdout) == 0 && !ferror(stdout);
        if (!ok)
            atl_diag_error(d, ATL_NO_SPAN, "error writing to standard output");
        return ok;
    }
    bool ok = fflush(o->f) == 0 && !ferror(o->f);
    ok = (fclose(o->f) == 0) && ok;
    o->f = NULL;
    if (ok && rename(o->tmp, o->path) != 0)
        ok = false;
    if (!ok) {
        atl_diag_error(d, ATL_NO_SPAN, "cannot write '%s': %s", o->path, strerror(errno));
        unlink(o->tmp);
    }
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
    return ok;
}

void cli_out_abort(cli_out *o)
{
    if (o->is_stdout)
        return;
    if (o->f)
        fclose(o->f);
    if (o->tmp)
        unlink(o->tmp);
    free(o->path);
    free(o->tmp);
    o->f = NULL;
    o->path = o->tmp = NULL;
}
