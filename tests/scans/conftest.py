"""The scan tests read generated sheets: the generator's fixtures, shared with the producer's."""

from tests.producer.sheets.conftest import sheet_factory  # noqa: F401  (the shared fixture)
from tests.training.conftest import stroke_data  # noqa: F401  (its fixture)
