import SymTUI

SymTUICommandLine.main(CommandLine.arguments, engine: LinkedEngine())
