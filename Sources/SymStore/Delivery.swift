import Foundation
import SymModel

/// Where one reporting destination stands: its cursor (the last seq it acknowledged) and its last failure.
public struct DeliveryRecord: Sendable, Equatable {
    public var destination: String
    public var seq: Int64
    public var attempts: Int
    public var lastError: String?
    public var lastAttemptAt: Date?
    public var deliveredAt: Date?

    public init(destination: String, seq: Int64 = 0, attempts: Int = 0, lastError: String? = nil,
                lastAttemptAt: Date? = nil, deliveredAt: Date? = nil) {
        self.destination = destination; self.seq = seq; self.attempts = attempts; self.lastError = lastError
        self.lastAttemptAt = lastAttemptAt; self.deliveredAt = deliveredAt
    }
}

extension Store {
    /// The delivery record of `destination` (a fresh one at seq 0 when it never delivered).
    public func delivery(_ destination: String) throws -> DeliveryRecord {
        var out = DeliveryRecord(destination: destination)
        try db.query("SELECT seq, attempts, last_error, last_attempt_at, delivered_at FROM delivery WHERE destination = ?",
                     [.text(destination)]) { s in
            let c = s.columns
            out = DeliveryRecord(destination: destination, seq: s.int(try c("seq")), attempts: Int(s.int(try c("attempts"))),
                                 lastError: s.optText(try c("last_error")), lastAttemptAt: Store.date(s.optInt(try c("last_attempt_at"))),
                                 deliveredAt: Store.date(s.optInt(try c("delivered_at"))))
        }
        return out
    }

    /// The time of the event at `seq`, if the store has it.
    public func eventTime(seq: Int64) throws -> Date? {
        try db.scalarInt("SELECT time FROM events WHERE seq = ?", [.int(seq)]).map(Store.date)
    }
}

extension StoreTransaction {
    /// Moves `destination`'s cursor to `seq` after a successful delivery and clears its failure.
    public func recordDelivered(_ destination: String, through seq: Int64, at time: Date) throws {
        try begin()
        try db.run("""
            INSERT INTO delivery(destination, seq, attempts, last_error, last_attempt_at, delivered_at) VALUES(?, ?, 0, NULL, ?, ?)
            ON CONFLICT(destination) DO UPDATE SET seq = max(seq, excluded.seq), attempts = 0, last_error = NULL,
              last_attempt_at = excluded.last_attempt_at, delivered_at = excluded.delivered_at
            """, [.text(destination), .int(seq), .int(Store.millis(time)), .int(Store.millis(time))])
    }

    /// Records a failed attempt; the cursor does not move.
    public func recordDeliveryFailure(_ destination: String, error: String, at time: Date) throws {
        try begin()
        try db.run("""
            INSERT INTO delivery(destination, seq, attempts, last_error, last_attempt_at) VALUES(?, 0, 1, ?, ?)
            ON CONFLICT(destination) DO UPDATE SET attempts = attempts + 1, last_error = excluded.last_error,
              last_attempt_at = excluded.last_attempt_at
            """, [.text(destination), .text(error), .int(Store.millis(time))])
    }
}
