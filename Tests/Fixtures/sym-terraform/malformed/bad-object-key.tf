# expect 4: '=' expected after the key 'group_id'
resource "sym_target" "t" {
  settings = {
    group_id "00g1"
  }
}
