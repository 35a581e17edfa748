import Foundation

/// One thing wrong with a config file, located by file, JSON path and line.
public struct ConfigProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// JSON path such as `flows[2].prompt_fields[0].default`; "" for the whole document.
    public var path: String
    public var line: Int?
    public var message: String

    public init(file: String, path: String, line: Int?, message: String) {
        self.file = file; self.path = path; self.line = line; self.message = message
    }

    /// `FILE:LINE: PATH: message`, leaving out the parts that are unknown.
    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        s += ": "
        if !path.isEmpty { s += "\(path): " }
        return s + message
    }
}

/// Why a config could not be used: every problem found, and which kind of failure it is.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case notFound, unreadable, invalid }
    public var kind: Kind
    public var problems: [ConfigProblem]

    public init(kind: Kind, problems: [ConfigProblem]) { self.kind = kind; self.problems = problems }

    /// sysexits: 66 no input, 74 I/O error, 65 data error.
    public var exitCode: Int32 {
        switch kind {
        case .notFound: return 66
        case .unreadable: return 74
        case .invalid: return 65
        }
    }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Finds, reads and validates the configuration file (contract §3).
public enum ConfigLoader {
    public static let systemPath = "/etc/symtui/config.json5"
    /// Larger files are refused rather than read into memory.
    public static let maxFileSize = 4 << 20

    /// contract order: explicit --config, else $SYMTUI_CONFIG, else /etc/symtui/config.json5, else
    /// $XDG_CONFIG_HOME/symtui/config.json5 (default ~/.config). Returns the first that exists
    /// (explicit/env returned even if missing so the caller can report notFound).
    public static func locate(explicit: String?, environment: [String: String], home: String) -> String? {
        locate(explicit: explicit, environment: environment, home: home,
               exists: { FileManager.default.fileExists(atPath: $0) })
    }

    static func locate(explicit: String?, environment: [String: String], home: String,
                       exists: (String) -> Bool) -> String? {
        if let explicit, !explicit.isEmpty { return explicit }
        if let env = environment["SYMTUI_CONFIG"], !env.isEmpty { return env }
        if exists(systemPath) { return systemPath }
        var base = environment["XDG_CONFIG_HOME"] ?? ""
        if !base.hasPrefix("/") { base = (home as NSString).appendingPathComponent(".config") }  // XDG: relative values are ignored
        let user = (base as NSString).appendingPathComponent("symtui/config.json5")
        return exists(user) ? user : nil
    }

    /// Reads and validates the file at `path`; throws `ConfigError` with every problem found.
    public static func load(path: String) throws -> Config {
        func fail(_ kind: ConfigError.Kind, _ message: String) -> ConfigError {
            ConfigError(kind: kind, problems: [ConfigProblem(file: path, path: "", line: nil, message: message)])
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw fail(.notFound, "no config file here (create one with `symtui init \(path)`)")
        }
        if isDirectory.boolValue { throw fail(.unreadable, "is a directory, not a config file") }
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        if let type = try? FileManager.default.attributesOfItem(atPath: resolved)[.type] as? FileAttributeType, type != .typeRegular {
            throw fail(.invalid, "is not a regular file (a config is a JSON5 text file)")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw fail(.unreadable, "cannot be read (permission denied)")
        }
        let data: Data
        do {
            let url = URL(fileURLWithPath: path)
            let size = (try? url.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0
            if size > maxFileSize { throw fail(.invalid, "is \(size) bytes; a config file may be at most \(maxFileSize)") }
            data = try Data(contentsOf: url)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw fail(.unreadable, "cannot be read: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw fail(.invalid, "is not UTF-8 text") }
        let base = ((path as NSString).deletingLastPathComponent as String)
        switch parse(text: text, path: path, baseDirectory: base.isEmpty ? "." : base) {
        case let .success(config): return config
        case let .failure(error): throw error
        }
    }

    /// Validates config text, reporting ALL problems at once. `baseDirectory` resolves relative paths
    /// (implementation files, reporting files); nil means the current directory.
    public static func parse(text: String, path: String, baseDirectory: String?) -> Result<Config, ConfigError> {
        let document: ParsedDocument
        do {
            var parser = JSON5Parser(text)
            document = try parser.parseDocument()
        } catch let error as JSONParseError {
            return .failure(ConfigError(kind: .invalid, problems: [
                ConfigProblem(file: path, path: "", line: error.line, message: "not valid JSON5: " + error.message
                              + (error.column.map { " (column \($0))" } ?? "")),
            ]))
        } catch {
            return .failure(ConfigError(kind: .invalid, problems: [
                ConfigProblem(file: path, path: "", line: nil, message: "not valid JSON5: \(error)"),
            ]))
        }
        let reader = ConfigReader(file: path, lines: document.lines,
                                  baseDirectory: baseDirectory ?? FileManager.default.currentDirectoryPath)
        let config = ConfigValidation(reader: reader).config(from: document.value)
        if reader.problems.isEmpty, let config { return .success(config) }
        // In file order, so that a reader can fix them top to bottom; stable for problems on one line.
        let ordered = reader.problems.enumerated().sorted { a, b in
            (a.element.line ?? 0, a.offset) < (b.element.line ?? 0, b.offset)
        }.map(\.element)
        return .failure(ConfigError(kind: .invalid, problems: ordered))
    }
}
