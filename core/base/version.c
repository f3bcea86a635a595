#include "version.h"

#include "git_rev.h" /* generated at build time: cmake/git_rev.cmake */

const char *qs_version(void) { return QS_VERSION; }
const char *qs_git_revision(void) { return QS_GIT_REV; }
