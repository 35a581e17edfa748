import Foundation
import SymModel
import SymProtocol
import SymStore

/// A message a handler sends (the SDK's `send_message`, Sym's `slack.send_message`): the answer's `messages` list,
/// each `{"channel": NAME, "text": T}` or `{"user": NAME, "text": T}` (docs/handlers.md).
public struct HandlerMessage: Sendable, Equatable {
    public enum Destination: Sendable, Equatable {
        /// A `notifications.channels` entry.
        case channel(String)
        /// A person, reached on the flow's notification channels.
        case user(String)
    }
    public var to: Destination
    /// Neutralised (SafeText) when read from the answer.
    public var text: String

    public init(to: Destination, text: String) { self.to = to; self.text = text }

    /// What one answer may carry.
    public static let maxCount = 10
    public static let maxBytes = 4096
    public static let maxTotalBytes = 16_384

    public var json: JSONValue {
        switch to {
        case let .channel(name): return .obj([("channel", .string(name)), ("text", .string(text))])
        case let .user(name): return .obj([("user", .string(name)), ("text", .string(text))])
        }
    }

    /// The answer's `messages` (none when absent), bounded in count and bytes.
    public static func parse(answer: JSONValue) throws(HandlerAnswerError) -> [HandlerMessage] {
        guard let value = answer["messages"], !value.isNull else { return [] }
        guard let items = value.arrayValue else { throw HandlerAnswerError("\"messages\" must be a list") }
        guard items.count <= maxCount else { throw HandlerAnswerError("\(items.count) messages in one answer; at most \(maxCount)") }
        var out: [HandlerMessage] = []
        var total = 0
        for (i, item) in items.enumerated() {
            guard item.objectValue != nil, let raw = item["text"]?.stringValue else {
                throw HandlerAnswerError("message \(i + 1) must be an object with a \"text\" string")
            }
            let bytes = raw.utf8.count
            guard bytes <= maxBytes else { throw HandlerAnswerError("message \(i + 1) has \(bytes) bytes; at most \(maxBytes)") }
            total += bytes
            guard total <= maxTotalBytes else { throw HandlerAnswerError("the messages have more than \(maxTotalBytes) bytes together") }
            let channel = item["channel"]?.stringValue, user = item["user"]?.stringValue
            switch (channel, user) {
            case let (name?, nil) where !name.isEmpty: out.append(HandlerMessage(to: .channel(name), text: SafeText.display(raw)))
            case let (nil, name?) where !name.isEmpty: out.append(HandlerMessage(to: .user(name), text: SafeText.display(raw)))
            default: throw HandlerAnswerError("message \(i + 1) must name one \"channel\" or one \"user\"")
            }
        }
        return out
    }
}

/// One queued copy of a message: the channel and, for a channel that delivers to people, the person.
struct MessageDelivery {
    var channel: Channel
    var recipient: String
    var recipients: [String]
    var text: String
}

extension Engine {
    /// Where each message goes: a channel by its name; a user on every notification channel of the flow. The first
    /// message that cannot be delivered fails the handler step, in words for the audit.
    func deliveries(of messages: [HandlerMessage], flow: Flow) -> Result<[[MessageDelivery]], StrategyFailure> {
        let settings = config.notifications
        var out: [[MessageDelivery]] = []
        for m in messages {
            switch m.to {
            case let .channel(name):
                guard let channel = settings.channel(named: name) else {
                    let known = settings.channels.map(\.name)
                    return .failure(StrategyFailure("send_message: no notification channel \"\(SafeText.display(name))\""
                        + (known.isEmpty ? " (notifications.channels defines none)" : " (channels: \(known.joined(separator: ", ")))")))
                }
                guard !channel.isPerRecipient else {
                    return .failure(StrategyFailure("send_message: channel \(name) (\(channel.type.rawValue)) delivers to people; send to a user instead"))
                }
                out.append([MessageDelivery(channel: channel, recipient: "", recipients: [], text: m.text)])
            case let .user(name):
                guard StrategyText.isPlainName(name), Identity.userExists(name) else {
                    return .failure(StrategyFailure("send_message: no user \"\(SafeText.display(name))\""))
                }
                let channels = settings.channels(for: flow)
                guard !channels.isEmpty else {
                    return .failure(StrategyFailure("send_message: flow \(flow.name) has no notification channel to reach \(name) on"))
                }
                out.append(channels.map { MessageDelivery(channel: $0, recipient: $0.isPerRecipient ? name : "", recipients: [name], text: m.text) })
            }
        }
        return .success(out)
    }

    /// A run whose messages cannot all be delivered is a failed run (fail closed); others are as they came.
    func checkingMessages(_ outcome: HandlerOutcome, flow: Flow) -> HandlerOutcome {
        guard !outcome.messages.isEmpty, case let .failure(f) = deliveries(of: outcome.messages, flow: flow) else { return outcome }
        var failed = HandlerOutcome.failed(outcome.handler, f.message, durationMs: outcome.durationMs, stderrTail: outcome.stderrTail,
                                           exitCode: outcome.exitCode)
        failed.messages = outcome.messages
        return failed
    }

    /// Writes a run's `handler` event and, for a run that succeeded, queues its messages with a `notify` event each.
    func appendHandlerEvent(_ outcome: HandlerOutcome, request r: AccessRequest, tx: any StoreWriting, at t: Date) throws {
        try tx.append(Engine.handlerEvent(outcome, request: r), at: t)
        guard !outcome.didFail, !outcome.messages.isEmpty, let flow = config.flow(named: r.flow),
              case let .success(all) = deliveries(of: outcome.messages, flow: flow) else { return }
        // Each run sends its own messages (a hook run twice sends twice); a copy is queued once.
        let dedup = "\(outcome.handler):\(Int64((t.timeIntervalSince1970 * 1000).rounded(.down))):"
        for (index, copies) in all.enumerated() {
            let items = copies.map { d in
                let notice = NoticeDraft(kind: .message, audience: .requester, text: d.text)
                let payload = NotificationPayload.json(notice, request: r, recipients: d.recipients, channel: d.channel.name,
                                                       recipient: d.recipient.isEmpty ? nil : d.recipient, at: t)
                return OutboxItem(requestId: r.id == 0 ? nil : r.id, kind: NoticeKind.message.rawValue,
                                  dedup: dedup + String(index + 1), channel: d.channel.name, recipient: d.recipient,
                                  payload: payload.compact, createdAt: t, nextAttemptAt: Date(timeIntervalSince1970: 0))
            }
            guard try tx.enqueue(all: items) > 0 else { continue }
            try tx.append(EventDraft(type: .notify, requestId: r.id == 0 ? nil : r.id, flow: r.flow, target: r.target,
                                     requester: r.requester, actor: "system", reason: nil, data: .obj([
                ("kind", .string(NoticeKind.message.rawValue)), ("handler", .string(outcome.handler)),
                ("recipients", .array(copies.first.map { $0.recipients.map(JSONValue.string) } ?? [])),
                ("channels", .array(copies.map { .string($0.channel.name) })),
            ])), at: t)
        }
    }
}
