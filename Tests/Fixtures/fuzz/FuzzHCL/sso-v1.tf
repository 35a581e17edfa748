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

# A second strategy: a Lambda that restarts a service, with its own target.
resource "sym_target" "restart_api" {
  type  = "aws_lambda_function"
  name  = "restart-api"
  label = "Restart the API"
  settings = {
    arn = "arn:aws:lambda:us-east-1:${var.aws_account}:function:restart-api"
  }
}

resource "sym_strategy" "runbooks" {
  type           = "aws_lambda"
  name           = "runbooks"
  integration_id = sym_integration.lambda_context.id
  targets        = [sym_target.restart_api.id]
}

resource "sym_flow" "restart" {
  name           = "restart"
  label          = "Restart a service"
  implementation = "${path.module}/deploy_impl.py"

  params = {
    strategy_id  = sym_strategy.runbooks.id
    allow_revoke = false
    prompt_fields_json = jsonencode([{ name = "reason", type = "string", required = true }])
  }
}
