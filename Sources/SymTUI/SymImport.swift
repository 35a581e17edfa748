import Foundation
import SymProtocol
import SymModel

/// `symtui import sym-terraform PATH`: a SymTUI config from Sym's Terraform files.
enum SymImport {
    static var specs: [SubcommandSpec] { [
        SubcommandSpec(words: ["import", "sym-terraform"], summary: "translate Sym Terraform files into a SymTUI config",
                    arguments: [ArgumentSpec(name: "PATH", help: "a .tf file, or a directory of them (its subdirectories are not read)")],
                    options: [.value("out", "FILE", "write the config to FILE instead of stdout"),
                              .flag("force", "with --out: replace FILE if it exists")],
                    details: """
                    Reads sym_flow (v2 prompt_field blocks or v1 prompt_fields_json), sym_strategy and sym_target, with var. and
                    local. values from the same files; writes a JSON5 config with a comment on everything it could not translate
                    (Slack and Okta integrations, AWS targets, …), a summary on stderr, and whether the result passes 'config check'.
                    A flow without strategy_id is approval-only and gets no duration field. Invalid HCL: file:line, exit 65, nothing written.
                    """,
                    run: importSymTerraform),
    ] }

    static func importSymTerraform(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        let source = c.absolute(a.positional(0)!)
        let out = a.value("out").map(c.absolute)
        if let out, !a.flag("force"), FileManager.default.fileExists(atPath: out) {
            throw CommandError(ExitCode.ioErr, "\(out) exists; not overwriting it (use --force)")
        }
        let result: SymTerraform.Result
        do {
            let (directory, files) = try SymTerraform.sources(at: source)
            result = try SymTerraform.translate(files: files, moduleDirectory: directory)
        } catch {
            throw CommandError(error.exitCode, error.description)
        }

        let checkedAs = out ?? "(the imported config)"
        let base = out.map { ($0 as NSString).deletingLastPathComponent } ?? FileManager.default.currentDirectoryPath
        let problems: [ConfigProblem]
        switch ConfigLoader.parse(text: result.config, path: checkedAs, baseDirectory: base) {
        case .success: problems = []
        case let .failure(error): problems = error.problems
        }

        if let out {
            do {
                try FileOutput.write(Data(result.config.utf8), to: out)
            } catch {
                throw CommandError(ExitCode.ioErr, "cannot write \(out): \(error.localizedDescription)")
            }
        }
        if c.json {
            var pairs: [(String, JSONValue?)] = [
                ("flows", .num(result.flows)), ("strategies", .num(result.strategies)), ("targets", .num(result.targets)),
                ("untranslated", .num(result.untranslated)), ("summary", .array(result.summary.map(JSONValue.string))),
                ("check", .obj([("ok", .bool(problems.isEmpty)), ("problems", .array(problems.map { .string($0.description) }))])),
            ]
            if let out { pairs.append(("out", .string(out))) } else { pairs.append(("config", .string(result.config))) }
            Output.json(.obj(pairs))
        } else if out == nil {
            FileHandle.standardOutput.write(Data(result.config.utf8))
        }
        if !c.json {
            for line in result.summary { Output.error(line) }
            if problems.isEmpty {
                Output.error("the config passes 'symtui config check'" + (out.map { ": wrote \($0)" } ?? ""))
            } else {
                Output.error("the config does not pass 'symtui config check' yet (\(problems.count) problem\(problems.count == 1 ? "" : "s")):")
                for p in problems { Output.error("  " + p.description) }
                if let out { Output.error("wrote \(out)") }
            }
        }
        return ExitCode.ok
    }
}
