# expect 3: the string started on line 3 is not closed
resource "sym_target" "t" {
  label = "Prod
}
