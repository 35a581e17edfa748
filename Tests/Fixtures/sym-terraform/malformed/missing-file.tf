# expect 3: file(): no file
resource "sym_flow" "f" {
  implementation = file("no-such-impl.py")
  params = {}
}
