import SymModel
