// Two flows in the v1 provider style: params as a map, prompt fields as jsonencode([...]).

variable "aws_account" {
  default = "123456789012"
}

resource "sym_target" "prod_admin" {
  type  = "aws_sso_permission_set"
  label = "Prod admin"
  settings = {
    permission_set_arn = "arn:aws:sso:::permissionSet/ssoins-1/ps-admin"
    account_id         = var.aws_account
  }
}

resource "sym_strategy" "sso" {
  type           = "aws_sso"
  name           = "aws-sso"
  integration_id = sym_integration.sso_context.id
  targets        = [sym_target.prod_admin.id]
  settings = {
    instance_arn = "arn:aws:sso:::instance/ssoins-1"
  }
}

resource "sym_flow" "sso" {
  name     = "aws-prod"
  label    = "AWS prod admin"
  template = "sym:template:approval:1.0.0"

  params = {
    strategy_id          = sym_strategy.sso.id
    schedule_deescalation = true
    prompt_fields_json = jsonencode([
      { name = "reason", type = "string", required = true, label = "Ticket" },
      { name = "duration", type = "duration", allowed_values = ["15m", "1h"], default = "15m" }
    ])
  }
}

# Approval-only: no strategy_id, so no duration (the duration field below is dropped, as Sym's rule says).
resource "sym_flow" "deploy" {
  name     = "deploy-freeze-override"
  label    = "Deploy during a freeze"
  template = "sym:template:approval:1.0.0"
  implementation = file("deploy_impl.py")

  params = {
    prompt_fields_json = jsonencode([
      { name = "service", type = "string", required = true },
      { name = "change_count", type = "int", allowed_values = [1, 2, 3] },
      { name = "duration", type = "duration", allowed_values = ["1h"] }
    ])
  }
}
