import SymModel

/// `symtui console`: the console as a command, so that `symtui help console`, the man page and the completions
/// describe it and its flags (`symtui` alone opens it too).
enum ConsoleHelp {
    static var spec: SubcommandSpec { SubcommandSpec(
        words: ["console"], summary: "open the console (what symtui does without a command)",
        options: CLI.consoleOptions,
        details: """
        Views: 1 Request, 2 Review, 3 Mine, 4 Grants, 5 Audit, 6 Stats (Tab cycles). ? shows every key, generated
        from the keymap. The mouse selects rows, scrolls and switches tabs (--no-mouse leaves it to the terminal).
        Review: a approve, d deny (a reason is required). Grants: r revoke. Mine: c cancel, x release, e extend,
        R request the same again (the form pre-filled with its values and duration).
        s sorts the list by its next column (id, requester, flow, target, age, state, expires: those the view shows),
        S reverses; the sorted column's header carries ▲ or ▼. The daemon sorts before paging.
        / filters: plain text is searched in the whole list; a regular expression (case-insensitive) is matched
        against id, flow, target, requester, state and field values (audit: type, actor, requester, flow, target,
        reason) of the newest \(ListShape.scanLimit) rows; a leading ! keeps the rows that do not match. Matches are
        underlined. An invalid expression is shown and the old filter stays; one that takes the daemon more than
        \(Int(ListShape.matchBudget)) s to match is stopped, and the list says so.
        : opens a command line: :approve ID [REASON], :deny ID REASON, :revoke ID [REASON], :filter TEXT,
        :sort COLUMN [desc], :view NAME|N, :help, :q. Up/Down recall the last 100 lines, Tab completes command,
        view and column names and the visible request ids. Errors are shown on the line and nothing is sent.
        --readonly (also `symtui --readonly`): READ-ONLY in the top line; approve, deny, revoke, cancel, release,
        extend, request and their : commands are refused with "read-only console"; views, filter and sort work.
        Keys can be rebound in the config: console: { keys: { approve: "y" } } (see symtui-config(5)).
        """,
        run: { a, _ in CLI.runConsole(a) }) }
}
