import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// A report with known figures: two flows over the 30 days before the fixtures' clock.
func sampleActivity() -> ActivityReport {
    var prod = ActivityReport.Figures(flow: "prod-access")
    prod.requests = 42; prod.approved = 35; prod.denied = 3; prod.expired = 2; prod.cancelled = 1; prod.failed = 1
    prod.approvalMedian = 252; prod.approvalP90 = 1380
    var reindex = ActivityReport.Figures(flow: "run-reindex")
    reindex.requests = 12; reindex.approved = 11; reindex.expired = 1; reindex.breakGlass = 4
    reindex.approvalMedian = 35; reindex.approvalP90 = 610
    var total = ActivityReport.Figures(flow: nil)
    total.requests = 54; total.approved = 46; total.denied = 3; total.expired = 3; total.cancelled = 1; total.failed = 1; total.breakGlass = 4
    total.approvalMedian = 190; total.approvalP90 = 1200
    let since = fixedNow.addingTimeInterval(-30 * 86_400)
    let days = (0...30).map { d -> ActivityReport.Day in
        let date = ActivityReport.dayName(since.addingTimeInterval(Double(d) * 86_400))
        return ActivityReport.Day(date: date, requests: Int64([0, 1, 3, 2, 0, 0, 4, 2, 1][d % 9]), grantsMax: Int64([1, 2, 2, 3, 1, 0, 0][d % 7]))
    }
    return ActivityReport(since: since, until: fixedNow, flows: [prod, reindex], total: total, days: days)
}

/// The Stats view (key 6): what it loads, when it reloads, how its charts are drawn.
final class StatsTests: XCTestCase {
    func statsApp(rows: Int = 24, cols: Int = 80) -> (ConsoleApp, FakeBackend) {
        let backend = standardBackend()
        backend.activity = sampleActivity()
        return (startedApp(backend, rows: rows, cols: cols), backend)
    }

    func testKey6OpensStatsWithTheReportOfTheLast30Days() {
        let (app, backend) = statsApp()
        app.press(.char("6"))
        XCTAssertEqual(app.state.view, .stats)
        XCTAssertEqual(backend.reportCalls, [fixedNow.addingTimeInterval(-30 * 86_400)])
        XCTAssertEqual(app.state.stats.report, sampleActivity())
        XCTAssertTrue(app.screen.text.contains("[6 Stats]"))
    }

    func testTabCyclesThroughStatsAndBackToRequest() {
        let (app, _) = statsApp()
        app.press(.char("5"), .tab)
        XCTAssertEqual(app.state.view, .stats)
        app.press(.tab)
        XCTAssertEqual(app.state.view, .request)
        app.press(.backTab)
        XCTAssertEqual(app.state.view, .stats)
        app.press(.backTab)
        XCTAssertEqual(app.state.view, .audit)
    }

    func testAChangeSoonAfterALoadWaitsForTheRefreshInterval() {
        let (app, _) = statsApp()
        app.press(.char("6"))
        let s = app.state
        let (changed, fx) = Console.reduce(s, .storeChanged)
        XCTAssertFalse(fx.contains { if case .loadStats = $0 { return true }; return false })
        XCTAssertTrue(changed.stats.stale)
        let early = Console.reduce(changed, .tick(s.now.addingTimeInterval(Console.statsRefreshInterval - 1))).1
        XCTAssertFalse(early.contains { if case .loadStats = $0 { return true }; return false })
        let due = Console.reduce(changed, .tick(s.now.addingTimeInterval(Console.statsRefreshInterval))).1
        XCTAssertTrue(due.contains(.loadStats(since: s.now.addingTimeInterval(Console.statsRefreshInterval - 30 * 86_400))), "\(due)")
    }

    func testAChangeLongAfterTheLastLoadReloadsAtOnce() {
        let (app, _) = statsApp()
        app.press(.char("6"))
        let later = Console.reduce(app.state, .tick(fixedNow.addingTimeInterval(60))).0
        let fx = Console.reduce(later, .storeChanged).1
        XCTAssertTrue(fx.contains(.loadStats(since: fixedNow.addingTimeInterval(60 - 30 * 86_400))), "\(fx)")
    }

    func testQuietTicksDoNotReload() {
        let (app, _) = statsApp()
        app.press(.char("6"))
        let fx = Console.reduce(app.state, .tick(fixedNow.addingTimeInterval(600))).1
        XCTAssertFalse(fx.contains { if case .loadStats = $0 { return true }; return false }, "nothing changed: nothing to load")
    }

    func testChangesWhileAnotherViewIsShownDoNotLoadStats() {
        let (app, backend) = statsApp()
        app.press(.char("2"))
        app.handle(.storeChanged)
        XCTAssertEqual(backend.reportCalls, [])
    }

    func testAFailedLoadSaysWhy() {
        let (app, backend) = statsApp()
        backend.activity = nil
        app.press(.char("6"))
        XCTAssertTrue(app.screen.text.contains("✗ could not load: this console's backend has no report"), app.screen.text)
    }

    func testAFailedLoadIsTriedAgainAfterTheRefreshInterval() {
        let (app, backend) = statsApp()
        backend.activity = nil
        app.press(.char("6"))
        backend.activity = sampleActivity()
        app.handle(.tick(fixedNow.addingTimeInterval(1)))
        XCTAssertNotNil(app.state.stats.error, "not before the interval")
        app.handle(.tick(fixedNow.addingTimeInterval(Console.statsRefreshInterval)))
        XCTAssertNil(app.state.stats.error)
        XCTAssertEqual(app.state.stats.report, sampleActivity())
        XCTAssertEqual(backend.reportCalls.count, 2)
    }

    func testTheViewShowsEachFlowsFiguresAndTheTotal() {
        let (app, _) = statsApp()
        app.press(.char("6"))
        let lines = app.screen.text.split(separator: "\n").map(String.init)
        let prod = lines.first { $0.contains("prod-access") } ?? ""
        XCTAssertTrue(prod.contains("4m 12s") && prod.contains("23m 00s"), prod)
        let total = lines.first { $0.contains("all flows") } ?? ""
        XCTAssertEqual(total.split(separator: " ").prefix(10).map(String.init), ["all", "flows", "54", "46", "3", "3", "1", "4", "3m", "10s"], total)
        XCTAssertTrue(lines.contains { $0.contains("Requests per day") && $0.contains("max 4") })
        XCTAssertTrue(lines.contains { $0.contains("Grants active (peak)") && $0.contains("max 3") })
    }

    func testSparklineScalesToTheLargestAndZeroIsTheLowestLevel() {
        XCTAssertEqual(Chart.sparkline([0, 1, 2, 4, 8], ascii: false), "▁▂▃▅█")
        XCTAssertEqual(Chart.sparkline([0, 1, 2, 4, 8], ascii: true), ".:-+#")
        XCTAssertEqual(Chart.sparkline([0, 0], ascii: false), "▁▁")
    }

    func testBarFillsToTheMedianAndShadesOnToP90() {
        XCTAssertEqual(Chart.bar(30, upTo: 60, scale: 60, width: 10, ascii: false), "█████░░░░░")
        XCTAssertEqual(Chart.bar(30, upTo: 45, scale: 60, width: 8, ascii: true), "####..  ")
        XCTAssertEqual(Chart.bar(nil, upTo: nil, scale: 60, width: 4, ascii: true), "    ")
    }

    func testASCIIChartsUseNoBlockCharacters() {
        let (app, _) = statsApp()
        app.press(.char("6"))
        var s = app.state
        s.stats.ascii = true
        let text = render(state: s, size: (24, 80)).text
        XCTAssertFalse(text.contains { Chart.blocks.contains($0) || $0 == "░" }, text)
        XCTAssertTrue(text.contains("#"))
    }

    func testHelpListsTheStatsKeyFromTheKeymap() {
        XCTAssertTrue(Keymap.helpLines().contains { $0.contains("6") && $0.contains("Stats view") })
    }
}

/// `symtui report`'s text: a table per flow with a total, then one row per UTC day.
final class ReportTextTests: XCTestCase {
    func testTheTableRightAlignsFiguresAndNamesEachDay() {
        let text = ReportCommand.text(sampleActivity())
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("report: requests created 2026-12-16T08:00:00Z – 2027-01-15T08:00:00Z"), lines[0])
        XCTAssertEqual(lines[2].split(separator: " ").map(String.init),
                       ["flow", "requests", "approved", "denied", "expired", "cancelled", "failed", "pending", "break-glass", "median", "p90"])
        XCTAssertEqual(lines[3], "prod-access        42        35       3        2          1       1        0            0  4m 12s  23m 00s")
        XCTAssertTrue(lines.contains { $0.hasPrefix("all flows") && $0.hasSuffix("3m 10s  20m 00s") })
        XCTAssertEqual(lines.filter { $0.range(of: #"^\d{4}-\d{2}-\d{2} +\d+ +\d+$"#, options: .regularExpression) != nil }.count, 31)
    }

    func testDurationsReadAsWaits() {
        XCTAssertEqual(ReportCommand.duration(nil), "—")
        XCTAssertEqual(ReportCommand.duration(0.25), "0.2s")
        XCTAssertEqual(ReportCommand.duration(42), "42s")
        XCTAssertEqual(ReportCommand.duration(200), "3m 20s")
        XCTAssertEqual(ReportCommand.duration(3900), "1h 05m")
        XCTAssertEqual(ReportCommand.duration(2 * 86_400 + 3 * 3600), "2d 3h")
    }
}
