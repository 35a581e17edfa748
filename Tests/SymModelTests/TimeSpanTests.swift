import Foundation
import XCTest
@testable import SymModel

final class TimeSpanTests: XCTestCase {
    func testParsesTheSpecsDurations() {
        let cases: [(String, Int)] = [("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172_800), ("1d2h3m4s", 93_784),
                                      ("1h", 3600), ("45m30s", 2730), ("3650d", 3650 * 86_400)]
        for (text, seconds) in cases { XCTAssertEqual(TimeSpan(parsing: text)?.seconds, seconds, text) }
    }

    func testRejectsMalformedDurations() {
        for text in ["", "0s", "0h0m", "1x", "h", "1h1h", "1m1h", "1s1m", "-5m", " 5m", "5m ", "5", "1.5h", "5M", "+5m", "1h 30m",
                     "١h", "3651d", "9999999999s", "99999999999999999999d"] {
            XCTAssertNil(TimeSpan(parsing: text), text.debugDescription)
        }
    }

    func testDescriptionIsTheShortestForm() {
        XCTAssertEqual(TimeSpan(seconds: 5400).description, "1h30m")
        XCTAssertEqual(TimeSpan(seconds: 93_784).description, "1d2h3m4s")
        XCTAssertEqual(TimeSpan(seconds: 86_400).description, "1d")
        XCTAssertEqual(TimeSpan(seconds: 59).description, "59s")
    }

    func testDescriptionParsesBackToTheSameSpan() {
        var rng = SplitMix64(seed: 42)
        var values = Array(1...5000) + [3599, 3600, 3601, 86_399, 86_400, 86_401, 3650 * 86_400]
        for _ in 0..<5000 { values.append(Int(rng.next() % UInt64(3650 * 86_400)) + 1) }
        for seconds in values {
            let span = TimeSpan(seconds: seconds)
            XCTAssertEqual(TimeSpan(parsing: span.description), span, "\(seconds) → \(span.description)")
        }
    }

    func testCountdownIsCoarse() {
        XCTAssertEqual(TimeSpan.countdown(3900), "1h05m")
        XCTAssertEqual(TimeSpan.countdown(252), "4m12s")
        XCTAssertEqual(TimeSpan.countdown(9), "9s")
        XCTAssertEqual(TimeSpan.countdown(-3), "0s")
        XCTAssertEqual(TimeSpan.countdown(86_400 + 3 * 3_600), "1d03h")
        XCTAssertEqual(TimeSpan.countdown(2 * 86_400 + 11 * 3_600 + 59), "2d11h")
        XCTAssertEqual(TimeSpan.countdown(3_600 + 60 * 12), "1h12m")
        XCTAssertEqual(TimeSpan.countdown(60), "1m00s")
    }

    func testCountdownShowsSecondsOnlyUnderTenMinutes() {
        XCTAssertEqual(TimeSpan.countdown(599), "9m59s")
        XCTAssertEqual(TimeSpan.countdown(600), "10m")
        XCTAssertEqual(TimeSpan.countdown(3_552), "59m")
        XCTAssertEqual(TimeSpan.countdown(3_600), "1h00m")
    }

    func testCountdownStepSpansExactlyTheValuesWithTheSameText() {
        for s in 1...(3 * 86_400) {
            let step = TimeSpan.countdownStep(s)
            let first = s / step * step, last = first + step - 1
            XCTAssertEqual(TimeSpan.countdown(first), TimeSpan.countdown(s), "\(s): step \(step) starts at \(first)")
            XCTAssertEqual(TimeSpan.countdown(last), TimeSpan.countdown(s), "\(s): step \(step) ends at \(last)")
            if first > 0 { XCTAssertNotEqual(TimeSpan.countdown(first - 1), TimeSpan.countdown(s), "\(s): the step below") }
            XCTAssertNotEqual(TimeSpan.countdown(last + 1), TimeSpan.countdown(s), "\(s): the step above")
        }
    }
}

final class TimeSpanTimestampTests: XCTestCase {
    let base = Date(timeIntervalSince1970: 1_795_773_600)  // 2026-11-27T10:00:00Z

    func testFormatsUTCWithZ() {
        XCTAssertEqual(Timestamp.format(base), "2026-11-27T10:00:00Z")
        XCTAssertEqual(Timestamp.format(base.addingTimeInterval(0.25)), "2026-11-27T10:00:00.250Z")
        XCTAssertEqual(Timestamp.format(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00Z")
    }

    func testParsesZOffsetsAndFractions() {
        XCTAssertEqual(Timestamp.parse("2026-11-27T10:00:00Z"), base)
        XCTAssertEqual(Timestamp.parse("2026-11-27t10:00:00z"), base)
        XCTAssertEqual(Timestamp.parse("2026-11-27T12:00:00+02:00"), base)
        XCTAssertEqual(Timestamp.parse("2026-11-27T04:30:00-05:30"), base)
        XCTAssertEqual(Timestamp.parse("2026-11-27T10:00:00.5Z")?.timeIntervalSince1970, 1_795_773_600.5)
        XCTAssertEqual(Timestamp.parse("2026-11-27T10:00:00.123456789Z").map(Timestamp.format), "2026-11-27T10:00:00.123Z")
        XCTAssertEqual(Timestamp.parse("2026-11-27"), Date(timeIntervalSince1970: 1_795_737_600))
    }

    func testRejectsWhatIsNotRFC3339() {
        for text in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-27T25:00:00Z", "2026-11-27T10:00Z", "27/11/2026",
                     "2026-11-27T10:00:00+0200"] {
            XCTAssertNil(Timestamp.parse(text), text)
        }
    }

    func testEveryMillisecondRoundTripsThroughFormatAndParse() {
        for ms in 0..<1000 {
            let text = String(format: "2026-11-27T10:00:00.%03dZ", ms)
            let expected = ms == 0 ? "2026-11-27T10:00:00Z" : text
            XCTAssertEqual(Timestamp.parse(text).map(Timestamp.format), expected)
        }
    }
}
