# expect 3: expected '=' or '{' after 'name'
resource "sym_target" "t" {
  name "t"
}
