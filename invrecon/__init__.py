"""invrecon: reconcile inventory costs with the general ledger and post inventory cost to G/L."""

__version__ = "0.1.0"
