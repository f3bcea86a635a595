/* qscope's version and the git revision it was built from (for provenance). */
#ifndef QS_VERSION_H
#define QS_VERSION_H
const char *qs_version(void);
const char *qs_git_revision(void);
#endif
