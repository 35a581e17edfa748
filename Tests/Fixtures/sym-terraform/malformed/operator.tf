# expect 3: operators ('+') are not supported by the importer
locals {
  n = 1 + 2
}
