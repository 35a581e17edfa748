// libpq, the PostgreSQL client library (Debian: libpq-dev). Debian installs the header under
// /usr/include/postgresql, which is not on the default include path, and pkg-config's flags are not
// accepted by SwiftPM for a system library: the header is named by its full path instead.
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include "/usr/include/postgresql/libpq-fe.h"
#endif
