"""Implementations of the ports: AWS services and local/offline engines."""
