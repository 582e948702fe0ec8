from tests.catalog.conftest import make_book, revise_book  # noqa: F401 (fixtures shared with the catalog's tests)
