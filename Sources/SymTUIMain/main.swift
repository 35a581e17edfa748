import SymTUI

SymTUICommandLine.main(CommandLine.arguments)
