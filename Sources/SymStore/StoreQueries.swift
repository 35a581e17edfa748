import Foundation
import SymModel

/// The reads of the daemon's read API beyond `StoreReading`: shaped lists, review queues brought up to date, audit
/// pages by filter, metrics and the activity report. Both backends answer them alike: the SQLite `Store` (a
/// read-only WAL connection of the daemon's pool) and a PostgreSQL reader's own connection
/// (`PostgresStore.openQueries()`). The daemon's `ReadService` asks only through this protocol.
public protocol StoreQueries: StoreReading {
    /// Review candidates (see `StoreReading.reviewCandidates`), among the requests `only` alone when given.
    func reviewCandidates(user: String, groups: [String], flows: [String], selfFlows: [String],
                          eligibleFlows: [String], stepFlows: [String], only: [Int64]?) throws -> [ReviewCandidate]
    /// A page of the requests `q` selects, shaped by `q.shape`, with the shaped total (`ShapedLists`).
    func shapedRequests(_ q: RequestQuery) throws -> (rows: [AccessRequest], total: Int)
    /// A page of the review queue `ids` (newest first), shaped.
    func shapedReview(_ ids: [Int64], shape: ListShape, offset: Int, limit: Int) throws -> (rows: [AccessRequest], total: Int)
    /// At most `limit` events with seq > `afterSeq` that pass `filter`, oldest first.
    func forEachEvent(_ filter: AuditFilter, afterSeq: Int64, limit: Int, _ body: (AuditEvent) throws -> Void) throws
    /// The last `count` events, oldest first.
    func lastEvents(_ count: Int) throws -> [AuditEvent]
    /// The figures of `symtui metrics`.
    func metrics() throws -> StoreMetrics
    /// The figures of `symtui report` for requests created in `since ... until`.
    func activityReport(since: Date, until: Date) throws -> ActivityReport
}

extension StoreQueries {
    /// A page of the audit log (newest first, mentioning `search` when given), shaped: the newest
    /// `ListShape.scanLimit` events are matched and ordered, as `ShapedLists.audit` does.
    public func shapedAudit(search: String?, shape: ListShape, offset: Int, limit: Int) throws -> (rows: [AuditEvent], total: Int) {
        try shape.page(try eventsNewestFirst(offset: 0, limit: ListShape.scanLimit, search: search), offset: offset, limit: limit)
    }
}

extension Store: StoreQueries {
    public func shapedRequests(_ q: RequestQuery) throws -> (rows: [AccessRequest], total: Int) {
        try ShapedLists.requests(q, store: self)
    }

    public func shapedReview(_ ids: [Int64], shape: ListShape, offset: Int, limit: Int) throws -> (rows: [AccessRequest], total: Int) {
        try ShapedLists.review(ids, shape: shape, store: self, offset: offset, limit: limit)
    }
}
