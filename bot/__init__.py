"""infra-bot: a GitOps pull-request bot for CloudFormation and Helm on EKS."""

__version__ = "0.1.0"
