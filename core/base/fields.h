/* A result row as a list of named, typed values. A producer (an evaluation, a sweep row)
 * fills one list; the writers below and in the front ends turn it into a JSON object
 * (cli.h), a Lua table (lua_qs.h) or HDF5 table columns (restables.c), so a name can never
 * differ between them. */
#ifndef QS_FIELDS_H
#define QS_FIELDS_H

#include <stddef.h>

typedef enum qs_field_kind { QS_FIELD_NUM, QS_FIELD_INT, QS_FIELD_STR } qs_field_kind;

typedef struct qs_field {
    const char *name; /* static storage */
    qs_field_kind kind;
    double num;      /* QS_FIELD_NUM */
    long long i;     /* QS_FIELD_INT */
    const char *str; /* QS_FIELD_STR, borrowed from the row; NULL reads as "" */
    size_t width;    /* QS_FIELD_STR: bytes of its HDF5 column (longer values are cut) */
} qs_field;

#define QS_FNUM(n, v)    ((qs_field){.name = (n), .kind = QS_FIELD_NUM, .num = (double)(v)})
#define QS_FINT(n, v)    ((qs_field){.name = (n), .kind = QS_FIELD_INT, .i = (long long)(v)})
#define QS_FSTR(n, v, w) ((qs_field){.name = (n), .kind = QS_FIELD_STR, .str = (v), .width = (w)})

#endif
