variable "sym_org" {
  type = string
}

variable "slack_workspace_id" {
  description = "The Slack workspace Sym posts to"
  type        = string
}

variable "team" {
  type    = string
  default = "payments"
}
