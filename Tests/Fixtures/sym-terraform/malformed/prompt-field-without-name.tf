# expect 5: a prompt field has no name
resource "sym_flow" "f" {
  name = "f"
  params {
    prompt_field {
      type = "string"
    }
  }
}
