# expect 5: params.prompt_fields_json must be a JSON list
resource "sym_flow" "f" {
  name = "f"
  params = {
    prompt_fields_json = "not json"
  }
}
