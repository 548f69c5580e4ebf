"""Bulk grading of scanned practice sheets: layout, grid finding, cells, annotation, summaries.

The image side (``layout``, ``paper``, ``grid``, ``cells``, ``analysis``, ``annotate``,
``summary``, ``generate``) needs only NumPy, SciPy and Pillow, so the producer and the worker
both use it without TensorFlow. ``grade`` sends a sheet's cells through the ordinary job queue.
"""
