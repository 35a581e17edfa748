# expect 2: the resource block opened on line 2 is not closed
resource "sym_flow" "x" {
  name = "x"
