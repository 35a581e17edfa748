# expect 3: local.a refers to itself
locals {
  a = local.a
}
resource "sym_target" "t" {
  label = local.a
}
