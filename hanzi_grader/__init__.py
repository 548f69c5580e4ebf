"""hanzi-grader: grades handwritten Chinese characters at scale.

The shared core: settings, errors, the database's tables and the `hanzi` command line. The
rest is installed beneath it from the repository's top-level folders, each layer importing only
those below it (tests/test_layers.py): `hanzi_grader.models` (models/, the recognition
models), `hanzi_grader.scans` (scans/, reading a scanned sheet), `hanzi_grader.worker`
(worker/, the Celery side) and `hanzi_grader.producer` (producer/, the client side), with
`hanzi_grader.migrations` (migrations/) beside them.
"""

__version__ = "0.1.0"
