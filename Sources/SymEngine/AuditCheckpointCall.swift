import Foundation
import SymModel
import SymProtocol
import SymStore

/// The daemon's side of `{"event":"audit_checkpoint","seq":N,"hash":H}`: `symtui audit verify` checked the chain through
/// seq N and asks the daemon, the only process that writes the store, to record that (docs/audit.md, "Checkpoints").
enum AuditCheckpointCall {
    /// Root, the daemon's own user and members of `store_group`: those who may read the store file and so verify it
    /// themselves (the same callers as a backup).
    /// A daemon that signs its events records a checkpoint only after a verify that checked their signatures too
    /// (`audit verify --key`): a later keyed verify skips the prefix, signatures included.
    static func record(seq: Int64, hash: String, hmacsChecked: Bool, caller: Identity, engine: Engine) throws -> [(String, JSONValue?)] {
        let config = engine.config
        guard StoreBackup.mayBackUp(caller, config: config) else {
            throw CommandError(ExitCode.noPerm, "only root" + (config.storeGroup.map { " and members of store_group \($0)" } ?? "")
                               + " may record an audit checkpoint (those who can read the store file to verify it)")
        }
        let now = engine.now()
        do {
            let checkpoint = try engine.store.write { tx -> AuditCheckpoint in
                guard let writer = tx as? any AuditCheckpointWriting else {
                    throw CommandError(ExitCode.unavailable, "this store's backend keeps no audit checkpoint; every verify checks the whole chain")
                }
                return try writer.recordAuditCheckpoint(seq: seq, hash: hash, hmacsChecked: hmacsChecked, at: now)
            }
            return [("checkpoint", checkpoint.json)]
        } catch let refusal as AuditCheckpointRefusal {
            throw CommandError(ExitCode.dataErr, "no checkpoint recorded: \(refusal.message)")
        }
    }
}
