# expect 4: a value is missing
resource "sym_target" "t" {
  name = "t"
  label =
}
