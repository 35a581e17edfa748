import Foundation
import SymModel
import SymProtocol

/// `symtui notify test`: check a notification channel from the command line.
enum NotifyCommands {
    static var specs: [SubcommandSpec] { [
        SubcommandSpec(words: ["notify", "test"], summary: "send a test notification on one channel now and say how it went",
                    arguments: [ArgumentSpec(name: "CHANNEL", help: "a channel of notifications.channels")],
                    options: [.value("to", "USER", "the recipient (default: you; only root may name someone else)")],
                    details: """
                    The daemon delivers it at once (not through the outbox) and answers: exit 0 when the channel took it,
                    69 with the channel's error when it did not. A tty channel says so when you are not logged in or have
                    messages off (mesg n); an email channel when the recipient has no address. The JSON a command or json
                    channel gets has kind "test"; a pagerduty channel gets a trigger and its resolve.
                    """,
                    run: test),
    ] }

    static func test(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        guard let channel = a.positionals.first else { throw UsageError(message: "notify test needs a CHANNEL") }
        let reply = try c.client().send(.notifyTest(channel: channel, to: a.value("to")))
        if let refusal = Wire.refusal(in: reply) { throw refusal }
        if c.json { Output.json(reply); return ExitCode.ok }
        let to = reply["to"]?.stringValue ?? "?"
        if reply["delivered"]?.boolValue == true {
            Output.print("\(SafeText.display(channel)): delivered to \(SafeText.display(to))")
        } else {
            Output.print("\(SafeText.display(channel)): nothing sent to \(SafeText.display(to)): \(SafeText.display(reply["note"]?.stringValue ?? ""))")
        }
        return ExitCode.ok
    }
}

/// `symtui oncall`: who is on call, now or at a time.
enum OnCallCommands {
    static var specs: [SubcommandSpec] { [
        SubcommandSpec(words: ["oncall"], summary: "who is on call on each schedule (or one), now or at a time",
                    arguments: [ArgumentSpec(name: "NAME", optional: true, help: "one schedule of the config's oncall")],
                    options: [.value("at", "TIME", "an RFC 3339 time (UTC), e.g. 2026-12-24T12:00:00Z (default: now)")],
                    details: """
                    Rotations are computed from the config (fixed-length shifts in UTC from start; an override covering
                    the time wins); a command schedule's program is run by the daemon. A schedule that cannot say (a
                    failing program, a line that is not a user name) has nobody on call, and says why.
                    """,
                    run: show),
    ] }

    static func show(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        if let at = a.value("at"), Timestamp.parse(at) == nil {
            throw UsageError(message: "--at: '\(SafeText.display(at))' is not an RFC 3339 time like 2026-12-07T09:00:00Z")
        }
        let reply = try c.client().send(.onCall(schedule: a.positionals.first, at: a.value("at")))
        if let refusal = Wire.refusal(in: reply) { throw refusal }
        if c.json { Output.json(reply); return ExitCode.ok }
        let rows = (reply["schedules"]?.arrayValue ?? []).map { s -> [String] in
            let users = (s["users"]?.arrayValue ?? []).compactMap(\.stringValue).map(SafeText.display)
            let who = users.isEmpty ? "nobody" : users.joined(separator: ", ")
            return [SafeText.display(s["name"]?.stringValue ?? ""), s["type"]?.stringValue ?? "", who,
                    s["error"]?.stringValue.map(SafeText.display) ?? ""]
        }
        if rows.isEmpty { Output.print("no on-call schedules configured (oncall)"); return ExitCode.ok }
        Output.print("at \(reply["at"]?.stringValue ?? "")")
        Output.print(Output.table(["SCHEDULE", "TYPE", "ON CALL", "PROBLEM"], rows))
        return ExitCode.ok
    }
}
