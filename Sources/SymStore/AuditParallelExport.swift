import Foundation
import SymModel
import Synchronization

// `audit export` of a big store file on every core: the seq span is cut into chunks; worker threads, each on a
// read-only connection of its own, claim chunks in order and format each into a buffer of its own (ExportWriter, the
// same bytes as the one-thread path); the calling thread hands the buffers to `emit` strictly in chunk order. At most
// `window` chunks are formatted ahead of the one being written, so memory stays bounded however big the store.
// Events are append-only and every chunk lies below the head seen at the start, so each chunk's rows are the same
// whichever snapshot reads them; what is appended meanwhile is read afterwards by the one-thread loop.

/// The chunks between the workers and the writing thread.
private final class ExportPipeline: @unchecked Sendable {
    private let condition = NSCondition()
    private var ready: [Int: [UInt8]] = [:]
    private var written = 0
    private var stopped = false
    private var failure: (any Error)?
    let window: Int
    let next = Atomic<Int>(0)

    init(window: Int) { self.window = window }

    /// Blocks a worker until chunk `i` is within the window; false when the export stopped.
    func mayStart(_ i: Int) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while !stopped && i >= written + window { condition.wait() }
        return !stopped
    }

    func put(_ i: Int, _ bytes: [UInt8]) {
        condition.lock(); ready[i] = bytes; condition.broadcast(); condition.unlock()
    }

    func fail(_ e: any Error) {
        condition.lock(); failure = failure ?? e; stopped = true; condition.broadcast(); condition.unlock()
    }

    func stop() {
        condition.lock(); stopped = true; condition.broadcast(); condition.unlock()
    }

    /// The bytes of chunk `i` once formatted (the writing thread, in order).
    func take(_ i: Int) throws -> [UInt8] {
        condition.lock(); defer { condition.unlock() }
        while ready[i] == nil && failure == nil { condition.wait() }
        if let failure { throw failure }
        let bytes = ready.removeValue(forKey: i)!
        written = i + 1
        condition.broadcast()
        return bytes
    }
}

extension Store {
    /// Reads the file's pages through mmap(2) (up to SQLite's compiled-in limit, 2 GiB here) instead of a read(2) copy
    /// per page: a scan of the whole chain reads gigabytes, and the copies were much of its system time.
    func mapForScans() {
        try? db.execute("PRAGMA mmap_size=17179869184")
    }

    /// Exports the events from the first seq through the head seen now in parallel chunks, when the span is at least
    /// `parallelFrom` seqs and `workers` > 1; returns the last seq covered (0 when it did nothing, so the caller's
    /// one-thread loop exports everything). `clauses`/`values` are the filter's, ANDed to each chunk's seq range.
    func exportInRanges(clauses: [String], values: [SQLValue], format: AuditExport.Format, workers: Int, parallelFrom: Int64,
                        chunkSeqs: Int64, emit: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Int64 {
        guard workers > 1, let first = try db.scalarInt("SELECT min(seq) FROM events") else { return 0 }
        let last = try lastSeq()
        guard last - first + 1 >= parallelFrom else { return 0 }
        let chunks = Int((last - first + chunkSeqs) / chunkSeqs)
        let sql = "SELECT \(Store.eventColumns) FROM events WHERE \((["seq >= ?", "seq <= ?"] + clauses).joined(separator: " AND ")) ORDER BY seq"
        let pipeline = ExportPipeline(window: workers * 2)
        let group = DispatchGroup()
        let path = self.path
        for _ in 0..<min(workers, chunks) {
            DispatchQueue.global().async(group: group) {
                do {
                    let reader = try Store.openReadOnly(path: path)
                    reader.mapForScans()
                    while true {
                        let i = pipeline.next.wrappingAdd(1, ordering: .relaxed).oldValue
                        guard i < chunks, pipeline.mayStart(i) else { return }
                        let lo = first + Int64(i) * chunkSeqs, hi = min(last, lo + chunkSeqs - 1)
                        var writer = ExportWriter(format: format)
                        try reader.db.query(sql, [.int(lo), .int(hi)] + values, layout: EventColumns.self) { s, c in writer.row(s, c) }
                        pipeline.put(i, writer.out)
                    }
                } catch {
                    pipeline.fail(error)
                }
            }
        }
        defer { pipeline.stop(); group.wait() }
        for i in 0..<chunks {
            let bytes = try pipeline.take(i)
            if !bytes.isEmpty { try bytes.withUnsafeBufferPointer { try emit($0) } }
        }
        return last
    }
}
