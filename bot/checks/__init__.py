"""Validators that turn repository files into Findings; one engine runs them all.

Every `bot.checks.base.Check` subclass in a module of this package is a check:
bot.checks.discovery finds them, so a new check needs no import anywhere else.
"""
