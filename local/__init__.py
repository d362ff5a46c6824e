"""The local cloud: runs template.yaml in-process on moto (dev-only, never deployed)."""
