"""Imported by cfn-lint's fork server only (bot.checks.cfnlint_check._server): loads
cfn-lint's default rules once, before the process pool's workers fork from it.

It lives outside bot/checks so that walking that package never imports it: in
any other process this import would load cfn-lint's rules for nothing.
"""

from __future__ import annotations

from bot.checks import cfnlint_check

cfnlint_check.load_default_rules()
