import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SymModel
import SymProtocol

/// `http`: POSTs `{action, request, user, target}` as JSON to setting `url` (with optional `headers` and
/// `timeout`); a 2xx answer means done. A JSON response body is kept as step output and sent back to
/// deescalation as `step_output`. `check` POSTs `{action: "check", target}` and expects a JSON array of users.
public struct HTTPStrategy: AccessStrategy {
    public static let defaultTimeout: TimeInterval = 30
    static let maxBodyInError = 200

    public var strategy: Strategy
    public init(strategy: Strategy) { self.strategy = strategy }

    public func escalate(_ ctx: GrantContext) -> StrategyOutcome { grant("escalate", ctx) }
    public func deescalate(_ ctx: GrantContext) -> StrategyOutcome { grant("deescalate", ctx) }

    public func check(target: Target) -> Result<AccessCheck, StrategyFailure>? {
        let settings = strategy.settings(for: target)
        let body = JSONValue.obj([("action", .string("check")), ("target", Self.targetJSON(target))])
        switch post(body, settings: settings) {
        case let .failure(f): return .failure(f)
        case let .success(response):
            guard (200...299).contains(response.status) else {
                return .failure(StrategyFailure("check: \(response.describe())"))
            }
            return CommandStrategy.parseUsers(String(decoding: response.body, as: UTF8.self)).map { AccessCheck(users: $0) }
        }
    }

    /// The JSON body of an escalation or deescalation.
    public static func body(action: String, ctx: GrantContext) -> JSONValue {
        var pairs: [(String, JSONValue?)] = [("action", .string(action)), ("request", ctx.request.json),
                                             ("user", .string(ctx.user)), ("target", targetJSON(ctx.target))]
        if action == "deescalate", let text = ctx.stepOutput {
            pairs.append(("step_output", (try? JSONValue.parse(text)) ?? .string(text)))
        }
        return .obj(pairs)
    }

    static func targetJSON(_ target: Target) -> JSONValue {
        .obj([("name", .string(target.name)), ("label", .string(target.label)),
              ("settings", .object(target.settings.keys.sorted().map { ($0, target.settings[$0]!) }))])
    }

    private func grant(_ action: String, _ ctx: GrantContext) -> StrategyOutcome {
        let settings = ctx.settings
        let url = settings["url"]?.stringValue.flatMap(URL.init(string:)).map(Self.redacted)
        var data: [(String, JSONValue)] = [("action", .string(action)), ("url", .str(url))]
        switch post(Self.body(action: action, ctx: ctx), settings: settings) {
        case let .failure(f): return .failure(f.message, data: data)
        case let .success(response):
            data += [("status", .int(Int64(response.status))), ("duration_ms", .int(Int64(response.durationMs)))]
            let json = response.body.isEmpty ? nil : try? JSONValue.parse(data: response.body)
            if let json { data.append(("output", StepOutput.shown(json))) }
            guard (200...299).contains(response.status) else {
                return .failure("\(action): \(response.describe())", data: data)
            }
            return .success(output: json?.compact, data: data)
        }
    }

    struct Response: Sendable {
        var url: String
        var status: Int
        var body: Data
        var durationMs: Int

        func describe() -> String {
            let text = String(decoding: body.prefix(HTTPStrategy.maxBodyInError), as: UTF8.self)
            return "HTTP \(status) from \(url)" + (text.isEmpty ? "" : ": \(text)")
        }
    }

    private func post(_ body: JSONValue, settings: [String: JSONValue]) -> Result<Response, StrategyFailure> {
        guard let urlText = settings["url"]?.stringValue, let url = URL(string: urlText),
              let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil else {
            return .failure(StrategyFailure("http: setting `url` must be an http(s) URL"))
        }
        let shown = Self.redacted(url)
        let timeout = StrategyText.seconds(settings, "timeout", default: Self.defaultTimeout)
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("symtui", forHTTPHeaderField: "User-Agent")
        for (name, value) in settings["headers"]?.objectValue ?? [] {
            if let text = value.stringValue { request.setValue(text, forHTTPHeaderField: name) }
        }
        request.httpBody = Data(body.compact.utf8)

        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = timeout
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        let session = URLSession(configuration: config, delegate: RefuseRedirects(), delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }

        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        let started = DispatchTime.now()
        let task = session.dataTask(with: request) { data, response, error in
            box.set(data: data, response: response, error: error)
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeout + 5) == .timedOut {
            task.cancel()
            return .failure(StrategyFailure("http: \(shown): no answer within \(Int(timeout)) s"))
        }
        let elapsed = Int((DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1_000_000)
        let (data, response, error) = box.get()
        if let error { return .failure(StrategyFailure("http: \(shown): \(Self.describe(error))")) }
        guard let http = response as? HTTPURLResponse else {
            return .failure(StrategyFailure("http: \(shown): the answer is not HTTP"))
        }
        return .success(Response(url: shown, status: http.statusCode, body: data ?? Data(), durationMs: elapsed))
    }

    /// The URL without credentials or query, for errors and audit data (either may carry a secret).
    static func redacted(_ url: URL) -> String {
        guard var parts = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return "(url)" }
        parts.user = nil; parts.password = nil; parts.query = nil; parts.fragment = nil
        return parts.string ?? "(url)"
    }

    static func describe(_ error: any Error) -> String {
        guard let e = error as? URLError else { return error.localizedDescription }
        switch e.code {
        case .cannotConnectToHost: return "connection refused (is the service running?)"
        case .timedOut: return "timed out"
        case .cannotFindHost, .dnsLookupFailed: return "cannot resolve the host"
        case .networkConnectionLost: return "the connection was closed before an answer"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
             .serverCertificateHasUnknownRoot, .serverCertificateNotYetValid:
            return "TLS failed: \(e.localizedDescription)"
        default: return e.localizedDescription
        }
    }
}

/// A redirected POST would reach something else than the configured service (or turn into a GET): a 3xx is an answer, not done.
private final class RefuseRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}

/// Carries the completion handler's values back to the waiting thread.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Data?, URLResponse?, (any Error)?) = (nil, nil, nil)
    func set(data: Data?, response: URLResponse?, error: (any Error)?) { lock.withLock { value = (data, response, error) } }
    func get() -> (Data?, URLResponse?, (any Error)?) { lock.withLock { value } }
}
