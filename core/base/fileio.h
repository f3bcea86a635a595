/* Reading model and text files safely: every failure names the file and the reason. */
#ifndef QS_FILEIO_H
#define QS_FILEIO_H

#include <stddef.h>

/* Maps a regular file read-only: a model's weights are read from it in place and never
 * written through it (an edit makes a copy first). Refuses missing files, directories and
 * empty files. On success *map and *size describe the mapping; release with munmap. */
int qs_file_map(const char *path, void **map, size_t *size);

/* Reads a whole regular file into a malloc'd buffer with a NUL byte appended (not counted
 * in *size). max_size bounds what it will read (0 = no bound). */
int qs_file_read(const char *path, size_t max_size, char **data, size_t *size);

/* 1 if path is a directory, 0 otherwise. */
int qs_path_is_dir(const char *path);

#endif
