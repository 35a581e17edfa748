import Foundation

/// Names that the `ssh_cert` and `postgres_role` strategies hand to another program or server. They are
/// checked at config check and again at request time, so that nothing reaches `ssh-keygen` as an option
/// or SQL as syntax: no spaces, commas, quotes, line breaks or leading dashes.
public enum TargetNames {
    public static let maxPrincipalLength = 64
    /// PostgreSQL's NAMEDATALEN - 1.
    public static let maxRoleLength = 63

    /// An SSH certificate principal: a letter, digit or `_` first, then letters, digits, `.`, `_`, `-`, `@`.
    public static func isPrincipal(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...maxPrincipalLength).contains(bytes.count) else { return false }
        return bytes.enumerated().allSatisfy { i, b in
            isAlnum(b) || b == 0x5F || (i > 0 && (b == 0x2E || b == 0x2D || b == 0x40))
        }
    }

    /// A PostgreSQL role name we are willing to quote: a letter or `_` first, then letters, digits, `_`, `$`, `.`, `-`.
    public static func isDatabaseRole(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...maxRoleLength).contains(bytes.count), name.lowercased() != "public" else { return false }
        return bytes.enumerated().allSatisfy { i, b in
            isAlpha(b) || b == 0x5F || (i > 0 && (isDigit(b) || b == 0x24 || b == 0x2E || b == 0x2D))
        }
    }

    /// The OpenSSH certificate extensions `ssh-keygen -O` can grant.
    public static let sshExtensions = ["permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding",
                                       "permit-pty", "permit-user-rc", "no-touch-required"]

    /// Placeholders of `key_id_format`.
    public static let keyIDPlaceholders = ["request", "user", "target", "strategy", "serial"]

    /// What is wrong with a `key_id_format`, or nil.
    public static func keyIDFormatProblem(_ format: String) -> String? {
        if format.isEmpty { return "must not be empty" }
        if format.count > 200 { return "is longer than 200 characters" }
        if !format.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) {
            return "must be printable ASCII (no line breaks or control characters)"
        }
        var rest = Substring(format)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { return "has a '{' without '}'" }
            let name = String(rest[rest.index(after: open)..<close])
            if !keyIDPlaceholders.contains(name) {
                return "unknown placeholder {\(name)}; expected one of " + keyIDPlaceholders.map { "{\($0)}" }.joined(separator: ", ")
            }
            rest = rest[rest.index(after: close)...]
        }
        return nil
    }

    /// A `source_address` entry: an IPv4/IPv6 address or CIDR block, nothing else.
    public static func isSourceAddress(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 64 && s.utf8.allSatisfy { isDigit($0) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46)
            || $0 == 0x2E || $0 == 0x3A || $0 == 0x2F } && s.utf8.first != 0x2F
    }

    private static func isAlpha(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    private static func isAlnum(_ b: UInt8) -> Bool { isAlpha(b) || isDigit(b) }
}

/// libpq connection strings as far as the config needs to know them.
public enum ConnInfo {
    /// True when a libpq URI or `key=value` string carries a password (which belongs in a passfile).
    public static func containsPassword(_ conninfo: String) -> Bool {
        let lower = conninfo.lowercased()
        if lower.hasPrefix("postgresql://") || lower.hasPrefix("postgres://") {
            let afterScheme = lower[lower.range(of: "://")!.upperBound...]
            let authority = afterScheme.prefix { $0 != "/" && $0 != "?" }
            if let at = authority.lastIndex(of: "@"), authority[..<at].contains(":") { return true }
            guard let q = afterScheme.firstIndex(of: "?") else { return false }
            return afterScheme[afterScheme.index(after: q)...].split(separator: "&").contains { $0.hasPrefix("password=") }
        }
        return lower.contains(/(^|\s)password\s*=/)
    }
}
