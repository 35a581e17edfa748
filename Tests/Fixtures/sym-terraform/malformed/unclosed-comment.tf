# expect 2: unterminated /* comment
/* resource "sym_target" "t" {
  label = "a"
}
