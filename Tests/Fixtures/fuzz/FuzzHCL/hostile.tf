resource "sym_target" "t" {
  type = "x\n//"
  label = "${"\u202e"}"
  settings = { "k\u0000" = "*/" }
}
resource "sym_strategy" "s" {
  type = "okta"
  targets = [sym_target.t.id]
}
