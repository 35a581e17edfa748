# An access flow in the v2 provider style: params as a block, prompt_field blocks, Okta groups as targets.
terraform {
  required_providers {
    sym = {
      source  = "symopsio/sym"
      version = "~> 3.0"
    }
  }
}

provider "sym" {
  org = var.sym_org
}

locals {
  environment = "prod"
  flow_label  = "Okta ${local.environment} access"
}

resource "sym_integration" "slack" {
  type        = "slack"
  name        = "${local.environment}-slack"
  external_id = var.slack_workspace_id
}

resource "sym_integration" "okta" {
  type        = "okta"
  name        = "${local.environment}-okta"
  external_id = "example.okta.com"
  settings = {
    api_token_secret = sym_secret.okta_token.id
  }
}

resource "sym_environment" "this" {
  name            = local.environment
  runtime_id      = sym_runtime.this.id
  error_logger_id = sym_error_logger.slack.id

  integrations = {
    slack_id = sym_integration.slack.id
  }
}

resource "sym_target" "billing_admins" {
  type  = "okta_group"
  name  = "billing-admins"
  label = "Billing admins"
  settings = {
    group_id = "00g1billing"
  }
}

resource "sym_target" "support_readonly" {
  type  = "okta_group"
  name  = "support_readonly"
  label = "Support (read only)"
  settings = {
    group_id = "00g2support"
  }
}

resource "sym_strategy" "okta" {
  type           = "okta"
  name           = "${local.environment}-okta-groups"
  integration_id = sym_integration.okta.id
  targets        = [sym_target.billing_admins.id, sym_target.support_readonly.id]
}

resource "sym_flow" "okta" {
  name  = "okta-access"
  label = local.flow_label

  implementation = "${path.module}/impl.py"
  environment_id = sym_environment.this.id

  vars = {
    approver_users = "carol,dave"
    team           = var.team
  }

  params {
    strategy_id = sym_strategy.okta.id
    allow_revoke = true

    additional_header_text = <<-EOT
      Access is logged.
      Say which ticket this is for.
    EOT

    prompt_field {
      name     = "reason"
      label    = "Why do you need access?"
      type     = "string"
      required = true
    }

    prompt_field {
      name           = "urgency"
      type           = "string"
      allowed_values = ["Normal", "Emergency"]
      default        = "Normal"
    }

    prompt_field {
      name           = "duration"
      type           = "duration"
      allowed_values = ["30m", "1h", "4h"]
      default        = "1h"
    }
  }
}
