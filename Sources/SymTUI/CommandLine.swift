import Foundation
import SymModel

/// The `symtui` entry point.
public enum SymTUICommandLine {
    public static func main(_ argv: [String]) -> Never {
        print("symtui")
        exit(0)
    }
}
