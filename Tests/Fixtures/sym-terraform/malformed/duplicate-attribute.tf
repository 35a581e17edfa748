# expect 4: attribute 'label' is set twice
resource "sym_target" "t" {
  label = "a"
  label = "b"
}
