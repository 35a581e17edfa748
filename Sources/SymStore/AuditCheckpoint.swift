import Foundation
import SymModel

/// The verified prefix of the audit chain (docs/audit.md, "Checkpoints"): after `symtui audit verify` checked every
/// event from seq 1 (or from the previous checkpoint) to `seq`, the daemon records that seq, the hash stored at it
/// and when, signed with its audit key when one is configured. The next verify checks the checkpoint (signature,
/// and that the row at `seq` still has `hash`) and then only the events after it.
///
/// Kept in the store's `meta` table under one key, so that only the newest checkpoint exists; written only by the
/// daemon (the one process that writes the store), read by whoever may read the store file.
public struct AuditCheckpoint: Sendable, Equatable {
    public var seq: Int64
    public var hash: String
    /// When it was recorded (milliseconds since 1970, like every time in the store).
    public var timeMs: Int64
    /// HMAC-SHA256 (hex) of `signedText` with the daemon's audit key; nil when the daemon has no key.
    public var hmac: String?

    public init(seq: Int64, hash: String, timeMs: Int64, hmac: String? = nil) {
        self.seq = seq; self.hash = hash; self.timeMs = timeMs; self.hmac = hmac
    }

    /// The `meta` key it is stored under.
    public static let metaKey = "audit_checkpoint"

    /// What the signature covers: every field but the signature, with a prefix no event hash can be confused with.
    public var signedText: String { "symtui audit checkpoint v1\n\(seq)\n\(hash)\n\(timeMs)" }

    /// This checkpoint signed with `key`.
    public func signed(with key: HMACSHA256?) -> AuditCheckpoint {
        var c = self
        c.hmac = key?.hex(signedText)
        return c
    }

    /// Whether `hmac` is the signature of this checkpoint under `key`.
    public func signatureMatches(_ key: HMACSHA256) -> Bool {
        guard let hmac else { return false }
        return constantTimeEqual(Array(hmac.utf8), Array(key.hex(signedText).utf8))
    }

    public var time: Date { Date(timeIntervalSince1970: Double(timeMs) / 1000) }

    /// The stored form: `{"seq":…,"hash":"…","time_ms":…,"hmac":"…"}`.
    public var json: JSONValue {
        .obj([("seq", .int(seq)), ("hash", .string(hash)), ("time_ms", .int(timeMs)), ("hmac", hmac.map(JSONValue.string) ?? .null)])
    }

    /// Parses the stored form; nil when it is not one (a damaged or hand-written value).
    public static func parse(_ text: String) -> AuditCheckpoint? {
        guard let v = try? JSONValue.parse(text), let seq = v["seq"]?.intValue, seq >= 1, let hash = v["hash"]?.stringValue,
              isHash(hash), let time = v["time_ms"]?.intValue else { return nil }
        let hmac: String?
        switch v["hmac"] {
        case nil, .some(.null): hmac = nil
        case let .some(h):
            guard let s = h.stringValue, isHash(s) else { return nil }
            hmac = s
        }
        return AuditCheckpoint(seq: seq, hash: hash, timeMs: time, hmac: hmac)
    }

    /// 64 lowercase hex digits (a SHA-256 as the chain writes it).
    public static func isHash(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

/// What is stored under the checkpoint key: nothing, a checkpoint, or a value that is not one (reported, never used).
public enum StoredCheckpoint: Sendable, Equatable {
    case none
    case checkpoint(AuditCheckpoint)
    case unreadable(String)
}

extension Store {
    /// The stored checkpoint of the verified prefix, if any.
    public func auditCheckpoint() throws -> StoredCheckpoint {
        var text: String?
        try db.query("SELECT value FROM meta WHERE key = ?", [.text(AuditCheckpoint.metaKey)]) { text = $0.text(0) }
        guard let text else { return .none }
        guard let c = AuditCheckpoint.parse(text) else { return .unreadable(text) }
        return .checkpoint(c)
    }
}

/// A transaction that can record the checkpoint (the SQLite store; a backend without it refuses the call).
public protocol AuditCheckpointWriting {
    /// Records that the chain through `seq` was verified and that the row at `seq` has `hash`, signed with the
    /// store's signer when it has one. Refuses a `seq` that is not in the store, a `hash` that is not the row's,
    /// a checkpoint behind the stored one, and, when the store signs its events, a verify that did not check their
    /// signatures (`hmacsChecked`): a later keyed verify skips the prefix, signatures included.
    func recordAuditCheckpoint(seq: Int64, hash: String, hmacsChecked: Bool, at time: Date) throws -> AuditCheckpoint
}

/// Why a checkpoint was not recorded.
public struct AuditCheckpointRefusal: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension StoreTransaction: AuditCheckpointWriting {
    public func recordAuditCheckpoint(seq: Int64, hash: String, hmacsChecked: Bool, at time: Date) throws -> AuditCheckpoint {
        if store.signer != nil && !hmacsChecked {
            throw AuditCheckpointRefusal("this daemon signs its events, so a checkpoint needs a verify that checked their signatures "
                                         + "(audit verify --key)")
        }
        guard let row = try store.event(seq: seq) else {
            throw AuditCheckpointRefusal("seq \(seq) is not in the store (head \(try store.lastSeq()))")
        }
        guard row.hash == hash else {
            throw AuditCheckpointRefusal("seq \(seq) has hash \(AuditVerifier.short(row.hash)) in the store, not \(AuditVerifier.short(hash))")
        }
        if case let .checkpoint(old) = try store.auditCheckpoint(), old.seq > seq {
            throw AuditCheckpointRefusal("the stored checkpoint is at seq \(old.seq), past \(seq)")
        }
        let checkpoint = AuditCheckpoint(seq: seq, hash: hash, timeMs: Store.millis(time)).signed(with: store.signer)
        try begin()
        try db.run("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                   [.text(AuditCheckpoint.metaKey), .text(checkpoint.json.compact)])
        return checkpoint
    }
}

/// Where a verification of a store file may start, given its stored checkpoint.
public enum CheckpointStart: Sendable, Equatable {
    /// From seq 1: no checkpoint, or one that cannot be checked here (`note` says why).
    case full(note: String?)
    /// After this checkpoint: its signature (if the verifier has the key) and the row at its seq check out.
    case after(AuditCheckpoint)
    /// The checkpoint or the row it names was tampered with: reported, nothing verified.
    case problem(AuditProblem)
}

extension AuditVerifier {
    /// Checks the stored checkpoint of `store` before a verification starts from it. With `key` (the daemon's audit
    /// key) the checkpoint must be signed with it; without one, a signed checkpoint cannot be checked and is not used
    /// (a full verification instead), an unsigned one is used (a store without a key has no signatures to forge).
    public static func checkpointStart(store: Store, key: HMACSHA256?) throws -> CheckpointStart {
        let c: AuditCheckpoint
        switch try store.auditCheckpoint() {
        case .none: return .full(note: nil)
        case let .unreadable(text):
            return .problem(AuditProblem(seq: 0, kind: .badCheckpoint,
                                         detail: "the stored checkpoint is not one (\(SafeText.display(String(text.prefix(80))))); `--full` verifies everything"))
        case let .checkpoint(found): c = found
        }
        let recorded = "recorded \(Timestamp.format(c.time))"
        if let key {
            guard c.hmac != nil else {
                return .problem(AuditProblem(seq: c.seq, kind: .badCheckpoint, detail: "the checkpoint (\(recorded)) is unsigned, but a key was "
                                             + "given: forged, or made before the daemon had its key (then verify with --full)"))
            }
            guard c.signatureMatches(key) else {
                return .problem(AuditProblem(seq: c.seq, kind: .badCheckpoint,
                                             detail: "the checkpoint's hmac does not match the key (\(recorded)): forged, or signed with another key"))
            }
        } else if c.hmac != nil {
            return .full(note: "the checkpoint at seq \(c.seq) is signed and no key was given to check it (--key); verified from seq 1")
        }
        let head = try store.lastSeq()
        guard let row = try store.event(seq: c.seq) else {
            return .problem(AuditProblem(seq: c.seq, kind: .missing,
                                         detail: "the checkpoint (\(recorded)) names seq \(c.seq), but the store ends at seq \(head): cut short"))
        }
        guard row.hash == c.hash else {
            return .problem(AuditProblem(seq: c.seq, kind: .differs,
                                         detail: "hash \(short(row.hash)) in the store, \(short(c.hash)) in the checkpoint \(recorded): changed after it was verified"))
        }
        return .after(c)
    }
}
