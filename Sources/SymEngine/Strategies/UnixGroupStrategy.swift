import Foundation
import SymModel
import SymProtocol
#if canImport(Glibc)
import Glibc
#endif

/// `unix_group`: adds the requester to the Unix group of setting `group`, and removes them again.
/// Membership means the group's member list (`getent group`), which is what `gpasswd` edits; users whose
/// primary group it is are not listed by `check` (symtui never grants that way).
public struct UnixGroupStrategy: AccessStrategy {
    public static let gpasswd = "/usr/bin/gpasswd"
    static let timeout: TimeInterval = 30

    public var strategy: Strategy
    public init(strategy: Strategy) { self.strategy = strategy }

    public func escalate(_ ctx: GrantContext) -> StrategyOutcome { change(ctx, toMember: true) }
    public func deescalate(_ ctx: GrantContext) -> StrategyOutcome { change(ctx, toMember: false) }

    /// One lock per group for every change this process makes. `gpasswd` reads the group before it takes the
    /// /etc/group lock and writes the whole entry back (shadow-maint/shadow#347), so two runs on one group at once
    /// lose one of the changes: 8 parallel `gpasswd -a` on one group lost an addition in 10 of 10 rounds here.
    static let groupLocks = KeyedLocks()

    /// Adds or removes the user; already being in the wanted state is success (idempotent). A user another active
    /// grant still covers is kept.
    private func change(_ ctx: GrantContext, toMember: Bool) -> StrategyOutcome {
        let user = ctx.user
        let group: String
        switch validated(user: user, settings: ctx.settings) {
        case let .failure(f): return .failure(f.message)
        case let .success(g): group = g
        }
        var data: [(String, JSONValue)] = [("group", .string(group)), ("user", .string(user))]
        if !toMember && ctx.otherActiveHolders.contains(user) {
            return .success(data: data + [("kept", .bool(true)),
                                          ("kept_reason", .string("another active grant of \(user) covers \(group)"))])
        }
        return Self.groupLocks.withLock(group) {
            switch Self.members(of: group) {
            case let .failure(f): return .failure(f.message, data: data)
            case let .success(members) where members.contains(user) == toMember:
                return .success(data: data + [(toMember ? "already_member" : "already_absent", .bool(true))])
            case .success: break
            }
            return run([toMember ? "-a" : "-d", user, "--", group], user: user, group: group, wantMember: toMember, data: &data)
        }
    }

    public func check(target: Target) -> Result<AccessCheck, StrategyFailure>? {
        guard let group = strategy.settings(for: target)["group"]?.stringValue, StrategyText.isPlainName(group) else {
            return .failure(StrategyFailure("unix_group target \(target.name): setting `group` is missing or not a plain group name"))
        }
        return Self.members(of: group).map { AccessCheck(users: Set($0)) }
    }

    private func validated(user: String, settings: [String: JSONValue]) -> Result<String, StrategyFailure> {
        guard let group = settings["group"]?.stringValue else { return .failure(StrategyFailure("unix_group: setting `group` is missing")) }
        guard StrategyText.isPlainName(group) else { return .failure(StrategyFailure("unix_group: \"\(group)\" is not a plain group name")) }
        guard StrategyText.isPlainName(user) else { return .failure(StrategyFailure("unix_group: \"\(user)\" is not a plain user name")) }
        return .success(group)
    }

    /// Runs gpasswd; the membership afterwards decides, whatever gpasswd said: another program may have done the
    /// same meanwhile, or (gpasswd and usermod outside symtui race the same way) undone it. Not there yet = retry.
    private func run(_ args: [String], user: String, group: String, wantMember: Bool,
                     data: inout [(String, JSONValue)]) -> StrategyOutcome {
        let result: ProcessResult
        do {
            result = try ProcessRunner.run(path: Self.gpasswd, arguments: args, environment: StrategyEnvironment.base,
                                           timeout: Self.timeout)
        } catch {
            return .failure("\(error)", data: data)
        }
        data.append(("gpasswd", result.auditData))
        let isMember = (try? Self.members(of: group).get())?.contains(user)
        if isMember == wantMember { return .success(data: data) }
        let verb = wantMember ? "add \(user) to" : "remove \(user) from"
        if result.succeeded {
            return .failure("cannot \(verb) group \(group): gpasswd succeeded but the group "
                            + (isMember == nil ? "could not be read back" : "does not show it (changed by another program meanwhile?)"),
                            data: data)
        }
        return .failure("cannot \(verb) group \(group): gpasswd \(result.summary)", data: data)
    }

    /// The member list of a group, read through NSS like `getent group`.
    static func members(of group: String) -> Result<[String], StrategyFailure> {
        var size = 16_384
        while size <= 1 << 24 {
            var entry = group_t()
            var found: UnsafeMutablePointer<group_t>?
            var buffer = [CChar](repeating: 0, count: size)
            let rc = getgrnam_r(group, &entry, &buffer, size, &found)
            if rc == ERANGE { size *= 4; continue }
            if rc != 0 { return .failure(StrategyFailure("cannot read group \(group): \(String(cString: strerror(rc)))")) }
            guard found != nil else { return .failure(StrategyFailure("group \(group) does not exist")) }
            var names: [String] = []
            var p = entry.gr_mem
            while let q = p, let name = q.pointee {
                names.append(String(cString: name))
                p = q + 1
            }
            return .success(names)
        }
        return .failure(StrategyFailure("cannot read group \(group): entry too large"))
    }
}

#if canImport(Glibc)
typealias group_t = Glibc.group
#endif
