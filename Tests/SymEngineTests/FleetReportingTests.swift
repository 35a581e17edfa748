import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
import SymTestSupport
@testable import SymEngine

/// Audit reporting by two daemons (two `host_name`s) on one PostgreSQL store: a local destination is shipped whole by
/// each bastion, a shared one by one daemon at a time.
final class FleetReportingTests: XCTestCase {
    private var dir = ""
    private var conninfo = ""
    private var store: PostgresStore!
    private var server: LocalServer?
    private let fastRetry = DeliveryBackoff(initial: 0.1, cap: 0.4)

    override func setUpWithError() throws {
        dir = try Fixture.tempDirectory()
        conninfo = try PostgresCluster.shared().freshSchema().conninfo
        store = try PostgresStore(conninfo: conninfo, hostName: "test", migrate: true)
    }

    override func tearDownWithError() throws {
        server?.stop()
        store = nil
        try? FileManager.default.removeItem(atPath: dir)
    }

    // MARK: helpers

    private func append(_ count: Int) throws {
        try store.write { tx in
            for i in 0..<count {
                try tx.append(EventDraft(type: .request, requestId: Int64(i + 1), flow: "prod-access", target: "prod-ssh",
                                         requester: "alice", actor: "alice", reason: "reason \(i)"), at: Date())
            }
        }
    }

    /// A reporting loop of the daemon of bastion `host`, with its own connections to the shared store.
    private func loop(_ host: String, _ destinations: [Destination], claimRetry: TimeInterval = 0.1,
                      jsonlDirectory: String? = nil) -> ReportingLoop {
        let config = Config(sourcePath: dir + "/config.json5", reporting: Reporting(destinations: destinations))
        let info = conninfo
        let loop = ReportingLoop(config: config, openStore: { try PostgresStore(conninfo: info, hostName: host, migrate: false) },
                                 retry: fastRetry, pollInterval: 0.05)
        loop.fleet = ReportingFleet(hostName: host, conninfo: info)
        loop.claimRetry = claimRetry
        loop.log = { _, _ in }
        if let jsonlDirectory {
            // Both bastions are configured with the same path; on this one machine each writes below a directory of its own.
            loop.makeDestination = { d in
                var d = d
                if let path = d.settings["path"]?.stringValue { d.settings["path"] = .string(jsonlDirectory + path) }
                return ReportingDestinations.make(d)
            }
        }
        return loop
    }

    private func waitUntil(_ seconds: TimeInterval = 30, file: StaticString = #filePath, line: UInt = #line,
                           _ condition: () throws -> Bool) rethrows {
        if try !eventually(within: seconds, condition) { XCTFail("timed out", file: file, line: line) }
    }

    private func cursor(_ key: String) throws -> Int64 { try store.read { try $0.delivery(key).seq } }

    private func seqs(inJSONL path: String) -> [Int64] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONValue.parse(String($0))["seq"]?.intValue }
    }

    /// A collector that logs each batch (with the `X-Bastion` header of its sender) before it answers, `delay` later.
    private static let serverSource = """
        import http.server, json, sys, time
        port, log, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with open(log, "a") as f:
                    f.write(json.dumps({"from": self.headers.get("X-Bastion"), "seqs": [e["seq"] for e in body]}) + "\\n")
                time.sleep(delay)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *args):
                pass
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """

    /// Starts the collector; returns its log and the URL both bastions are configured with.
    private func startCollector(delay: Double) throws -> (log: String, url: String) {
        let script = dir + "/collector.py", log = dir + "/collector.jsonl"
        try Self.serverSource.write(toFile: script, atomically: true, encoding: .utf8)
        let s = LocalServer(script: script, arguments: [log, String(delay)])
        try s.start()
        server = s
        return (log, "http://127.0.0.1:\(s.port)/audit")
    }

    private func received(_ log: String) -> [(from: String, seqs: [Int64])] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let j = try? JSONValue.parse(String(line)) else { return nil }
            return (j["from"]?.stringValue ?? "", j["seqs"]?.arrayValue?.compactMap(\.intValue) ?? [])
        }
    }

    private func http(_ url: String, from host: String, batch: Int) -> Destination {
        Destination(type: "http", settings: ["url": .string(url), "batch_size": .int(Int64(batch)), "timeout": .string("5s"),
                                             "headers": .obj([("X-Bastion", .string(host))])])
    }

    // MARK: local destinations: one cursor per bastion

    func testEachBastionShipsTheWholeChainIntoItsOwnJSONLFileOnceAndInOrder() throws {
        let path = "/var/log/symtui/audit.jsonl"
        let destination = Destination(type: "jsonl", settings: ["path": .string(path), "batch_size": .int(7)])
        let dirs = ["bastion-a", "bastion-b"].map { dir + "/" + $0 }
        for d in dirs { try FileManager.default.createDirectory(atPath: d + "/var/log/symtui", withIntermediateDirectories: true) }
        try append(30)
        let running = zip(["bastion-a", "bastion-b"], dirs).map { RunningLoop(loop($0, [destination], jsonlDirectory: $1)) }
        defer { running.forEach { $0.stop() } }
        waitUntil { dirs.allSatisfy { seqs(inJSONL: $0 + path).count >= 30 } }
        try append(20)
        running.forEach { $0.loop.poke() }
        waitUntil { dirs.allSatisfy { seqs(inJSONL: $0 + path).count >= 50 } }
        usleep(300_000)   // a second copy would have been written by now
        for d in dirs { XCTAssertEqual(seqs(inJSONL: d + path), Array(1...50), d) }
        for host in ["bastion-a", "bastion-b"] {
            try waitUntil { try cursor("\(host)/jsonl:\(path)") == 50 }
        }
        XCTAssertEqual(try cursor("jsonl:\(path)"), 0, "no cursor is shared by the bastions")
    }

    // MARK: shared destinations: one daemon at a time

    func testTwoDaemonsWithTheSameHTTPDestinationDeliverEachEventOnceInOrder() throws {
        let (log, url) = try startCollector(delay: 0)
        let running = ["bastion-a", "bastion-b"].map { RunningLoop(loop($0, [http(url, from: $0, batch: 10)])) }
        defer { running.forEach { $0.stop() } }
        for _ in 0..<8 {
            try append(15)
            running.forEach { $0.loop.poke() }
            usleep(50_000)
        }
        waitUntil { received(log).flatMap(\.seqs).count >= 120 }
        try waitUntil { try cursor("http:\(url)") == 120 }
        usleep(500_000)   // a second delivery would have arrived by now
        XCTAssertEqual(received(log).flatMap(\.seqs), Array(1...120), "each event once, in order")
        XCTAssertEqual(try cursor("bastion-a/http:\(url)"), 0, "an http destination has the fleet's one cursor")
    }

    func testWhenTheDeliveringDaemonStopsMidWayTheOtherTakesOverAndNothingIsLost() throws {
        let (log, url) = try startCollector(delay: 0.1)
        try append(200)
        let a = RunningLoop(loop("bastion-a", [http(url, from: "bastion-a", batch: 10)]))
        var aRunning = true
        defer { if aRunning { a.stop() } }
        waitUntil { received(log).flatMap(\.seqs).count >= 30 }
        let b = RunningLoop(loop("bastion-b", [http(url, from: "bastion-b", batch: 10)]))
        defer { b.stop() }
        usleep(500_000)   // b asks for the claim a few times meanwhile
        XCTAssertTrue(received(log).allSatisfy { $0.from == "bastion-a" }, "b sent while a held the claim")
        a.stop()
        aRunning = false
        let handedOverAt = received(log).count
        XCTAssertLessThan(handedOverAt * 10, 200, "a was stopped mid-way")
        waitUntil { received(log).flatMap(\.seqs).count >= 200 }
        usleep(500_000)
        let batches = received(log)
        XCTAssertEqual(batches.flatMap(\.seqs), Array(1...200), "nothing lost, nothing twice, in order")
        XCTAssertTrue(batches[..<handedOverAt].allSatisfy { $0.from == "bastion-a" })
        XCTAssertTrue(batches[handedOverAt...].allSatisfy { $0.from == "bastion-b" }, "b delivered the rest")
    }

    func testWhenTheDeliveringDaemonLosesItsConnectionTheOtherTakesOverAtLeastOnceInOrder() throws {
        let (log, url) = try startCollector(delay: 0.1)
        try append(200)
        // a, once it lost its claim, waits long before asking again: b takes over.
        let a = RunningLoop(loop("bastion-a", [http(url, from: "bastion-a", batch: 10)], claimRetry: 60))
        defer { a.stop() }
        waitUntil { received(log).flatMap(\.seqs).count >= 30 }
        let b = RunningLoop(loop("bastion-b", [http(url, from: "bastion-b", batch: 10)]))
        defer { b.stop() }
        usleep(300_000)
        let admin = try PostgresConnection(conninfo: conninfo)
        defer { admin.close() }
        let killed = try admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                                       ["symtui reporting bastion-a"])
        XCTAssertEqual(killed.count, 1, "a's claim connection")
        // The batch a had in flight (and, while the server ends that connection, perhaps one more) may still be a's.
        let killedAt = received(log).count
        XCTAssertLessThan(killedAt * 10, 200, "a lost its connection mid-way")
        waitUntil { Set(received(log).flatMap(\.seqs)).count >= 200 }
        usleep(500_000)
        let batches = received(log)
        let seqs = batches.flatMap(\.seqs)
        var firstSeen: [Int64] = []
        var seen: Set<Int64> = []
        for s in seqs where seen.insert(s).inserted { firstSeen.append(s) }
        XCTAssertEqual(firstSeen, Array(1...200), "nothing lost, in order")
        XCTAssertLessThanOrEqual(seqs.count, 200 + 10, "at most the batch in flight was sent again")
        XCTAssertTrue(batches[(killedAt + 2)...].allSatisfy { $0.from == "bastion-b" }, "b delivered the rest")
    }

    // MARK: status

    func testStatusShowsThisBastionsCursorForALocalDestinationAndTheFleetsForAShared() throws {
        let jsonl = Destination(type: "jsonl", settings: ["path": .string("/var/log/symtui/audit.jsonl")])
        let shared = Destination(type: "http", settings: ["url": .string("http://127.0.0.1:9/audit")])
        try append(5)
        try store.write {
            try $0.recordDelivered("bastion-a/jsonl:/var/log/symtui/audit.jsonl", through: 3, at: Date())
            try $0.recordDelivered("bastion-b/jsonl:/var/log/symtui/audit.jsonl", through: 5, at: Date())
            try $0.recordDelivered("http:http://127.0.0.1:9/audit", through: 4, at: Date())
        }
        let config = Config(sourcePath: dir + "/config.json5", reporting: Reporting(destinations: [jsonl, shared]))
        let rows = try store.read { try deliveryStatus(store: $0, config: config, fleetHost: "bastion-a") }
        XCTAssertEqual(rows.map(\.key), ["jsonl:/var/log/symtui/audit.jsonl", "http:http://127.0.0.1:9/audit"])
        XCTAssertEqual(rows.map(\.scope), [.host("bastion-a"), .fleet])
        XCTAssertEqual(rows.map(\.cursor), [3, 4])
        XCTAssertEqual(rows.map(\.backlog), [2, 1])
        XCTAssertEqual(rows[0].json["scope"]?.stringValue, "host")
        XCTAssertEqual(rows[0].json["host"]?.stringValue, "bastion-a")
        XCTAssertEqual(rows[1].json["scope"]?.stringValue, "fleet")
        let readBack = rows.compactMap { DestinationStatus(json: $0.json) }
        XCTAssertEqual(readBack.map(\.scope), rows.map(\.scope), "the CLI reads back what the daemon sends")
        XCTAssertEqual(readBack.map(\.cursor), rows.map(\.cursor))
    }

    func testStatusOnSQLiteHasNoHostFields() throws {
        let sqlite = try Store.openForWriting(path: dir + "/symtui.db")
        let config = Config(sourcePath: dir + "/config.json5", reporting: Reporting(destinations: [
            Destination(type: "jsonl", settings: ["path": .string("/var/log/symtui/audit.jsonl")])]))
        let row = try XCTUnwrap(try deliveryStatus(store: sqlite, config: config).first)
        XCTAssertNil(row.scope)
        XCTAssertNil(row.json["scope"])
        XCTAssertNil(row.json["host"])
        XCTAssertNil(DestinationStatus(json: row.json)?.scope)
    }

    func testOnceModeLeavesASharedBacklogToTheDaemonThatHoldsTheClaim() throws {
        let (log, url) = try startCollector(delay: 0)
        try append(10)
        let holder = DeliveryClaim(conninfo: conninfo, key: "http:\(url)", hostName: "bastion-a")
        defer { holder.release() }
        XCTAssertTrue(try holder.hold())
        let once = loop("bastion-b", [http(url, from: "bastion-b", batch: 10)])
        XCTAssertTrue(once.deliverBacklog(timeout: 30), "the holder delivers it: not a failure of this run")
        XCTAssertTrue(received(log).isEmpty, "sent without the claim")
        holder.release()
        XCTAssertTrue(once.deliverBacklog(timeout: 30))
        XCTAssertEqual(received(log).flatMap(\.seqs), Array(1...10))
    }
}
