"""Monthly cost of CloudFormation stacks and of the changes to them (issue 6)."""
