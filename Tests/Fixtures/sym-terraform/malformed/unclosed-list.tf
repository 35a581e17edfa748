# expect 4: ',' or ']' expected in the list opened on line 3
resource "sym_strategy" "s" {
  targets = [sym_target.a.id, sym_target.b.id
}
