import Foundation
import SymModel

/// An error with the exit code the CLI gives for it (sysexits).
public struct CommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public init(_ code: Int32, _ message: String) { self.code = code; self.message = message }
    public var description: String { message }

    public static func invalid(_ m: String) -> CommandError { CommandError(ExitCode.dataErr, m) }
    public static func notAllowed(_ m: String) -> CommandError { CommandError(ExitCode.noPerm, m) }

    public init(_ refusal: Refusal) {
        self.init(refusal.kind == .notAllowed ? ExitCode.noPerm : ExitCode.dataErr, refusal.message)
    }
}

/// The exit codes of contract §6 (sysexits.h).
public enum ExitCode {
    public static let ok: Int32 = 0
    public static let negative: Int32 = 1
    public static let usage: Int32 = 64
    public static let dataErr: Int32 = 65
    public static let noInput: Int32 = 66
    public static let unavailable: Int32 = 69
    public static let software: Int32 = 70
    public static let ioErr: Int32 = 74
    public static let tempFail: Int32 = 75
    public static let noPerm: Int32 = 77
}
