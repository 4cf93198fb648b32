"""Talking to GitHub: events, permissions, comments, reviews, pull requests."""
