"""Use cases, one per module, written against the ports in cataloop.ports."""
