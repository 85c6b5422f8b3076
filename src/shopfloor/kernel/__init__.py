"""Pure building blocks shared by every domain: ids, clock, errors, quantities, workflow.

Standard library only; nothing here knows about databases, HTTP or the plant's data.
"""
