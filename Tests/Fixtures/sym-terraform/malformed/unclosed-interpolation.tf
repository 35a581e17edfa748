# expect 3: '}' expected to close ${…}
resource "sym_target" "t" {
  label = "${var.env"
}
