#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro casting -1 to a function pointer; Swift cannot import it.
static inline sqlite3_destructor_type csqlite_transient(void) { return SQLITE_TRANSIENT; }
// sqlite3_file_control with an int* argument (SQLITE_FCNTL_PERSIST_WAL).
static inline int csqlite_persist_wal(sqlite3 *db, int on) {
    return sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &on);
}
// sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, bytes): how large a statement journal (a SAVEPOINT's undo pages)
// grows in memory, in one allocation of that size, before it spills to a temporary file. Only before the library
// initialises (the first open); SQLITE_MISUSE after.
static inline int csqlite_statement_journal_spill(int bytes) {
    return sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, bytes);
}
