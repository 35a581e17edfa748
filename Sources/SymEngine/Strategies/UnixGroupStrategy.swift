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
    /// Removes the membership, then ends (or lists) the user's processes that still hold the group: supplementary
    /// groups are fixed when a process starts, so removal alone leaves running shells with the group. Re-running it
    /// after a crash finds the user already absent and goes on to the processes.
    public func deescalate(_ ctx: GrantContext) -> StrategyOutcome {
        let mode: EndSessions
        switch EndSessions.mode(ctx.settings, strategy: "unix_group") {
        case let .failure(f): return .failure(f.message)
        case let .success(m): mode = m
        }
        let removed = change(ctx, toMember: false)
        let kept = removed.data["kept"]?.boolValue == true
        guard removed.succeeded, !kept, let group = ctx.settings["group"]?.stringValue else { return removed }
        var sessions = SessionEnder.end(SessionHolders.holdingGroup(group, user: ctx.user), mode: mode)
        if mode == .terminate {
            // `sg`/`newgrp` check the membership, then take the group: one that checked just before the removal may
            // take it after the first scan. Scan again until a pass finds nothing new (bounded).
            for _ in 0..<3 {
                usleep(50_000)
                let seen = Set(sessions.map { "\($0.pid)/\($0.startTicks)" })
                let late = SessionHolders.holdingGroup(group, user: ctx.user).filter { !seen.contains("\($0.pid)/\($0.startTicks)") }
                if late.isEmpty { break }
                sessions += SessionEnder.end(late, mode: mode)
            }
        }
        return .withSessions(removed, sessions, who: ctx.user)
    }

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
        return Self.members(of: group).map { members in
            // Processes keep a group they started with; those of users who are no longer members still hold it.
            let holders = Self.processesHolding(group).filter { !members.contains($0.user) }
            return AccessCheck(users: Set(members), holders: holders)
        }
    }

    /// Every non-root process holding the group (supplementary or as its group id), with its user.
    static func processesHolding(_ group: String) -> [AccessHolder] {
        guard let gid = SessionHolders.gid(of: group) else { return [] }
        return ProcessTable.snapshot().filter { !$0.isZombie && $0.holds(gid: gid) && $0.uids[0] != 0 }.compactMap { e in
            guard let owner = SessionHolders.user(uid: e.uids[0]) else { return nil }
            if owner.gid == gid { return nil }   // the group is the user's own primary group
            return AccessHolder(user: owner.name, pid: e.pid, command: e.command)
        }
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
