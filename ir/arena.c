#include "ir.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct atl_arena_chunk {
    atl_arena_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void atl_arena_init(atl_arena *a)
{
    a->head = NULL;
    a->used_total = 0;
}

void atl_arena_free(atl_arena *a)
{
    atl_arena_chunk *c = a->head;
    while (c) {
        atl_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->used_total = 0;
}

void *atl_arena_alloc(atl_arena *a, size_t size)
{
    size = (size + 15u) & ~(size_t)15u;
    if (size == 0)
        size = 16;
    atl_arena_chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        c = malloc(sizeof *c + cap);
        if (!c) {
            fputs("atlc: out of memory\n", stderr);
            abort();
        }
        c->size = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    a->used_total += size;
    memset(p, 0, size);
    return p;
}

char *atl_arena_strndup(atl_arena *a, const char *s, size_t n)
{
    char *p = atl_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *atl_arena_strdup(atl_arena *a, const char *s)
{
    return s ? atl_arena_strndup(a, s, strlen(s)) : NULL;
}

void *atl_arena_memdup(atl_arena *a, const void *p, size_t size)
{
    void *q = atl_arena_alloc(a, size);
    if (size)
        memcpy(q, p, size);
    return q;
}

char *atl_arena_printf(atl_arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = atl_arena_alloc(a, (size_t)(n < 0 ? 0 : n) + 1);
    if (n > 0)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}
