"""`infra-bot init`: adopt the bot in an existing repository (discover, scaffold, checklist)."""
