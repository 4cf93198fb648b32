"""`infra-bot demo`: the whole loop on one machine, with local stand-ins for GitHub and AWS."""
