import Foundation
import XCTest
import SymModel
import SymTestSupport
@testable import SymTUI

/// The request form and the CLI (`FieldValues.resolve`, which the daemon runs on `--field` values) are driven
/// through the same corpora: they accept and refuse the same values, with the same messages.
final class FormFieldCorpusTests: XCTestCase {
    /// What typing a corpus line into the form gave.
    enum FormOutcome {
        /// The line cannot be typed into the form (an unknown field, a value outside a toggle or choice).
        case notExpressible(String)
        case sent([String: FieldValue])
        /// Each field's error beside it.
        case refused([String: String])
    }

    /// Opens the form of `entry`'s flow and types its inputs key by key, then presses Enter on Submit.
    private func typeIntoForm(_ entry: FieldCorpus.Entry) -> FormOutcome {
        let flow = entry.flow
        let summary = FlowSummary(name: flow.name, targets: flow.strategy == nil ? [] : [TargetSummary(name: "t")],
                                  promptFields: flow.promptFields.filter(\.visible), maxDuration: flow.maxDuration)
        var s = ConsoleState(identity: ConsoleIdentity(user: "alice", storePath: "/tmp/x.db"), now: fixedNow)
        func press(_ k: Key) { s = Console.reduce(s, .key(k)).0 }
        s = Console.reduce(s, .flowsLoaded([summary])).0
        press(.enter)
        guard let form = s.form else { return .notExpressible("the form did not open") }
        for (name, value) in entry.inputs {
            guard let i = form.fields.firstIndex(where: { $0.field.name == name }) else { return .notExpressible("no field \(name)") }
            let text = value.stringValue ?? value.compact
            while s.form?.focus != i { press(.tab) }
            switch s.form!.fields[i].input {
            case let .text(old):
                press(.ctrl("e"))
                for _ in 0..<old.count { press(.backspace) }
                for c in text { press(c == " " ? .char(" ") : .char(c)) }
            case let .toggle(on):
                guard text == "true" || text == "false" else { return .notExpressible("\(name) is a toggle") }
                if on != (text == "true") { press(.char(" ")) }
            case .multiple:
                return .notExpressible("\(name) is a list of allowed values (FormChoiceTests)")
            case let .choice(_, allowed):
                guard allowed.contains(where: { $0.description == text }) else { return .notExpressible("\(name) is a choice") }
                while case let .choice(k, _)? = s.form?.fields[i].input, k < 0 || allowed[k].description != text { press(.right) }
            }
        }
        while s.form?.onSubmit == false { press(.tab) }
        let (after, fx) = Console.reduce(s, .key(.enter))
        if case let .send(.submit(_, _, fields, _))? = fx.first { return .sent(fields) }
        var errors: [String: String] = [:]
        for f in after.form?.fields ?? [] { if let e = f.error { errors[f.field.name] = e } }
        return .refused(errors)
    }

    /// The CLI's verdict, split into what the form checks itself and what it leaves to the daemon (users).
    private func cli(_ entry: FieldCorpus.Entry) -> (values: [String: FieldValue]?, problems: [FieldProblem], userProblems: [FieldProblem]) {
        switch FieldValues.resolve(flow: entry.flow, inputs: entry.fieldInputs, userExists: FieldCorpus.users.contains) {
        case let .success(v): return (v, [], [])
        case let .failure(p):
            let users = p.filter { $0.message.hasPrefix("there is no user") }
            return (nil, p.filter { !$0.message.hasPrefix("there is no user") }, users)
        }
    }

    func testTheFormRefusesWhatTheCLIRefusesWithTheSameMessages() throws {
        var driven = 0
        for e in try FieldCorpus.load("bad-fields.jsonl") where !e.asJSON {
            let verdict = cli(e)
            XCTAssertNil(verdict.values, "line \(e.line): the CLI accepts a bad line")
            switch typeIntoForm(e) {
            case .notExpressible:
                continue
            case let .sent(values):
                // Only a user that does not exist gets past the form: the daemon refuses it, with the CLI's message.
                XCTAssertTrue(verdict.problems.isEmpty && !verdict.userProblems.isEmpty,
                              "line \(e.line): the form sent \(values) that the CLI refuses: \(verdict.problems.map(\.description))")
                XCTAssertTrue(verdict.userProblems.contains { $0.description.contains(e.expect ?? "?") }, "line \(e.line)")
            case let .refused(errors):
                driven += 1
                XCTAssertFalse(verdict.problems.isEmpty, "line \(e.line): the form refuses what the CLI accepts: \(errors)")
                XCTAssertEqual(Set(errors.keys), Set(verdict.problems.map(\.field)), "line \(e.line): refused fields differ")
                for p in verdict.problems {
                    XCTAssertTrue(errors[p.field]?.contains(p.message) ?? false,
                                  "line \(e.line): the form says \(errors[p.field] ?? "nothing") for \(p.field), the CLI '\(p.message)'")
                }
                // Written as the CLI writes a problem ("field 'reason': is required"), the form's errors hold the fragment.
                XCTAssertTrue(errors.contains { "field '\($0.key)': \($0.value)".contains(e.expect ?? "?") },
                              "line \(e.line): no form error contains '\(e.expect ?? "?")': \(errors)")
            }
        }
        XCTAssertGreaterThanOrEqual(driven, 10, "too few bad lines could be typed into the form")
    }

    func testTheFormAcceptsWhatTheCLIAcceptsWithTheSameValues() throws {
        var driven = 0
        for e in try FieldCorpus.load("good-fields.jsonl") where !e.asJSON {
            let verdict = cli(e)
            guard let expected = verdict.values else { XCTFail("line \(e.line): the CLI refuses a good line"); continue }
            switch typeIntoForm(e) {
            case .notExpressible: continue
            case let .refused(errors): XCTFail("line \(e.line): the form refuses what the CLI accepts: \(errors)")
            case let .sent(values):
                driven += 1
                for (name, _) in e.inputs {
                    XCTAssertEqual(values[name], expected[name], "line \(e.line): field \(name) differs between the form and the CLI")
                }
            }
        }
        XCTAssertGreaterThanOrEqual(driven, 10, "too few good lines could be typed into the form")
    }
}
