# expect 4: the heredoc <<EOT started on line 4 is not closed
resource "sym_flow" "f" {
  params {
    additional_header_text = <<EOT
      never closed
  }
}
