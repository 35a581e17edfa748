import Foundation
import SymModel

/// Request lists and the audit log sorted and narrowed by a `ListShape` before paging: the newest
/// `ListShape.scanLimit` rows the query selects are read, matched and ordered, then one page is cut. Shared by the
/// daemon's read API and the direct reader, so both answer alike.
public enum ShapedLists {
    /// A page of the requests `q` selects, shaped by `q.shape`, with the shaped total.
    public static func requests(_ q: RequestQuery, store: Store) throws -> (rows: [AccessRequest], total: Int) {
        var scan = q
        scan.offset = 0
        scan.limit = ListShape.scanLimit
        scan.newestFirst = true
        scan.shape = ListShape()
        return try q.shape.page(try store.requests(scan), offset: q.offset, limit: q.limit)
    }

    /// A page of the review queue `ids` (newest first), shaped.
    public static func review(_ ids: [Int64], shape: ListShape, store: Store, offset: Int, limit: Int) throws -> (rows: [AccessRequest], total: Int) {
        let window = Array(ids.prefix(ListShape.scanLimit))
        var rows: [AccessRequest] = []
        for start in stride(from: 0, to: window.count, by: 500) {
            rows += try ReviewQueue.page(window, store: store, offset: start, limit: 500)
        }
        return try shape.page(rows, offset: offset, limit: limit)
    }

    /// A page of the audit log (newest first, mentioning `search` when given), shaped.
    public static func audit(search: String?, shape: ListShape, store: Store, offset: Int, limit: Int) throws -> (rows: [AuditEvent], total: Int) {
        try shape.page(try store.eventsNewestFirst(offset: 0, limit: ListShape.scanLimit, search: search), offset: offset, limit: limit)
    }
}
