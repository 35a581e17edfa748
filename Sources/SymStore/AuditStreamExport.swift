import Foundation
import SymModel

// `audit export` from the store file: rows streamed from SQLite and written as JSONL or CSV straight from their column
// bytes into one buffer, without decoding an AuditEvent or building a JSON tree per row. A row is written this way only
// when every byte written is certain to be what `AuditExport.jsonlLine`/`csvRecord` of the decoded event would write:
// text columns of printable ASCII, a known event type, and a `data` column in the exact form the JSON writer makes
// (`CanonicalJSONCheck`). Any other row (non-ASCII text, an edited `data`) goes through the decoded event, so the output
// is the same byte for byte (the tests compare both over varied events).

extension Store {
    /// Writes every event that passes `filter`, oldest first, in `format` (CSV with its header), handing the bytes to
    /// `emit` in chunks of about 1 MiB. A span of `parallelFrom` seqs or more (without a request filter) is formatted
    /// on `workers` threads in chunks of `chunkSeqs`, written in order (AuditParallelExport.swift): the same bytes.
    public func exportEvents(_ filter: AuditFilter, format: AuditExport.Format,
                             workers: Int = ProcessInfo.processInfo.activeProcessorCount, parallelFrom: Int64 = 200_000,
                             chunkSeqs: Int64 = 20_000, emit: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        var writer = ExportWriter(format: format)
        if format == .csv { writer.out += AuditExport.csvHeader.utf8 }
        var clauses: [String] = []
        var values: [SQLValue] = []
        if let since = filter.since { clauses.append("time >= ?"); values.append(.int(Store.millis(since))) }
        if let until = filter.until { clauses.append("time < ?"); values.append(.int(Store.millis(until))) }
        if let r = filter.requestId { clauses.append("request_id = ?"); values.append(.int(r)) }
        let sql = "SELECT \(Store.eventColumns) FROM events WHERE \((["seq > ?"] + clauses).joined(separator: " AND ")) ORDER BY seq LIMIT ?"
        // Pages of 100,000 rows: no read snapshot is held for the whole export (the daemon's WAL can be checkpointed).
        let page: Int64 = 100_000
        var after: Int64 = 0
        if filter.requestId == nil {
            if !writer.out.isEmpty {
                try writer.out.withUnsafeBufferPointer { try emit($0) }
                writer.out.removeAll(keepingCapacity: true)
            }
            after = try exportInRanges(clauses: clauses, values: values, format: format, workers: workers, parallelFrom: parallelFrom,
                                       chunkSeqs: chunkSeqs, emit: emit)
        }
        while true {
            var rows: Int64 = 0
            try db.query(sql, [.int(after)] + values + [.int(page)], layout: EventColumns.self) { s, c in
                rows += 1
                after = s.int(c.seq)
                writer.row(s, c)
                if writer.out.count >= 1 << 20 {
                    try writer.out.withUnsafeBufferPointer { try emit($0) }
                    writer.out.removeAll(keepingCapacity: true)
                }
            }
            if rows < page { break }
        }
        if !writer.out.isEmpty { try writer.out.withUnsafeBufferPointer { try emit($0) } }
    }
}

/// One export's output buffer and the per-row writers.
struct ExportWriter {
    let format: AuditExport.Format
    var out: [UInt8] = []
    private var second = Int64.min
    private var secondText: [UInt8] = []
    private static let knownTypes = Set(EventType.allCases.map(\.rawValue))

    init(format: AuditExport.Format) {
        self.format = format
        out.reserveCapacity((1 << 20) + 64 * 1024)
    }

    /// Every byte is printable ASCII (and, for a JSON string, neither `"` nor `\`); eight bytes at a time.
    @inline(__always) private static func plain(_ p: UnsafeBufferPointer<UInt8>?, json: Bool) -> Bool {
        guard let p else { return true }
        return ChainHashBuilder.plain(p, inString: json)
    }

    /// The type of the row before, when it was a known type: most rows repeat a handful of types.
    private var lastType: [UInt8] = []

    private mutating func knownType(_ p: UnsafeBufferPointer<UInt8>?) -> Bool {
        guard let p else { return false }
        if p.count == lastType.count && lastType.withUnsafeBufferPointer({ memcmp($0.baseAddress!, p.baseAddress!, p.count) == 0 }) { return true }
        guard ExportWriter.knownTypes.contains(String(decoding: p, as: UTF8.self)) else { return false }
        lastType = Array(p)
        return true
    }

    /// The decimal digits of `v`, written in place (no String).
    private mutating func integer(_ v: Int64) {
        if v >= 0 && v < 10 { out.append(UInt8(48 + v)); return }
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = v.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var n = 0
            repeat { digits[n] = UInt8(48 + magnitude % 10); magnitude /= 10; n += 1 } while magnitude > 0
            for i in stride(from: n - 1, through: 0, by: -1) { out.append(digits[i]) }
        }
    }

    mutating func row(_ s: Statement, _ c: EventColumns) {
        let id = s.bytes(c.id), type = s.bytes(c.type), flow = s.bytes(c.flow), target = s.bytes(c.target)
        let requester = s.bytes(c.requester), actor = s.bytes(c.actor), reason = s.bytes(c.reason), data = s.bytes(c.data)
        let prev = s.bytes(c.prevHash), hash = s.bytes(c.hash), hmac = s.bytes(c.hmac)
        let json = format == .jsonl
        let plain = ExportWriter.plain(id, json: json) && ExportWriter.plain(type, json: json) && ExportWriter.plain(flow, json: json)
            && ExportWriter.plain(target, json: json) && ExportWriter.plain(requester, json: json) && ExportWriter.plain(actor, json: json)
            && ExportWriter.plain(reason, json: json) && ExportWriter.plain(prev, json: json) && ExportWriter.plain(hash, json: json)
            && ExportWriter.plain(hmac, json: json)
        let fast = plain && ExportWriter.plain(data, json: false) && data.map(CanonicalJSONCheck.isCanonical) ?? false && knownType(type)
        guard fast else {
            let e = Store.decodeEvent(s, c)
            out += (json ? AuditExport.jsonlLine(e) + "\n" : AuditExport.csvRecord(e)).utf8
            return
        }
        let seq = s.int(c.seq), requestId = s.optInt(c.requestId), time = s.int(c.time)
        if json {
            func key(_ k: StaticString, first: Bool = false) {
                if !first { out.append(UInt8(ascii: ",")) }
                out.append(0x22)
                out.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
                out.append(0x22); out.append(UInt8(ascii: ":"))
            }
            func string(_ p: UnsafeBufferPointer<UInt8>?, nullable: Bool) {
                guard let p else { out += (nullable ? "null" : "\"\"").utf8; return }
                out.append(0x22); out.append(contentsOf: p); out.append(0x22)
            }
            out.append(UInt8(ascii: "{"))
            key("seq", first: true); integer(seq)
            key("id"); string(id, nullable: false)
            key("time"); out.append(0x22); timeText(time); out.append(0x22)
            key("type"); string(type, nullable: false)
            key("request_id"); if let requestId { integer(requestId) } else { out += "null".utf8 }
            key("flow"); string(flow, nullable: true)
            key("target"); string(target, nullable: true)
            key("requester"); string(requester, nullable: true)
            key("actor"); string(actor, nullable: false)
            key("reason"); string(reason, nullable: true)
            key("data"); if let data { out.append(contentsOf: data) }
            key("prev_hash"); string(prev, nullable: false)
            key("hash"); string(hash, nullable: false)
            if let hmac { key("hmac"); string(hmac, nullable: false) }
            out += "}\n".utf8
        } else {
            func cell(_ p: UnsafeBufferPointer<UInt8>?, first: Bool = false) {
                if !first { out.append(UInt8(ascii: ",")) }
                guard let p, !p.isEmpty else { return }
                let quote = p.contains { $0 == UInt8(ascii: ",") || $0 == 0x22 }
                if quote { out.append(0x22) }
                if "=+-@".utf8.contains(p[0]) { out.append(UInt8(ascii: "'")) }
                if quote {
                    for b in p { out.append(b); if b == 0x22 { out.append(0x22) } }
                    out.append(0x22)
                } else {
                    out.append(contentsOf: p)
                }
            }
            func number(_ v: Int64?, first: Bool = false) {
                if !first { out.append(UInt8(ascii: ",")) }
                guard let v else { return }
                if v < 0 { out.append(UInt8(ascii: "'")) }   // "-…" is made inert like any cell starting with '-'
                integer(v)
            }
            number(seq, first: true)
            cell(id)
            out.append(UInt8(ascii: ",")); timeText(time)
            cell(type)
            number(requestId)
            cell(flow); cell(target); cell(requester); cell(actor); cell(reason); cell(data); cell(prev); cell(hash)
            out += "\r\n".utf8
        }
    }

    /// `Timestamp.format` of a stored time, the "YYYY-MM-DDTHH:MM:SS" part made once per second.
    private mutating func timeText(_ millis: Int64) {
        var secs = millis / 1000
        var rem = millis % 1000
        if rem < 0 { rem += 1000; secs -= 1 }
        if secs != second {
            let full = Timestamp.format(millis: secs * 1000)
            guard full.utf8.count == 20 else { out += Timestamp.format(millis: millis).utf8; return }
            second = secs
            secondText = Array(full.utf8.dropLast())
        }
        out += secondText
        if rem != 0 {
            out.append(UInt8(ascii: "."))
            out.append(UInt8(48 + rem / 100)); out.append(UInt8(48 + rem / 10 % 10)); out.append(UInt8(48 + rem % 10))
        }
        out.append(UInt8(ascii: "Z"))
    }
}

/// Whether JSON text is exactly what `JSONValue.compact` writes after `JSONValue.parse` of it: no whitespace, strings of
/// printable ASCII with only the escapes the writer makes, integers that fit in 64 bits (no fractions or exponents),
/// nesting at most 64 deep. False does not mean invalid, only "not certainly identical" (the caller then decodes).
enum CanonicalJSONCheck {
    static func isCanonical(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        guard value(p, &i, depth: 0) else { return false }
        return i == p.count
    }

    private static func value(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int, depth: Int) -> Bool {
        guard i < p.count, depth < 64 else { return false }
        switch p[i] {
        case UInt8(ascii: "{"):
            i += 1
            if i < p.count && p[i] == UInt8(ascii: "}") { i += 1; return true }
            // The parser refuses a key given twice (the decoded event then holds the text as a string): so does this.
            var keys: [Range<Int>] = []
            while true {
                let keyStart = i
                guard string(p, &i), i < p.count, p[i] == UInt8(ascii: ":") else { return false }
                let key = keyStart..<i
                if keys.contains(where: { $0.count == key.count && p[$0].elementsEqual(p[key]) }) { return false }
                keys.append(key)
                i += 1
                guard value(p, &i, depth: depth + 1), i < p.count else { return false }
                if p[i] == UInt8(ascii: ",") { i += 1; continue }
                guard p[i] == UInt8(ascii: "}") else { return false }
                i += 1
                return true
            }
        case UInt8(ascii: "["):
            i += 1
            if i < p.count && p[i] == UInt8(ascii: "]") { i += 1; return true }
            while true {
                guard value(p, &i, depth: depth + 1), i < p.count else { return false }
                if p[i] == UInt8(ascii: ",") { i += 1; continue }
                guard p[i] == UInt8(ascii: "]") else { return false }
                i += 1
                return true
            }
        case 0x22: return string(p, &i)
        case UInt8(ascii: "t"): return literal(p, &i, "true")
        case UInt8(ascii: "f"): return literal(p, &i, "false")
        case UInt8(ascii: "n"): return literal(p, &i, "null")
        default: return integer(p, &i)
        }
    }

    private static func literal(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int, _ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= p.count else { return false }
        for k in 0..<n where p[i + k] != word.utf8Start[k] { return false }
        i += n
        return true
    }

    private static func integer(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Bool {
        var negative = false
        if i < p.count && p[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        let start = i
        var magnitude: UInt64 = 0
        while i < p.count, (0x30...0x39).contains(p[i]) {
            let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(p[i] - 0x30))
            guard !o1, !o2 else { return false }
            magnitude = a
            i += 1
        }
        let digits = i - start
        guard digits > 0, !(digits > 1 && p[start] == 0x30) else { return false }
        guard magnitude <= UInt64(Int64.max), !(negative && magnitude == 0) else { return false }
        // A fraction or an exponent: the writer's form of a double is not checked here.
        if i < p.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(p[i]) { return false }
        return true
    }

    private static func string(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Bool {
        guard i < p.count, p[i] == 0x22 else { return false }
        i += 1
        let hex = Array("0123456789abcdef".utf8)
        while i < p.count {
            let b = p[i]
            if b == 0x22 { i += 1; return true }
            guard b >= 0x20, b <= 0x7E else { return false }
            if b == 0x5C {
                guard i + 1 < p.count else { return false }
                switch p[i + 1] {
                case 0x22, 0x5C, UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"): i += 2
                case UInt8(ascii: "u"):
                    // Only what the writer escapes this way: C0 controls other than \n \r \t, and DEL.
                    guard i + 5 < p.count, p[i + 2] == 0x30, p[i + 3] == 0x30,
                          let h = hex.firstIndex(of: p[i + 4]), let l = hex.firstIndex(of: p[i + 5]) else { return false }
                    let v = h * 16 + l
                    guard (v < 0x20 && v != 0x09 && v != 0x0A && v != 0x0D) || v == 0x7F else { return false }
                    i += 6
                default: return false
                }
            } else {
                i += 1
            }
        }
        return false
    }
}
