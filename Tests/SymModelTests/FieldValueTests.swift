import Foundation
import XCTest
@testable import SymModel
import SymTestSupport

private func field(_ type: FieldType, _ name: String = "f") -> PromptField { PromptField(name: name, type: type) }

private func parsed(_ text: String, _ type: FieldType) -> FieldValue? {
    try? FieldValues.parse(.text(text), as: field(type)).get()
}

private func parsedJSON(_ json: String, _ type: FieldType) -> FieldValue? {
    guard let v = try? JSONValue.parse(json) else { return nil }
    return try? FieldValues.parse(.json(v), as: field(type)).get()
}

private let users: Set<String> = ["alice", "bob", "carol"]

private func resolve(_ flow: Flow, _ inputs: [String: String], prefetched: [String: [FieldValue]] = [:])
    -> Result<[String: FieldValue], [FieldProblem]> {
    FieldValues.resolve(flow: flow, inputs: inputs.mapValues(FieldInput.text), userExists: users.contains, prefetched: prefetched)
}

private func problemMessages(_ r: Result<[String: FieldValue], [FieldProblem]>) -> [String] {
    if case let .failure(p) = r { return p.map(\.description) }
    return []
}

final class FieldParsingTests: XCTestCase {
    func testStringTextIsKeptAsIs() {
        XCTAssertEqual(parsed("  hello ", .string), .string("  hello "))
    }

    func testStringWithNULIsRejected() {
        XCTAssertNil(parsed("a\u{0}b", .string))
    }

    func testStringLongerThan4096CharactersIsRejected() {
        XCTAssertNotNil(parsed(String(repeating: "x", count: 4096), .string))
        XCTAssertNil(parsed(String(repeating: "x", count: 4097), .string))
    }

    func testIntTextParses() {
        XCTAssertEqual(parsed("-42", .int), .int(-42))
        XCTAssertEqual(parsed("+7", .int), .int(7))
    }

    func testIntOutOfRangeIsRejected() {
        XCTAssertNil(parsed("9007199254740992", .int))
        XCTAssertNil(parsed("99999999999999999999999", .int))
        XCTAssertNil(parsedJSON("1e300", .int))
    }

    func testIntWithJunkIsRejected() {
        XCTAssertNil(parsed("1-2", .int))
        XCTAssertNil(parsed("1.5", .int))
        XCTAssertNil(parsed("0x10", .int))
    }

    func testBoolTextAcceptsTrueFalseYesNoOneZero() {
        for t in ["true", "yes", "1", "YES"] { XCTAssertEqual(parsed(t, .bool), .bool(true), t) }
        for f in ["false", "no", "0", "No"] { XCTAssertEqual(parsed(f, .bool), .bool(false), f) }
        XCTAssertNil(parsed("maybe", .bool))
    }

    func testDurationTextParses() {
        XCTAssertEqual(parsed("1h30m", .duration), .duration(TimeSpan(seconds: 5400)))
        XCTAssertNil(parsed("90", .duration))
    }

    func testListTextIsCommaSeparated() {
        XCTAssertEqual(parsed("a, b,c", .strList), .strList(["a", "b", "c"]))
        XCTAssertEqual(parsed("1,2", .intList), .intList([1, 2]))
        XCTAssertEqual(parsed("alice,bob", .userList), .userList(["alice", "bob"]))
    }

    func testListTextIgnoresEmptyItems() {
        XCTAssertEqual(parsed("a,,b, ", .strList), .strList(["a", "b"]))
    }

    func testIntListWithBadItemNamesTheItem() {
        guard case let .failure(p) = FieldValues.parse(.text("1,x"), as: field(.intList)) else { return XCTFail() }
        XCTAssertTrue(p.message.contains("item 2"), p.message)
    }

    func testUserNameMustBeValid() {
        XCTAssertNil(parsed("../root", .user))
        XCTAssertEqual(parsed("alice", .user), .user("alice"))
    }

    func testJSONValuesParseByType() {
        XCTAssertEqual(parsedJSON("5", .int), .int(5))
        XCTAssertEqual(parsedJSON("true", .bool), .bool(true))
        XCTAssertEqual(parsedJSON(#"["a","b"]"#, .strList), .strList(["a", "b"]))
        XCTAssertEqual(parsedJSON("[1,2]", .intList), .intList([1, 2]))
        XCTAssertEqual(parsedJSON(#""4h""#, .duration), .duration(TimeSpan(seconds: 14400)))
    }

    func testJSONWrongTypeIsNamed() {
        guard case let .failure(p) = FieldValues.parse(.json(.int(3)), as: field(.string, "reason")) else { return XCTFail() }
        XCTAssertEqual(p, FieldProblem(field: "reason", message: "expected a string, found a number"))
    }
}

final class FieldResolveTests: XCTestCase {
    let flow = Flow(name: "f", strategy: "s", maxDuration: TimeSpan(seconds: 4 * 3600), promptFields: [
        PromptField(name: "reason", type: .string),
        PromptField(name: "env", type: .string, required: false, allowedValues: [.string("dev"), .string("prod")]),
        PromptField(name: "duration", type: .duration, defaultValue: .duration(TimeSpan(seconds: 3600))),
        PromptField(name: "buddy", type: .user, required: false),
        PromptField(name: "team", type: .userList, required: false),
        PromptField(name: "ticket", type: .string, visible: false),
        PromptField(name: "dbs", type: .strList, required: false, allowedValues: [.string("a"), .string("b")]),
    ])

    func testDefaultsAreApplied() {
        let values = try? resolve(flow, ["reason": "x"]).get()
        XCTAssertEqual(values?["duration"], .duration(TimeSpan(seconds: 3600)))
        XCTAssertEqual(values?["reason"], .string("x"))
        XCTAssertNil(values?["env"])
    }

    func testRequiredVisibleFieldMustBeGiven() {
        XCTAssertEqual(problemMessages(resolve(flow, [:])), ["field 'reason': is required"])
    }

    func testRequiredHiddenFieldIsNotEnforced() {
        XCTAssertNotNil(try? resolve(flow, ["reason": "x"]).get())
    }

    func testEmptyTextCountsAsMissing() {
        XCTAssertEqual(problemMessages(resolve(flow, ["reason": "  "])), ["field 'reason': is required"])
    }

    func testUnknownFieldIsRejectedWithSuggestion() {
        let m = problemMessages(resolve(flow, ["reason": "x", "reasn": "y"]))
        XCTAssertEqual(m.count, 1)
        XCTAssertTrue(m.first?.contains("did you mean 'reason'?") ?? false, "\(m)")
    }

    func testAllowedValuesAreEnforced() {
        XCTAssertTrue(problemMessages(resolve(flow, ["reason": "x", "env": "test"])).first?.contains("not one of the allowed values") ?? false)
        XCTAssertEqual(try? resolve(flow, ["reason": "x", "env": "prod"]).get()["env"], .string("prod"))
    }

    func testListAllowedValuesApplyToEachItem() {
        XCTAssertNotNil(try? resolve(flow, ["reason": "x", "dbs": "a,b"]).get())
        XCTAssertTrue(problemMessages(resolve(flow, ["reason": "x", "dbs": "a,c"])).first?.contains("'c'") ?? false)
    }

    func testDurationLongerThanMaxDurationIsRejected() {
        XCTAssertTrue(problemMessages(resolve(flow, ["reason": "x", "duration": "5h"])).first?.contains("max_duration") ?? false)
    }

    func testUserFieldMustNameAnExistingUser() {
        XCTAssertEqual(problemMessages(resolve(flow, ["reason": "x", "buddy": "mallory"])), ["field 'buddy': there is no user 'mallory' on this system"])
        XCTAssertEqual(try? resolve(flow, ["reason": "x", "buddy": "bob"]).get()["buddy"], .user("bob"))
    }

    func testUserListNamesEveryMissingUser() {
        XCTAssertEqual(problemMessages(resolve(flow, ["reason": "x", "team": "alice,eve,zed"])).count, 2)
    }

    func testAllProblemsAreReportedTogether() {
        XCTAssertEqual(problemMessages(resolve(flow, ["env": "qa", "duration": "1d", "nope": "1"])).count, 4)
    }

    func testPrefetchedOptionsAreEnforced() {
        let f = Flow(name: "f", promptFields: [PromptField(name: "db", type: .string, prefetch: true)])
        let ok = FieldValues.resolve(flow: f, inputs: ["db": .text("orders")], userExists: { _ in true }, prefetched: ["db": [.string("orders")]])
        XCTAssertNotNil(try? ok.get())
        let bad = FieldValues.resolve(flow: f, inputs: ["db": .text("users")], userExists: { _ in true }, prefetched: ["db": [.string("orders")]])
        XCTAssertTrue(problemMessages(bad).first?.contains("offered options") ?? false)
    }

    func testJSONInputsResolve() {
        let r = FieldValues.resolve(flow: flow, inputs: ["reason": .json(.string("x")), "duration": .json(.string("2h")), "env": .json(.null)],
                                    userExists: users.contains)
        XCTAssertEqual(try? r.get()["duration"], .duration(TimeSpan(seconds: 7200)))
    }
}

/// Runs Tests/Fixtures/bad-fields.jsonl and good-fields.jsonl (see `FieldCorpus`) through the model.
final class BadFieldCorpusTests: XCTestCase {
    func testEveryBadFieldLineIsRejectedWithItsMessage() throws {
        let entries = try FieldCorpus.load("bad-fields.jsonl")
        XCTAssertGreaterThanOrEqual(entries.count, 15)
        for e in entries {
            let expect = e.expect ?? "?"
            let result = FieldValues.resolve(flow: e.flow, inputs: e.fieldInputs, userExists: FieldCorpus.users.contains)
            guard case let .failure(problems) = result else {
                XCTFail("line \(e.line): expected a problem containing '\(expect)', got success"); continue
            }
            XCTAssertTrue(problems.contains { $0.description.contains(expect) },
                          "line \(e.line): no problem contains '\(expect)': \(problems.map(\.description))")
        }
    }

    func testEveryGoodFieldLineIsAccepted() throws {
        let entries = try FieldCorpus.load("good-fields.jsonl")
        XCTAssertGreaterThanOrEqual(entries.count, 10)
        for e in entries {
            if case let .failure(problems) = FieldValues.resolve(flow: e.flow, inputs: e.fieldInputs, userExists: FieldCorpus.users.contains) {
                XCTFail("good line \(e.line) refused: \(problems.map(\.description))")
            }
        }
    }
}

// MARK: - blank text: `isAll(in:)` says what trimming would, without trimming

final class BlankTextTests: XCTestCase {
    let samples = ["", " ", "\t", "\n", " \n\t ", "a", " a ", "\u{3000}", "\u{00A0}x", "\u{2028}", "\u{0085}", "\r\n",
                   "\u{200B}", "👍", " 👍 ", "e\u{301}", "\u{1680}\u{2000}\u{200A}\u{202F}\u{205F}", "\u{0B}\u{0C}"]

    func testIsAllInWhitespacesAgreesWithTrimming() {
        for s in samples {
            XCTAssertEqual(s.isAll(in: .whitespaces), s.trimmingCharacters(in: .whitespaces).isEmpty, s.debugDescription)
        }
    }

    func testIsAllInWhitespacesAndNewlinesAgreesWithTrimming() {
        for s in samples {
            XCTAssertEqual(s.isAll(in: .whitespacesAndNewlines), s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                           s.debugDescription)
        }
    }
}
