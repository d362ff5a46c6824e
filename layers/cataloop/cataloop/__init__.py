"""Cataloop shared package: domain (pure), services (use cases over ports), adapters (AWS and local)."""

__version__ = "0.1.0"
