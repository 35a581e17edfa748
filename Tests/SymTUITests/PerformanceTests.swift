import Foundation
import XCTest
import SymModel
import SymProtocol
@testable import SymTUI

/// Rendering cost with a 10,000-row queue: only the visible window is laid out.
final class PerformanceTests: XCTestCase {
    func testRenderingAFrameOfATenThousandRowQueue() {
        let backend = standardBackend()
        backend.rows[.review] = (1...10_000).map { request(Int64($0), "user\($0 % 97)", reason: "reason number \($0) 東京", createdMinutesAgo: Double($0 % 60)) }
        for (rows, cols) in [(24, 80), (40, 120)] {
            let app = startedApp(backend, rows: rows, cols: cols)
            app.press(.pageDown, .pageDown)
            let state = app.state
            _ = render(state: state, size: (rows, cols))
            let n = 200
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<n { _ = render(state: state, size: (rows, cols)) }
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(n) / 1_000_000
            print("render \(cols)x\(rows), 10,000-row review queue: \(String(format: "%.3f", ms)) ms per frame (budget 2 ms)")
        }
    }
}
