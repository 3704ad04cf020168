"""IAM trust policies: evaluate locally, explain mismatches, generate, look up with IAM."""
