import Foundation
import SymModel

/// Request lists and the audit log sorted and narrowed by a `ListShape` before paging: the newest
/// `ListShape.scanLimit` rows the query selects are read as light rows (the columns a sort or a regex looks at,
/// field values only when there is a regex), matched and ordered, then only the page is decoded whole. Shared by
/// the daemon's read API and the direct reader, so both answer alike.
public enum ShapedLists {
    /// A page of the requests `q` selects, shaped by `q.shape`, with the shaped total.
    public static func requests(_ q: RequestQuery, store: Store) throws -> (rows: [AccessRequest], total: Int) {
        var scan = q
        scan.offset = 0
        scan.limit = ListShape.scanLimit
        scan.shape = ListShape()
        scan.newestFirst = true
        let (whereSQL, values) = Store.filter(scan)
        let light = try lightRows(store, whereSQL: whereSQL, values: values, limit: ListShape.scanLimit, withFields: q.shape.regex != nil)
        return try whole(q.shape, light, store: store, offset: q.offset, limit: q.limit)
    }

    /// A page of the review queue `ids` (newest first), shaped.
    public static func review(_ ids: [Int64], shape: ListShape, store: Store, offset: Int, limit: Int) throws -> (rows: [AccessRequest], total: Int) {
        let window = Array(ids.prefix(ListShape.scanLimit))
        var light: [(AccessRequest, String)] = []
        for start in stride(from: 0, to: window.count, by: 500) {
            let chunk = Array(window[start..<min(window.count, start + 500)])
            let inList = " WHERE id IN (" + chunk.map { _ in "?" }.joined(separator: ",") + ")"
            light += try lightRows(store, whereSQL: inList, values: chunk.map { .int($0) }, limit: chunk.count, withFields: shape.regex != nil)
        }
        light.sort { $0.0.id > $1.0.id }
        return try whole(shape, light, store: store, offset: offset, limit: limit)
    }

    /// A page of the audit log (newest first, mentioning `search` when given), shaped.
    public static func audit(search: String?, shape: ListShape, store: Store, offset: Int, limit: Int) throws -> (rows: [AuditEvent], total: Int) {
        try shape.page(try store.eventsNewestFirst(offset: 0, limit: ListShape.scanLimit, search: search), offset: offset, limit: limit)
    }

    /// Shapes light rows, then reads the page's requests whole, in the shaped order.
    static func whole(_ shape: ListShape, _ light: [(AccessRequest, String)], store: any StoreReading, offset: Int, limit: Int) throws -> (rows: [AccessRequest], total: Int) {
        let values = Dictionary(light.map { ($0.0.id, $0.1) }, uniquingKeysWith: { a, _ in a })
        let (page, total) = try shape.page(light.map(\.0), offset: offset, limit: limit) { r in
            ListShape.searchedTexts(r) + [values[r.id] ?? ""]
        }
        let byID = Dictionary(try store.requests(ids: page.map(\.id)).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return (page.compactMap { byID[$0.id] }, total)
    }

    /// The field values of a request as `FieldValue.description` writes them (lists comma-separated, bools as
    /// true/false), one per line in key order, computed by SQLite from the stored `{"k":{"type","value"}}` JSON.
    static let fieldValuesSQL = """
        (SELECT group_concat(CASE json_type(f.value, '$.value') WHEN 'array' THEN \
        (SELECT group_concat(e.value, ',') FROM json_each(f.value, '$.value') e) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
        ELSE json_extract(f.value, '$.value') END, char(10)) FROM json_each(requests.fields) f)
        """

    /// Requests with only what sorting and matching look at, newest first, with their field values (when asked).
    private static func lightRows(_ store: Store, whereSQL: String, values: [SQLValue], limit: Int, withFields: Bool) throws -> [(AccessRequest, String)] {
        let sql = "SELECT id, flow, target, target_label, requester, state, created_at, request_expires_at, access_expires_at"
            + (withFields ? ", " + fieldValuesSQL : "") + " FROM requests\(whereSQL) ORDER BY id DESC LIMIT ?"
        var out: [(AccessRequest, String)] = []
        out.reserveCapacity(min(limit, 1024))
        try store.db.query(sql, values + [.int(Int64(limit))]) { s in
            var r = AccessRequest(id: s.int(0), flow: s.text(1), target: s.optText(2), targetLabel: s.optText(3), requester: s.text(4),
                                  state: RequestState(rawValue: s.text(5)) ?? .pending, durationSeconds: nil,
                                  createdAt: Store.date(s.int(6)), requestExpiresAt: Store.date(s.int(7)), requiredApprovals: 1, extends: nil)
            r.accessExpiresAt = Store.date(s.optInt(8))
            out.append((r, withFields ? (s.optText(9) ?? "") : ""))
        }
        return out
    }
}
