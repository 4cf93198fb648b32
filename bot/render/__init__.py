"""Pure functions: findings, change sets and costs in, text out."""
