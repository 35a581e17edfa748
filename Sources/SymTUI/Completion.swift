import Foundation
import SymModel
import SymProtocol

/// `symtui completion bash|zsh|fish`: shell completion generated from the command table, so it never drifts from
/// the commands. Flow and target names come from the config and request ids from the daemon, at completion time
/// (`symtui completion --words KIND`), so the script stays right when either changes.
enum Completion {
    static var spec: SubcommandSpec {
        SubcommandSpec(words: ["completion"], summary: "print a shell completion script (bash, zsh or fish)",
                    arguments: [ArgumentSpec(name: "SHELL", optional: true, help: "bash, zsh or fish")],
                    options: [.value("words", "KIND", "(used by the scripts) print flows, targets:FLOW or requests, one a line")],
                    details: """
                    bash: symtui completion bash > /etc/bash_completion.d/symtui (or source <(symtui completion bash) in ~/.bashrc)
                    zsh:  symtui completion zsh > "${fpath[1]}/_symtui"      fish: symtui completion fish > ~/.config/fish/completions/symtui.fish
                    """,
                    run: run)
    }

    static func run(_ a: ParsedArguments, _ c: CLIContext) throws -> Int32 {
        if let kind = a.value("words") {
            for w in words(kind, c) { Output.print(w) }
            return ExitCode.ok
        }
        guard let shell = a.positional(0) else { throw UsageError(message: "completion needs SHELL (bash, zsh or fish)") }
        switch shell {
        case "bash": Output.print(bash())
        case "zsh": Output.print(zsh())
        case "fish": Output.print(fish())
        default: throw UsageError(message: "completion: '\(SafeText.display(shell))' is not one of bash, zsh, fish")
        }
        return ExitCode.ok
    }

    /// Candidates for one kind of word; nothing (never an error) when the config or the daemon is not there.
    /// A completion never starts a daemon. Names that could not be typed as one shell word are left out.
    static func words(_ kind: String, _ c: CLIContext) -> [String] {
        let plain = { (s: String) in !s.isEmpty && s.unicodeScalars.allSatisfy { $0.isASCII && !CharacterSet.whitespacesAndNewlines.contains($0) && $0.value >= 0x21 && $0.value < 0x7f && !"'\"`$\\;&|<>()*?[]{}!#~".unicodeScalars.contains($0) } }
        switch kind {
        case "flows":
            return ((try? c.config().flows.map(\.name)) ?? []).filter(plain)
        case "requests":
            guard let socket = try? c.socketPath(), let client = DaemonClient.connectIfRunning(socketPath: socket, timeout: 2) else { return [] }
            var q = RequestQuery(states: [.pending, .approved, .escalating, .active, .deescalating], limit: 200)
            q.newestFirst = true
            let reply = try? client.read(.requests(q, count: false))
            return (reply?["requests"]?.arrayValue ?? []).compactMap { $0["id"]?.intValue.map(String.init) }
        default:
            guard kind.hasPrefix("targets"), let config = try? c.config() else { return [] }
            let flow = kind.hasPrefix("targets:") ? String(kind.dropFirst("targets:".count)) : nil
            let strategies = config.flows.filter { flow == nil || $0.name == flow }.compactMap(\.strategy)
            var seen = Set<String>()
            return strategies.flatMap { config.strategy(named: $0)?.targets.map(\.name) ?? [] }.filter { plain($0) && seen.insert($0).inserted }
        }
    }

    // MARK: what the table says

    /// The candidates of an option's value: its placeholder's alternatives (`text|tmux|json`), states, files.
    static func valueKind(_ o: OptionSpec) -> String {
        guard let v = o.value else { return "" }
        if v.contains("|") { return "words:" + v.split(separator: "|").joined(separator: " ") }
        if o.name == "state" { return "words:" + RequestState.allCases.map(\.rawValue).joined(separator: " ") }
        if ["PATH", "FILE", "DIR"].contains(v) { return v == "DIR" ? "dirs" : "files" }
        return ""
    }

    static func argumentKind(_ a: ArgumentSpec) -> String {
        switch a.name {
        case "FLOW": return "flows"
        case "TARGET": return "targets"
        case "ID": return "requests"
        case "SHELL": return "words:bash zsh fish"
        case "COMMAND": return "commands"
        case "SUBCOMMAND": return ""
        default: return ["PATH", "FILE"].contains(a.name) ? "files" : ""
        }
    }

    static var firstWords: [String] {
        var seen = Set<String>()
        return CLI.commands.map { $0.words[0] }.filter { seen.insert($0).inserted }
    }

    static var groups: [String: [String]] {
        var out: [String: [String]] = [:]
        for c in CLI.commands where c.words.count == 2 { out[c.words[0], default: []].append(c.words[1]) }
        return out
    }

    // MARK: bash (zsh runs the same function through bashcompinit)

    static func bash() -> String {
        func q(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let globals = (CLI.globalOptions + CLI.consoleOptions).map { "--" + $0.name }.joined(separator: " ")
        let globalValues = CLI.globalOptions.filter { $0.value != nil }.map { "--" + $0.name }
        var commandCases = ""
        for c in CLI.commands {
            let opts = c.options.filter { $0.name != "help" }
            commandCases += "    \(q(c.name))) opts=\(q(opts.map { "--" + $0.name }.joined(separator: " ")))"
            commandCases += "; valopts=\(q(opts.filter { $0.value != nil }.map { "--" + $0.name }.joined(separator: " ")))"
            commandCases += "; args=\(q(c.arguments.map { argumentKind($0).isEmpty ? "-" : argumentKind($0).replacingOccurrences(of: " ", with: ",") }.joined(separator: " "))) ;;\n"
        }
        var valueCases = ""
        var byKind: [String: [String]] = [:]
        for o in CLI.commands.flatMap(\.options) + CLI.globalOptions where !valueKind(o).isEmpty { byKind[valueKind(o), default: []].append("--" + o.name) }
        // One option name may mean different values in different commands (--format): those are keyed by command.
        for c in CLI.commands {
            for o in c.options where valueKind(o).hasPrefix("words:") {
                valueCases += "    \(q(c.name + " --" + o.name))) _symtui_add \(q(valueKind(o))); return ;;\n"
            }
        }
        for (kind, names) in byKind.sorted(by: { $0.key < $1.key }) where !kind.hasPrefix("words:") || kind.contains("pending") {
            for n in Set(names).sorted() { valueCases += "    *\(q(" " + n))) _symtui_add \(q(kind)); return ;;\n" }
        }
        let groupCases = groups.sorted { $0.key < $1.key }.map { "    \(q($0.key))) sub=\(q($0.value.joined(separator: " "))) ;;" }.joined(separator: "\n")
        return """
        # bash completion for symtui, generated by `symtui completion bash` from its command table.
        # Flow and target names come from the config, request ids from the daemon, when you press Tab.
        _symtui_globals=()
        # Adds the candidates of one kind that start with $cur to COMPREPLY.
        _symtui_add() {
          local kind="$1" w
          case "$kind" in
            words:*) COMPREPLY+=($(compgen -W "${kind#words:}" -- "$cur")) ;;
            files) COMPREPLY+=($(compgen -f -- "$cur")) ;;
            dirs) COMPREPLY+=($(compgen -d -- "$cur")) ;;
            commands) COMPREPLY+=($(compgen -W \(q(firstWords.joined(separator: " "))) -- "$cur")) ;;
            flows|requests|targets*) COMPREPLY+=($(compgen -W "$(command symtui "${_symtui_globals[@]}" completion --words "$kind" 2>/dev/null)" -- "$cur")) ;;
          esac
        }
        _symtui() {
          [ -n "${ZSH_VERSION:-}" ] && setopt localoptions ksharrays shwordsplit
          local cur="${COMP_WORDS[COMP_CWORD]}" prev="" w i=1 sub="" cmd opts valopts args
          [ "$COMP_CWORD" -gt 0 ] && prev="${COMP_WORDS[COMP_CWORD-1]}"
          COMPREPLY=()
          _symtui_globals=()
          while [ "$i" -lt "$COMP_CWORD" ]; do
            w="${COMP_WORDS[i]}"
            case "$w" in
              \(globalValues.joined(separator: "|"))) _symtui_globals+=("$w" "${COMP_WORDS[i+1]}"); i=$((i+2)); continue ;;
              \(globalValues.map { $0 + "=*" }.joined(separator: "|"))) _symtui_globals+=("$w") ;;
              -*) ;;
              *) break ;;
            esac
            i=$((i+1))
          done
          if [ "$i" -ge "$COMP_CWORD" ]; then
            case "$prev" in \(globalValues.joined(separator: "|"))) _symtui_add files; return ;; esac
            if [[ "$cur" == -* ]]; then _symtui_add 'words:\(globals)'; else _symtui_add commands; fi
            return
          fi
          cmd="${COMP_WORDS[i]}"; i=$((i+1))
          case "$cmd" in
        \(groupCases)
          esac
          if [ -n "$sub" ]; then
            if [ "$i" -ge "$COMP_CWORD" ]; then _symtui_add "words:$sub"; return; fi
            cmd="$cmd ${COMP_WORDS[i]}"; i=$((i+1))
          fi
          case "$cmd" in
        \(commandCases)    *) return ;;
          esac
          if [[ " $valopts \(globalValues.joined(separator: " ")) " == *" $prev "* ]] && [ -n "$prev" ]; then
            case "$cmd $prev" in
        \(valueCases)    esac
            return
          fi
          if [[ "$cur" == -* ]]; then _symtui_add "words:$opts \(globals)"; return; fi
          local n=0 first=""
          while [ "$i" -lt "$COMP_CWORD" ]; do
            w="${COMP_WORDS[i]}"
            if [[ "$w" == --*=* ]]; then :
            elif [[ " $valopts \(globalValues.joined(separator: " ")) " == *" $w "* ]]; then i=$((i+1))
            elif [[ "$w" == -* ]]; then :
            else [ "$n" -eq 0 ] && first="$w"; n=$((n+1)); fi
            i=$((i+1))
          done
          local -a kinds=($args)
          local kind="${kinds[n]:-}"
          kind="${kind//,/ }"
          case "$kind" in
            -|"") ;;
            targets) _symtui_add "targets:$first" ;;
            *) _symtui_add "$kind" ;;
          esac
        }
        complete -F _symtui symtui
        """
    }

    static func zsh() -> String {
        """
        #compdef symtui
        # zsh completion for symtui, generated by `symtui completion zsh`: the bash completion, run by zsh's bashcompinit.
        autoload -U +X bashcompinit && bashcompinit
        \(bash())
        """
    }

    // MARK: fish

    static func fish() -> String {
        func q(_ s: String) -> String { "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'" }
        var out = """
        # fish completion for symtui, generated by `symtui completion fish` from its command table.
        complete -c symtui -f

        """
        for o in CLI.globalOptions + CLI.consoleOptions {
            out += "complete -c symtui -l \(o.name)" + (o.value != nil ? " -r -F" : "") + " -d \(q(o.help))\n"
        }
        let groups = self.groups
        var seenFirst = Set<String>()
        for c in CLI.commands where seenFirst.insert(c.words[0]).inserted {
            let summary = c.words.count == 2 ? "\(c.words[0]) commands" : c.summary
            out += "complete -c symtui -n __fish_use_subcommand -a \(c.words[0]) -d \(q(summary))\n"
        }
        for (group, subs) in groups.sorted(by: { $0.key < $1.key }) {
            for s in subs {
                let spec = CLI.commands.first { $0.words == [group, s] }!
                out += "complete -c symtui -n \(q("__fish_seen_subcommand_from \(group); and not __fish_seen_subcommand_from \(subs.joined(separator: " "))")) -a \(s) -d \(q(spec.summary))\n"
            }
        }
        for c in CLI.commands {
            let cond = "__fish_seen_subcommand_from \(c.words.last!)"
            for o in c.options where o.name != "help" {
                var line = "complete -c symtui -n \(q(cond)) -l \(o.name)"
                let kind = valueKind(o)
                if o.value != nil {
                    // -x: a value, but no file names unless the value is a file.
                    if kind.hasPrefix("words:") { line += " -x -a \(q(String(kind.dropFirst(6))))" } else if kind == "files" || kind == "dirs" { line += " -r -F" } else { line += " -x" }
                }
                out += line + " -d \(q(o.help))\n"
            }
            let kinds = Set(c.arguments.map(argumentKind))
            for kind in kinds.sorted() {
                let source: String
                switch kind {
                case "flows", "requests", "targets": source = "(symtui completion --words \(kind))"
                case "commands": source = firstWords.joined(separator: " ")
                case let k where k.hasPrefix("words:"): source = String(k.dropFirst(6))
                case "files": out += "complete -c symtui -n \(q(cond)) -F\n"; continue
                default: continue
                }
                out += "complete -c symtui -n \(q(cond)) -a \(q(source))\n"
            }
        }
        return out
    }
}
