"""Pure functions of the funding service: fees, opportunity math, history statistics, funding periods.

No I/O here; everything is :class:`~decimal.Decimal` and is unit-tested with hand-computed cases.
"""
