# expect 5: '}' without a block to close
resource "sym_target" "t" {
  label = "a"
}
}
