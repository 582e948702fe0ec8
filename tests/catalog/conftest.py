import pytest

from catalog.services import upsert_book


def content(title: str, **fields) -> dict:
    base = {
        "title": title,
        "subtitle": None,
        "description": None,
        "authors": [],
        "subjects": [],
        "languages": ["eng"],
        "first_publish_year": None,
        "cover_id": None,
        "isbns": [],
        "edition_count": 1,
    }
    base.update(fields)
    return base


@pytest.fixture
def make_book():
    counter = {"n": 0}

    def make(tenant, title: str, key: str | None = None, **fields):
        counter["n"] += 1
        book, _ = upsert_book(
            tenant=tenant,
            open_library_key=key or f"/works/OL{1000 + counter['n']}W",
            content=content(title, **fields),
        )
        return book

    return make
