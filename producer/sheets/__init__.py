"""Bulk grading of scanned practice sheets.

The image side needs only NumPy, SciPy and Pillow, so the producer and the worker both use it
without TensorFlow: ``layout`` (what each cell expects), ``paper`` (a scan with its lighting
divided out), ``geometry``, ``grid`` (finding the cell corners), ``cells`` (guides removed,
blank cells told apart), ``analysis`` (the three together), ``annotate`` and ``summary`` (what
a teacher looks at) and ``generate`` (synthetic sheets with their truth). ``grade`` sends a
sheet's cells through the ordinary job queue; ``cli`` is ``hanzi grade-sheet`` and
``hanzi make-sheets``.
"""
