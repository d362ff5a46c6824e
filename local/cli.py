"""`cataloop` command line (placeholder until the local cloud lands)."""


def main() -> int:
    return 0
