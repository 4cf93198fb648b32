"""The repository model: stacks, deployment files, environments, Helm releases."""
