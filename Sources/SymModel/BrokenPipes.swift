import Foundation

/// The one place a process stops SIGPIPE from killing it: a peer that goes away mid-write (the daemon, a client,
/// a program that exits before reading all of its stdin) then gives EPIPE, which the writer reports as an error
/// with its exit code. Each process calls it once, first thing: `symtui` (CLI, console, daemon) from its entry
/// point, the bench from its main, test processes through SymTestSupport. Programs the daemon runs get the
/// default disposition back.
public enum BrokenPipes {
    /// Ignores SIGPIPE for the whole process (idempotent).
    public static func ignore() { _ = ignored }

    private static let ignored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()
}
