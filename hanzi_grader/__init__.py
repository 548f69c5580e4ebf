"""hanzi-grader: grades handwritten Chinese characters at scale.

The shared core: settings, errors and the `hanzi` command line. The recognition models live
in `models/`, the Celery side in `worker/`, the client side in `producer/`.
"""

__version__ = "0.1.0"
