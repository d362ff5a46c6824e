"""Pure domain models and logic: no boto3, no I/O."""
