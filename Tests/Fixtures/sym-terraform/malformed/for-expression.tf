# expect 3: 'for' expressions are not supported
resource "sym_strategy" "s" {
  targets = [for t in sym_target.all : t.id]
}
