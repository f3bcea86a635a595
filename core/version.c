#include "version.h"
const char *qs_version(void) { return QS_VERSION; }
const char *qs_git_revision(void) { return QS_GIT_REV; }
