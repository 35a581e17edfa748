# expect 3: unknown escape
resource "sym_target" "t" {
  label = "tab\q"
}
