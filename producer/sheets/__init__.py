"""Bulk grading of scanned practice sheets, on the client side.

Reading a scan is ``scans`` (shared with the worker); sending a sheet's cells is
``worker.sheet_dispatch``. Here: ``collect`` (waiting for the cells' verdicts and scoring the
sheet), ``annotate`` and ``summary`` (what a teacher looks at), ``generate`` (synthetic sheets
with their truth) and ``cli`` (``hanzi grade-sheet`` and ``hanzi make-sheets``).
"""
