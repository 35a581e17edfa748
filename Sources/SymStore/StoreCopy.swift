import Foundation
import SymModel

extension Store {
    /// Writes a consistent copy of the whole store into `path`, which must not exist or be empty (`VACUUM INTO`: one
    /// read transaction, so the copy is the store as of one commit, taken while the writer goes on). The copy is a
    /// plain rollback-journal file: a restore needs no `-wal` beside it.
    public func copy(into path: String) throws {
        try db.run("VACUUM INTO ?", [.text(path)])
    }
}
