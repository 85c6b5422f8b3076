"""shopfloor: the system of record for what actually happens on the shop floor."""

__version__ = "0.1.0"
