"""vestige: verifiable mobile-spyware forensics."""

__version__ = "0.1.0"
