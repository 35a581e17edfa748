import Foundation
import XCTest
import SymModel
import SymProtocol
import SymStore
@testable import SymEngine

final class ReportingTests: XCTestCase {
    private var dir = ""
    private var dbPath: String { dir + "/symtui.db" }
    private var store: Store!
    private var server: LocalServer?
    private var port: Int { server?.port ?? 0 }
    private let fastRetry = DeliveryBackoff(initial: 0.2, cap: 0.8)

    override func setUpWithError() throws {
        dir = try Fixture.tempDirectory()
        store = try Store.openForWriting(path: dbPath)
    }

    override func tearDownWithError() throws {
        stopServer()
        store = nil
        try? FileManager.default.removeItem(atPath: dir)
    }

    // MARK: helpers

    private func append(_ count: Int, reason: (Int) -> String = { "reason \($0)" }) throws {
        let first = Int(try store.lastSeq())
        try store.write { tx in
            for i in first..<(first + count) {
                try tx.append(EventDraft(type: .request, requestId: Int64(i + 1), flow: "prod-access", target: "prod-ssh",
                                         requester: "alice", actor: "alice", reason: reason(i),
                                         data: .obj([("fields", .obj([("reason", .string(reason(i)))]))])), at: Date())
            }
        }
    }

    private func start(_ destinations: [Destination]) -> RunningLoop<ReportingLoop> {
        let config = Config(sourcePath: dir + "/config.json5", reporting: Reporting(destinations: destinations))
        let loop = ReportingLoop(config: config, storePath: dbPath, retry: fastRetry, pollInterval: 0.05)
        loop.log = { _, _ in }
        return RunningLoop(loop)
    }

    private func waitUntil(_ seconds: TimeInterval = 15, file: StaticString = #filePath, line: UInt = #line,
                           _ condition: () throws -> Bool) rethrows {
        if try !eventually(within: seconds, condition) { XCTFail("timed out", file: file, line: line) }
    }

    private func seqs(inJSONL path: String) -> [Int64] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONValue.parse(String($0))["seq"]?.intValue }
    }

    // MARK: jsonl

    func testJSONLDestinationAppendsEveryEventInOrder() throws {
        let path = dir + "/audit.jsonl"
        try append(30)
        let running = start([Destination(type: "jsonl", settings: ["path": .string(path)])])
        defer { running.stop() }
        waitUntil { seqs(inJSONL: path).count == 30 }
        try append(20)
        running.loop.poke()
        waitUntil { seqs(inJSONL: path).count == 50 }
        XCTAssertEqual(seqs(inJSONL: path), Array(1...50))
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(lines.allSatisfy { AuditExport.hashMatches((try? JSONValue.parse(String($0))) ?? .null) })
    }

    func testJSONLDestinationStartsANewFileWhenTheOldOneIsRotatedAway() throws {
        let path = dir + "/audit.jsonl"
        try append(40)
        let running = start([Destination(type: "jsonl", settings: ["path": .string(path)])])
        defer { running.stop() }
        waitUntil { seqs(inJSONL: path).count == 40 }
        XCTAssertEqual(rename(path, path + ".1"), 0)
        try append(25)
        running.loop.poke()
        waitUntil { seqs(inJSONL: path).count == 25 }
        XCTAssertEqual(seqs(inJSONL: path + ".1"), Array(1...40))
        XCTAssertEqual(seqs(inJSONL: path), Array(41...65))
    }

    private func deliverDirectly(to path: String) throws {
        try append(3)
        let events = try store.events(afterSeq: 0, limit: 10)
        try JSONLDestination(key: "jsonl:" + path, path: path, batchSize: 10).deliver(events)
    }

    /// The daemon appends as root: a link planted at the path would aim those writes at any file.
    func testJSONLDestinationRefusesASymbolicLinkAndLeavesItsTargetAlone() throws {
        let victim = dir + "/victim"
        try "untouched\n".write(toFile: victim, atomically: true, encoding: .utf8)
        XCTAssertEqual(symlink(victim, dir + "/audit.jsonl"), 0)
        XCTAssertThrowsError(try deliverDirectly(to: dir + "/audit.jsonl")) { error in
            XCTAssertTrue("\(error)".contains("symbolic link"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "untouched\n")
    }

    func testJSONLDestinationRefusesADirectoryOthersCanWrite() throws {
        let open = dir + "/open"
        XCTAssertEqual(mkdir(open, 0o777), 0)
        XCTAssertEqual(chmod(open, 0o777), 0)
        XCTAssertThrowsError(try deliverDirectly(to: open + "/audit.jsonl")) { error in
            XCTAssertTrue("\(error)".contains("writable by group or others"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: open + "/audit.jsonl"))
    }

    func testJSONLDestinationRefusesAFileOfAnotherUser() throws {
        let path = dir + "/audit.jsonl"
        try "".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(chown(path, 65534, 65534), 0)
        XCTAssertThrowsError(try deliverDirectly(to: path)) { error in
            XCTAssertTrue("\(error)".contains("not a regular file owned by root"), "\(error)")
        }
    }

    func testCursorSurvivesARestartSoNothingIsSentTwice() throws {
        let path = dir + "/audit.jsonl"
        try append(10)
        let first = start([Destination(type: "jsonl", settings: ["path": .string(path)])])
        waitUntil { seqs(inJSONL: path).count == 10 }
        first.stop()
        try append(5)
        let second = start([Destination(type: "jsonl", settings: ["path": .string(path)])])
        defer { second.stop() }
        waitUntil { seqs(inJSONL: path).count >= 15 }
        XCTAssertEqual(seqs(inJSONL: path), Array(1...15))
        try waitUntil { try store.delivery("jsonl:\(path)").seq == 15 }   // the cursor moves after the write
    }

    // MARK: syslog

    func testSyslogDestinationSendsOneRFC5424DatagramPerEvent() throws {
        let socketPath = dir + "/log.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes); $0[bytes.count] = 0 }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))

        try append(12, reason: { "needs \"quotes\" ] and \u{1B}[31m \($0)" })
        let running = start([Destination(type: "syslog", settings: ["socket": .string(socketPath), "app_name": .string("symtui-test")])])
        defer { running.stop() }
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while messages.count < 12 {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            messages.append(String(decoding: buffer[0..<n], as: UTF8.self))
        }
        XCTAssertEqual(messages.count, 12)
        let pattern = #/^<86>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z \S+ symtui-test - - \[symtui@32473 seq="(\d+)" type="request" request="\d+" hash="[0-9a-f]{64}"\] (\{.*\})$/#
        for (i, m) in messages.enumerated() {
            let match = try XCTUnwrap(m.wholeMatch(of: pattern), m)
            XCTAssertEqual(Int(match.2), i + 1)
            XCTAssertTrue(AuditExport.hashMatches(try JSONValue.parse(String(match.3))))
            XCTAssertFalse(m.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x0A })
        }
    }

    // MARK: http

    private static let serverSource = """
        import http.server, json, sys
        port, log = int(sys.argv[1]), sys.argv[2]
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with open(log, "a") as f:
                    f.write(json.dumps({"type": self.headers.get("Content-Type"), "seqs": [e["seq"] for e in body]}) + "\\n")
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *args):
                pass
        http.server.HTTPServer.allow_reuse_address = True
        server = http.server.HTTPServer(("127.0.0.1", port), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """

    private func startServer(port wanted: Int, log: String) throws {
        let script = dir + "/server.py"
        try Self.serverSource.write(toFile: script, atomically: true, encoding: .utf8)
        let next = LocalServer(script: script, arguments: [log])
        try next.start(port: wanted)
        server = next
    }

    private func stopServer() { server?.stop() }

    private func received(_ log: String) -> [(type: String, seqs: [Int64])] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let j = try? JSONValue.parse(String(line)) else { return nil }
            return (j["type"]?.stringValue ?? "", j["seqs"]?.arrayValue?.compactMap(\.intValue) ?? [])
        }
    }

    func testHTTPDestinationThatIsDownForAWhileLosesNothingAndKeepsOrder() throws {
        let log = dir + "/http.jsonl"
        try startServer(port: 0, log: log)
        stopServer()   // the collector is down
        try append(120)
        let url = "http://127.0.0.1:\(port)/audit?token=secret"
        let running = start([Destination(type: "http", settings: ["url": .string(url), "batch_size": .int(50), "timeout": .string("2s")])])
        defer { running.stop() }
        try waitUntil { try store.delivery("http:http://127.0.0.1:\(port)/audit").attempts >= 2 }
        XCTAssertNotNil(try store.delivery("http:http://127.0.0.1:\(port)/audit").lastError)
        try append(30)
        try startServer(port: port, log: log)   // it comes back
        waitUntil { received(log).flatMap(\.seqs).count >= 150 }
        let batches = received(log)
        XCTAssertEqual(batches.flatMap(\.seqs), Array(1...150))
        XCTAssertTrue(batches.allSatisfy { $0.type == "application/json" && $0.seqs.count <= 50 })
        // The collector logs a batch before it answers; the cursor moves after the answer.
        try waitUntil { try store.delivery("http:http://127.0.0.1:\(port)/audit").seq == 150 }
        let record = try store.delivery("http:http://127.0.0.1:\(port)/audit")
        XCTAssertEqual(record.seq, 150)
        XCTAssertNil(record.lastError)
    }

    // MARK: command

    func testCommandDestinationGetsEachBatchAsJSONLinesOnStdin() throws {
        let out = dir + "/shipped.jsonl"
        let script = try Fixture.script(in: dir, "#!/bin/sh\ncat >> \"$1\"\n")
        try append(35)
        let running = start([Destination(type: "command", settings: ["path": .string(script), "args": .array([.string(out)]),
                                                                      "batch_size": .int(10)])])
        defer { running.stop() }
        waitUntil { seqs(inJSONL: out).count == 35 }
        XCTAssertEqual(seqs(inJSONL: out), Array(1...35))
    }

    func testCommandDestinationThatFailsIsRetriedUntilItSucceeds() throws {
        let out = dir + "/shipped.jsonl"
        let gate = dir + "/open"
        let script = try Fixture.script(in: dir, "#!/bin/sh\n[ -e \"$2\" ] || { echo 'collector closed' >&2; exit 3; }\ncat >> \"$1\"\n")
        try append(8)
        let running = start([Destination(type: "command", settings: ["path": .string(script), "args": .array([.string(out), .string(gate)])])])
        defer { running.stop() }
        try waitUntil { try store.delivery("command:\(script)").attempts >= 2 }
        XCTAssertEqual(try store.delivery("command:\(script)").lastError?.contains("collector closed"), true)
        XCTAssertTrue(FileManager.default.createFile(atPath: gate, contents: nil))
        waitUntil { seqs(inJSONL: out).count == 8 }
        XCTAssertEqual(seqs(inJSONL: out), Array(1...8))
    }

    // MARK: status

    func testStatusShowsCursorBacklogLagAndLastError() throws {
        try append(5)
        let good = Destination(type: "jsonl", settings: ["path": .string(dir + "/a.jsonl")])
        let down = Destination(type: "syslog", settings: ["socket": .string(dir + "/nobody-listens.sock")])
        let broken = Destination(type: "http", settings: ["url": .string("ftp://example")])
        let running = start([good, down, broken])
        try waitUntil { try store.delivery("jsonl:\(dir)/a.jsonl").seq == 5 && store.delivery("syslog:\(dir)/nobody-listens.sock").attempts > 0 }
        running.stop()
        let config = Config(sourcePath: "", reporting: Reporting(destinations: [good, down, broken]))
        let status = try deliveryStatus(store: store, config: config)
        XCTAssertEqual(status.map(\.cursor), [5, 0, 0])
        XCTAssertEqual(status.map(\.backlog), [0, 5, 5])
        XCTAssertNil(status[0].lagSeconds)
        XCTAssertNotNil(status[1].lagSeconds)
        XCTAssertNotNil(status[1].lastError)
        XCTAssertNotNil(status[2].configProblem)
    }

    func testDestinationKeysNameTypeAndPathOrURLWithoutSecrets() {
        XCTAssertEqual(ReportingDestinations.key(for: Destination(type: "jsonl", settings: ["path": .string("/var/log/a.jsonl")])),
                       "jsonl:/var/log/a.jsonl")
        XCTAssertEqual(ReportingDestinations.key(for: Destination(type: "syslog")), "syslog:/dev/log")
        XCTAssertEqual(ReportingDestinations.key(for: Destination(type: "http", settings: ["url": .string("https://u:p@siem.example/in?key=s")])),
                       "http:https://siem.example/in")
    }

    // MARK: reload and --once

    private func config(_ destinations: [Destination]) -> Config {
        Config(sourcePath: dir + "/config.json5", reporting: Reporting(destinations: destinations))
    }

    func testReloadStartsANewDestinationFromTheBeginningOfTheChain() throws {
        let first = dir + "/a.jsonl", added = dir + "/b.jsonl"
        try append(12)
        let a = Destination(type: "jsonl", settings: ["path": .string(first)])
        let running = start([a])
        defer { running.stop() }
        waitUntil { seqs(inJSONL: first).count == 12 }
        running.loop.reload(config([a, Destination(type: "jsonl", settings: ["path": .string(added)])]))
        waitUntil { seqs(inJSONL: added).count == 12 }
        try append(3)
        running.loop.poke()
        waitUntil { seqs(inJSONL: first).count == 15 && seqs(inJSONL: added).count == 15 }
        XCTAssertEqual(seqs(inJSONL: first), Array(1...15))
        XCTAssertEqual(seqs(inJSONL: added), Array(1...15))
    }

    func testReloadStopsADestinationThatLeftTheConfigAndKeepsItsCursor() throws {
        let kept = dir + "/a.jsonl", dropped = dir + "/b.jsonl"
        let a = Destination(type: "jsonl", settings: ["path": .string(kept)])
        let b = Destination(type: "jsonl", settings: ["path": .string(dropped)])
        try append(5)
        let running = start([a, b])
        defer { running.stop() }
        waitUntil { seqs(inJSONL: kept).count == 5 && seqs(inJSONL: dropped).count == 5 }
        running.loop.reload(config([a]))
        usleep(600_000)
        try append(4)
        running.loop.poke()
        waitUntil { seqs(inJSONL: kept).count == 9 }
        usleep(400_000)
        XCTAssertEqual(seqs(inJSONL: dropped), Array(1...5), "a destination that left the config gets nothing more")
        XCTAssertEqual(try store.delivery("jsonl:\(dropped)").seq, 5)
    }

    func testReloadOfAChangedDestinationContinuesFromItsCursorWithoutRepeats() throws {
        let out = dir + "/shipped.jsonl"
        let script = try Fixture.script(in: dir, "#!/bin/sh\ncat >> \"$1\"\n")
        try append(20)
        func destination(batch: Int) -> Destination {
            Destination(type: "command", settings: ["path": .string(script), "args": .array([.string(out)]), "batch_size": .int(Int64(batch))])
        }
        let running = start([destination(batch: 5)])
        defer { running.stop() }
        waitUntil { seqs(inJSONL: out).count == 20 }
        running.loop.reload(config([destination(batch: 50)]))
        usleep(600_000)
        try append(30)
        running.loop.poke()
        waitUntil { seqs(inJSONL: out).count >= 50 }
        XCTAssertEqual(seqs(inJSONL: out), Array(1...50))
    }

    func testDeliverBacklogOnceShipsEverythingAndReturns() throws {
        let path = dir + "/once.jsonl"
        try append(7)
        let loop = ReportingLoop(config: config([Destination(type: "jsonl", settings: ["path": .string(path)])]), storePath: dbPath,
                                 retry: fastRetry, pollInterval: 0.05)
        loop.log = { _, _ in }
        XCTAssertTrue(loop.deliverBacklog(timeout: 10))
        XCTAssertEqual(seqs(inJSONL: path), Array(1...7))
        XCTAssertEqual(try store.delivery("jsonl:\(path)").seq, 7)
    }

    func testDeliverBacklogOnceReportsADestinationThatIsDownAndKeepsItsBacklog() throws {
        try append(4)
        let good = dir + "/once.jsonl"
        let down = Destination(type: "syslog", settings: ["socket": .string(dir + "/nobody-listens.sock")])
        let loop = ReportingLoop(config: config([Destination(type: "jsonl", settings: ["path": .string(good)]), down]), storePath: dbPath,
                                 retry: fastRetry, pollInterval: 0.05)
        loop.log = { _, _ in }
        let started = Date()
        XCTAssertFalse(loop.deliverBacklog(timeout: 10))
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "a destination that is down is not waited for")
        XCTAssertEqual(seqs(inJSONL: good), Array(1...4))
        XCTAssertEqual(try store.delivery("syslog:\(dir)/nobody-listens.sock").seq, 0)
    }
}
