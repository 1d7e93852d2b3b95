"""One module per `agp` command group; each exposes register(subparsers)."""

__all__ = ()
