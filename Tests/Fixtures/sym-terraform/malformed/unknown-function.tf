# expect 3: function templatefile() is not supported by the importer
resource "sym_flow" "f" {
  implementation = templatefile("impl.py", {})
}
