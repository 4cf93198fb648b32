"""CloudFormation change sets, stack events, drift and Helm releases, per environment."""
