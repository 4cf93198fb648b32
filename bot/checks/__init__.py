"""Validators that turn repository files into Findings; one engine runs them all."""
