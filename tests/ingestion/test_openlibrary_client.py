"""The Open Library client: parsing the recorded answers, key normalisation, redirect and delete
records, errors, and what it sends. Open Library is faked with `responses`; no network."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

import olcs
from catalog.identifiers import InvalidIsbn, InvalidKey, normalize_isbn
from ingestion.openlibrary import (
    SEARCH_FIELDS,
    AuthorRecord,
    BooksApiRecord,
    DeletedRecord,
    EditionRecord,
    OpenLibraryError,
    OpenLibraryNotFound,
    SearchDoc,
    SearchPage,
    WorkRecord,
    text_value,
)
from tests.ingestion.conftest import DATA

OL = "https://openlibrary.org"


@pytest.fixture
def ol():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def client(make_client):
    return make_client()


def answer_file(ol, path: str, name: str, **kwargs) -> None:
    ol.get(f"{OL}{path}", body=(DATA / name).read_bytes(), content_type="application/json", **kwargs)


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def test_text_value_takes_strings_and_text_objects():
    assert text_value("  plain  ") == "plain"
    assert text_value({"type": "/type/text", "value": " typed\n"}) == "typed"
    assert text_value("   ") is None
    assert text_value(None) is None
    assert text_value(42) is None
    assert text_value({"type": "/type/text"}) is None
    assert text_value(["a list"]) is None


# --- Every recorded answer parses --------------------------------------------------------------


def test_work_with_description_text_object(client, ol):
    answer_file(ol, "/works/OL2019091W.json", "ol_works_OL2019091W_description_text_object.json")
    work = client.get_work("OL2019091W")
    assert work == WorkRecord(
        key="/works/OL2019091W",
        title="Oraciones y pensamientos",
        description=work.description,
        author_keys=("/authors/OL243630A",),
        cover_ids=(5732360,),
        first_publish_date="2009",
        last_modified=1600864725,  # "2020-09-23T12:38:45.353111", UTC
    )
    assert work.description.startswith("En medio del ritmo acelerado")
    assert work.subjects == () and work.subtitle is None


def test_work_with_plain_string_description_and_bare_author_role(client, ol, ol_answer):
    # Built from the real work by swapping in the plain-string form of description.
    record = ol_answer("ol_works_OL3616800W_no_covers_no_description.json")
    record["description"] = "  Water law in Montana.\n"
    ol.get(f"{OL}/works/OL3616800W.json", json=record)
    work = client.get_work("/works/OL3616800W")
    assert work.description == "Water law in Montana."
    assert work.author_keys == ("/authors/OL614999A",)  # its role type is the bare string
    assert work.subjects == ("Water", "Water rights", "Law and legislation", "Riparian rights")
    assert work.cover_ids == ()
    assert work.first_publish_date == "1978"


def test_work_without_description_or_covers(client, ol):
    answer_file(ol, "/works/OL3616800W.json", "ol_works_OL3616800W_no_covers_no_description.json")
    work = client.get_work("OL3616800W")
    assert work.description is None
    assert work.cover_ids == ()
    assert work.title == "Selected aspects of Montana water law"


def test_covers_drop_minus_one_and_zero(client, ol, ol_answer):
    record = ol_answer("ol_works_OL2019091W_description_text_object.json")
    record["covers"] = [-1, 5732360, 0, 5732360, 1234]
    ol.get(f"{OL}/works/OL2019091W.json", json=record)
    assert client.get_work("OL2019091W").cover_ids == (5732360, 1234)


@pytest.mark.parametrize(
    ("name", "key", "title", "work_keys", "isbn_10", "isbn_13", "publish_date"),
    [
        (
            "ol_books_OL7353617M_fantastic_mr_fox.json",
            "/books/OL7353617M",
            "Fantastic Mr. Fox",
            ("/works/OL45883W",),
            ("0140328726",),
            ("9780140328721",),
            "October 1, 1988",
        ),
        (
            "ol_books_OL23109860M_great_gatsby.json",
            "/books/OL23109860M",
            "The Great Gatsby",
            ("/works/OL468431W",),
            ("0743273567",),
            ("9780743273565",),
            "2004",
        ),
    ],
)
def test_editions(client, ol, name, key, title, work_keys, isbn_10, isbn_13, publish_date):
    answer_file(ol, f"{key}.json", name)
    assert client.get_edition(key.rsplit("/", 1)[1]) == EditionRecord(
        key=key,
        title=title,
        work_keys=work_keys,
        isbn_10=isbn_10,
        isbn_13=isbn_13,
        languages=("eng",),
        publish_date=publish_date,
    )


@pytest.mark.parametrize(
    ("name", "key", "person", "bio_start"),
    [
        (
            "ol_authors_OL23919A_rowling_bio_text.json",
            "/authors/OL23919A",
            "J. K. Rowling",
            'Joanne "Jo" Murray',
        ),
        ("ol_authors_OL4452558A_paulsen_no_bio.json", "/authors/OL4452558A", "Gary Paulsen", None),
        ("ol_authors_OL1A_legacy_2008.json", "/authors/OL1A", "Sachi Rautroy", None),
    ],
)
def test_authors(client, ol, name, key, person, bio_start):
    answer_file(ol, f"{key}.json", name)
    author = client.get_author(key)
    assert isinstance(author, AuthorRecord)
    assert (author.key, author.name) == (key, person)
    if bio_start is None:
        assert author.bio is None
    else:
        assert author.bio.startswith(bio_start)


def test_author_bio_as_plain_string(client, ol, ol_answer):
    record = ol_answer("ol_authors_OL4452558A_paulsen_no_bio.json")
    record["bio"] = "Gary Paulsen wrote Hatchet. "
    ol.get(f"{OL}/authors/OL4452558A.json", json=record)
    assert client.get_author("OL4452558A").bio == "Gary Paulsen wrote Hatchet."


def test_search_2022_answer_with_works_paths(client, ol):
    answer_file(ol, "/search.json", "ol_search_q_harry_potter_2022.json")
    page = client.search(field="q", value="Harry Potter")
    assert isinstance(page, SearchPage)
    assert page.num_found == 1755
    assert [doc.work_key for doc in page.docs] == [
        "/works/OL82563W",
        "/works/OL82586W",
        "/works/OL82537W",
        "/works/OL82565W",
    ]
    first = page.docs[0]
    assert first.title == "Harry Potter and the Philosopher's Stone"
    assert first.author_names == ("J. K. Rowling",)
    assert first.author_keys == ()  # this answer did not include author_key
    assert (first.first_publish_year, first.cover_id, first.edition_count) == (1997, 10521270, 246)
    assert first.languages[:3] == ("ita", "eng", "spa")
    assert first.isbns == () and first.subjects == ()
    assert first.last_modified == 1644932677  # last_modified_i: when the work record last changed


def test_search_2013_answer_with_bare_keys(client, ol):
    answer_file(ol, "/search.json", "ol_search_author_tolkien_title_lord_of_the_rings_2013.json")
    page = client.search(field="author", value="tolkien")
    assert page.num_found == 81
    first = page.docs[0]
    assert first.work_key == "/works/OL27448W"  # "OL27448W" in the answer
    assert first.author_keys == ("/authors/OL26320A",)  # "OL26320A" in the answer
    assert first.title == "The Lord of the Rings"
    assert page.docs[1].subtitle == "The Return of The King"
    assert len(first.isbns) == 222  # both forms, as given
    assert first.isbns[:2] == ("9780395193952", "0261103407")
    assert first.subjects[:2] == ("English Fantasy fiction", "In library")
    assert len(first.subjects) == 12


def test_search_doc_without_cover(client, ol):
    answer_file(ol, "/search.json", "ol_search_q_capitalism_and_freedom_2013.json")
    page = client.search(field="q", value="capitalism and freedom")
    assert page.num_found == 88
    assert page.docs[0].cover_id == 140808
    assert page.docs[1] == SearchDoc(
        work_key="/works/OL2949201W",
        title="Capitalism and Freedom",
        author_names=("Peter Nolan",),
        author_keys=("/authors/OL449970A",),
        first_publish_year=2008,
        cover_id=None,
        edition_count=2,
        isbns=page.docs[1].isbns,
        subjects=page.docs[1].subjects,
        languages=("eng",),
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"numFound": 7, "docs": []}, 7),
        ({"num_found": 9, "docs": []}, 9),
        ({"numFound": 5, "num_found": 5, "docs": []}, 5),
        ({"docs": [{"key": "OL1W", "title": "Only"}]}, 1),
    ],
)
def test_num_found_in_either_spelling(client, ol, answer, expected):
    ol.get(f"{OL}/search.json", json=answer)
    assert client.search(field="title", value="x").num_found == expected


def test_search_docs_with_bad_values_are_cleaned(client, ol):
    ol.get(
        f"{OL}/search.json",
        json={
            "numFound": 3,
            "docs": [
                {
                    "key": "/works/OL1W",
                    "title": " Spaced ",
                    "cover_i": -1,
                    "author_key": ["OL1A", "bad", "/authors/OL1A"],
                },
                {"key": "/people/someone", "title": "Not a work"},
                {"title": "No key"},
            ],
        },
    )
    page = client.search(field="q", value="x")
    assert page.docs == (SearchDoc(work_key="/works/OL1W", title="Spaced", author_keys=("/authors/OL1A",)),)


def test_search_sends_fields_limit_page_and_identifies_itself(client, ol):
    ol.get(f"{OL}/search.json", json={"numFound": 0, "docs": []})
    client.search(field="subject", value=" science fiction ", page=3, limit=50)
    (call,) = ol.calls
    assert query_of(call) == {
        "subject": ["science fiction"],
        "page": ["3"],
        "limit": ["50"],
        "fields": [SEARCH_FIELDS],
    }
    assert SEARCH_FIELDS.split(",") == [
        *["key", "title", "subtitle", "author_name", "author_key", "first_publish_year", "cover_i"],
        *["edition_count", "isbn", "subject", "language", "last_modified_i"],
    ]
    assert call.request.headers["User-Agent"] == (
        f"OLCS/{olcs.__version__} (https://catalog.example.org; ops@example.org)"
    )
    assert call.request.headers["Accept"] == "application/json"


def test_user_agent_without_contact(make_client, ol, settings):
    settings.OPEN_LIBRARY_CONTACT = ""
    ol.get(f"{OL}/search.json", json={"numFound": 0, "docs": []})
    make_client().search(field="q", value="x")
    assert (
        ol.calls[0].request.headers["User-Agent"] == f"OLCS/{olcs.__version__} (https://catalog.example.org)"
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"field": "isbn", "value": "x"}, {"field": "q", "value": "  "}, {"field": "q", "value": "x", "page": 0}],
)
def test_search_rejects_bad_arguments_before_sending(client, kwargs):
    with pytest.raises(ValueError):
        client.search(**kwargs)
    assert client.request_count == 0


# --- Batches ------------------------------------------------------------------------------------


def test_search_works_by_keys_is_one_request(client, ol):
    answer_file(ol, "/search.json", "ol_search_q_harry_potter_2022.json")
    found = client.search_works_by_keys(["OL82563W", "/works/OL82586W", "works/OL82563W", "OL999W"])
    (call,) = ol.calls
    assert query_of(call)["q"] == ["key:(/works/OL82563W OR /works/OL82586W OR /works/OL999W)"]
    assert query_of(call)["limit"] == ["3"]
    assert query_of(call)["fields"] == [SEARCH_FIELDS]
    assert sorted(found) == ["/works/OL82563W", "/works/OL82586W"]  # OL999W unknown; others not asked
    assert found["/works/OL82586W"].title == "Harry Potter and the Deathly Hallows"


def test_search_works_by_keys_limits_and_validates(client):
    assert client.search_works_by_keys([]) == {}
    with pytest.raises(InvalidKey):
        client.search_works_by_keys(["OL1W", "OL1M"])
    with pytest.raises(ValueError, match="at most 100"):
        client.search_works_by_keys([f"OL{n}W" for n in range(1, 102)])
    assert client.request_count == 0


def test_search_works_by_isbns_maps_both_forms(client, ol):
    answer_file(ol, "/search.json", "ol_search_q_capitalism_and_freedom_2013.json")
    found = client.search_works_by_isbns(["0-226-26421-1", "9780226264004", "9780000000002"])
    (call,) = ol.calls
    assert query_of(call)["q"] == ["isbn:(9780226264219 OR 9780226264004 OR 9780000000002)"]
    assert query_of(call)["fields"] == [SEARCH_FIELDS]
    assert set(found) == {"9780226264219", "0226264211", "9780226264004", "0226264009"}
    assert {doc.work_key for doc in found.values()} == {"/works/OL2747782W"}


def test_search_works_by_isbns_rejects_an_invalid_isbn_before_sending(client):
    with pytest.raises(InvalidIsbn):
        client.search_works_by_isbns(["9780140328721", "9780140328722"])
    assert client.request_count == 0


def test_books_by_isbns_details_is_one_request(client, ol):
    answer_file(ol, "/api/books", "ol_books_api_details_built.json")
    found = client.books_by_isbns(["0140328726", "978-0-7432-7356-5", "9780000000002"])
    (call,) = ol.calls
    assert query_of(call) == {
        "bibkeys": ["ISBN:9780140328721,ISBN:9780743273565,ISBN:9780000000002"],
        "format": ["json"],
        "jscmd": ["details"],
    }
    assert found == {
        "9780140328721": BooksApiRecord(
            isbn13="9780140328721",
            edition_key="/books/OL7353617M",
            work_keys=("/works/OL45883W",),
            title="Fantastic Mr. Fox",
        ),
        "9780743273565": BooksApiRecord(
            isbn13="9780743273565",
            edition_key="/books/OL23109860M",
            work_keys=("/works/OL468431W",),
            title="The Great Gatsby",
        ),
    }


@pytest.mark.parametrize(
    ("name", "isbn", "edition_key", "title"),
    [
        (
            "ol_books_api_ISBN_0439064872_jscmd_data.json",
            "0439064872",
            "/books/OL32784120M",
            "Harry Potter and the Chamber of Secrets",
        ),
        (
            "ol_books_api_multi_bibkeys_jscmd_data.json",
            "0201558025",
            "/books/OL1429049M",
            "Concrete mathematics",
        ),
        (
            "ol_books_api_ISBN_9780316030571_jscmd_data.json",
            "9780316030571",
            "/books/OL10426208M",
            "Use of Weapons",
        ),
    ],
)
def test_books_api_data_answers_parse_too(client, ol, name, isbn, edition_key, title):
    # These recorded answers are jscmd=data (keyed by the bibkeys as asked, with LCCN and OLID
    # entries beside the ISBN): an ISBN-10 bibkey maps back to the requested ISBN-13.
    answer_file(ol, "/api/books", name)
    found = client.books_by_isbns([isbn])
    (record,) = found.values()
    assert record.edition_key == edition_key
    assert record.title == title
    assert record.work_keys == ()  # jscmd=data has no works
    assert set(found) == {normalize_isbn(isbn)}


def test_books_by_isbns_nothing_found(client, ol):
    ol.get(f"{OL}/api/books", json={})
    assert client.books_by_isbns(["9780140328721"]) == {}
    assert client.books_by_isbns([]) == {}
    assert client.request_count == 1


# --- Editions of a work, and by ISBN -----------------------------------------------------------


def test_work_editions_pages_until_size(client, ol):
    answer_file(ol, "/works/OL27258W/editions.json", "ol_work_editions_OL27258W_limit10.json")
    answer_file(ol, "/works/OL27258W/editions.json", "ol_work_editions_OL27258W_offset10_built.json")
    editions = client.get_work_editions("OL27258W", limit=10)
    assert [query_of(call)["offset"] for call in ol.calls] == [["0"], ["10"]]
    assert [query_of(call)["limit"] for call in ol.calls] == [["10"], ["10"]]
    assert len(editions) == 18  # 10 + 9, one edition listed on both pages
    first = editions[0]
    assert first == EditionRecord(
        key="/books/OL17987798M",
        title="Neuromantiker",
        work_keys=("/works/OL27258W",),
        isbn_10=("8790136292",),
        languages=("dan",),
        publish_date="1995",
    )
    assert any(edition.isbn_13 == ("9780441569595",) for edition in editions)


def test_work_editions_stops_at_max_pages(client, ol):
    answer_file(ol, "/works/OL27258W/editions.json", "ol_work_editions_OL27258W_limit10.json")
    assert len(client.get_work_editions("/works/OL27258W", limit=10, max_pages=1)) == 10


def test_edition_for_isbn_follows_the_302(client, ol):
    ol.get(
        f"{OL}/isbn/9780140328721.json",
        status=302,
        headers={"Location": "/books/OL7353617M.json"},
    )
    answer_file(ol, "/books/OL7353617M.json", "ol_isbn_9780140328721_fantastic_mr_fox.json")
    edition = client.edition_for_isbn("0-14-032872-6")
    assert edition.key == "/books/OL7353617M"
    assert edition.work_keys == ("/works/OL45883W",)
    assert [urlsplit(call.request.url).path for call in ol.calls] == [
        "/isbn/9780140328721.json",
        "/books/OL7353617M.json",
    ]
    assert client.request_count == 2
    assert client.throttle.acquired == 2  # the redirect hop waited for its own slot


def test_unknown_isbn_is_an_html_404(client, ol):
    ol.get(
        f"{OL}/isbn/9780000000002.json",
        status=404,
        body=(DATA / "ol_isbn_notfound_9780000000002.html").read_bytes(),
        content_type="text/html; charset=utf-8",
    )
    with pytest.raises(OpenLibraryNotFound) as caught:
        client.edition_for_isbn("9780000000002")
    assert caught.value.status == 404
    assert caught.value.retryable is False
    assert caught.value.url == f"{OL}/isbn/9780000000002.json"
    assert client.request_count == 1  # a 404 is not retried


def test_too_many_http_redirects(client, ol):
    for hop in range(7):
        ol.get(
            f"{OL}/isbn/978014032872{hop}.json",
            status=302,
            headers={"Location": f"/isbn/978014032872{hop + 1}.json"},
        )
    ol.assert_all_requests_are_fired = False
    with pytest.raises(OpenLibraryError, match="more than 5 HTTP redirects"):
        client.edition_for_isbn("9780140328721")
    assert client.request_count == 6


# --- Redirect and delete records, errors -----------------------------------------------------


def test_redirect_chain_of_two_hops_ends_at_the_surviving_work(client, ol):
    answer_file(ol, "/works/OL100W.json", "ol_works_redirect_OL100W_to_OL101W.json")
    answer_file(ol, "/works/OL101W.json", "ol_works_redirect_OL101W_to_OL2019091W.json")
    answer_file(ol, "/works/OL2019091W.json", "ol_works_OL2019091W_description_text_object.json")
    work = client.get_work("https://openlibrary.org/works/OL100W/Old_Title")
    assert work.key == "/works/OL2019091W"
    assert work.redirected_from == ("/works/OL100W", "/works/OL101W")
    assert work.title == "Oraciones y pensamientos"
    assert client.request_count == 3


def test_redirect_loop_is_an_error(client, ol):
    answer_file(ol, "/works/OL102W.json", "ol_works_redirect_OL102W_to_OL103W.json")
    answer_file(ol, "/works/OL103W.json", "ol_works_redirect_OL103W_to_OL102W.json")
    with pytest.raises(
        OpenLibraryError, match="redirect loop: /works/OL102W -> /works/OL103W -> /works/OL102W"
    ):
        client.get_work("OL102W")
    assert client.request_count == 2


def test_more_than_five_redirect_hops_is_an_error(client, ol):
    for number in range(1, 7):
        ol.get(
            f"{OL}/works/OL{number}W.json",
            json={
                "type": {"key": "/type/redirect"},
                "key": f"/works/OL{number}W",
                "location": f"/works/OL{number + 1}W",
            },
        )
    with pytest.raises(OpenLibraryError, match="more than 5 redirects from /works/OL1W") as caught:
        client.get_work("OL1W")
    assert caught.value.retryable is False
    assert client.request_count == 6


def test_redirect_to_another_kind_of_record_is_an_error(client, ol):
    ol.get(f"{OL}/works/OL5W.json", json={"type": {"key": "/type/redirect"}, "location": "/books/OL5M"})
    with pytest.raises(OpenLibraryError, match="not a work key"):
        client.get_work("OL5W")


def test_deleted_work(client, ol):
    answer_file(ol, "/works/OL104W.json", "ol_works_delete_OL104W.json")
    assert client.get_work("OL104W") == DeletedRecord(key="/works/OL104W")


def test_redirect_to_a_deleted_work(client, ol):
    answer_file(ol, "/works/OL100W.json", "ol_works_redirect_OL100W_to_OL101W.json")
    ol.get(f"{OL}/works/OL101W.json", json={"type": {"key": "/type/delete"}, "key": "/works/OL101W"})
    assert client.get_work("OL100W") == DeletedRecord(key="/works/OL101W", redirected_from=("/works/OL100W",))


def test_deleted_and_redirected_editions_and_authors(client, ol):
    ol.get(f"{OL}/books/OL1M.json", json={"type": {"key": "/type/redirect"}, "location": "/books/OL7353617M"})
    answer_file(ol, "/books/OL7353617M.json", "ol_books_OL7353617M_fantastic_mr_fox.json")
    ol.get(f"{OL}/authors/OL2A.json", json={"type": {"key": "/type/delete"}, "key": "/authors/OL2A"})
    edition = client.get_edition("OL1M")
    assert (edition.key, edition.redirected_from) == ("/books/OL7353617M", ("/books/OL1M",))
    assert client.get_author("OL2A") == DeletedRecord(key="/authors/OL2A")


def test_unknown_work_is_a_json_404(client, ol):
    answer_file(ol, "/works/OL999999W.json", "ol_works_notfound_OL999999W.json", status=404)
    with pytest.raises(OpenLibraryNotFound, match="Open Library has no /works/OL999999W") as caught:
        client.get_work("OL999999W")
    assert (caught.value.status, caught.value.retryable) == (404, False)
    assert isinstance(caught.value, OpenLibraryError)


def test_malformed_json_is_an_error(client, ol):
    ol.get(f"{OL}/works/OL1W.json", body='{"key": "/works/OL1W", "title": ', content_type="application/json")
    with pytest.raises(OpenLibraryError, match="malformed JSON") as caught:
        client.get_work("OL1W")
    assert (caught.value.status, caught.value.retryable) == (200, False)
    assert client.request_count == 1


def test_html_where_json_was_expected_is_an_error(client, ol):
    ol.get(f"{OL}/works/OL1W.json", body="<html><body>Maintenance</body></html>", content_type="text/html")
    with pytest.raises(OpenLibraryError, match="HTML where JSON was expected"):
        client.get_work("OL1W")


def test_json_labelled_as_html_is_still_json(client, ol, ol_answer):
    record = ol_answer("ol_works_OL3616800W_no_covers_no_description.json")
    ol.get(f"{OL}/works/OL3616800W.json", body=json.dumps(record), content_type="text/html; charset=utf-8")
    assert client.get_work("OL3616800W").title == "Selected aspects of Montana water law"


def test_a_search_answer_without_docs_is_an_error(client, ol):
    ol.get(f"{OL}/search.json", json={"error": "solr is down"})
    with pytest.raises(OpenLibraryError, match="no docs list"):
        client.search(field="q", value="x")


def test_a_client_error_is_not_retried(client, ol):
    ol.get(f"{OL}/search.json", status=400, json={"error": "bad query"})
    with pytest.raises(OpenLibraryError, match="answered 400") as caught:
        client.search(field="q", value="x")
    assert (caught.value.status, caught.value.retryable) == (400, False)
    assert client.request_count == 1


def test_an_answer_over_the_size_cap_is_an_error(client, ol):
    client.max_body_bytes = 1000
    ol.get(f"{OL}/works/OL1W.json", body=json.dumps({"key": "/works/OL1W", "title": "x" * 2000}))
    with pytest.raises(OpenLibraryError, match="over the 1000 byte limit"):
        client.get_work("OL1W")


def test_bad_keys_and_isbns_are_rejected_before_sending(client):
    with pytest.raises(InvalidKey):
        client.get_work("OL1M")
    with pytest.raises(InvalidKey):
        client.get_edition("not a key")
    with pytest.raises(InvalidIsbn):
        client.edition_for_isbn("12345")
    with pytest.raises(InvalidIsbn):
        client.books_by_isbns(["9780140328722"])
    assert client.request_count == 0


def test_every_request_waits_for_the_throttle(client, ol):
    answer_file(ol, "/works/OL100W.json", "ol_works_redirect_OL100W_to_OL101W.json")
    answer_file(ol, "/works/OL101W.json", "ol_works_redirect_OL101W_to_OL2019091W.json")
    answer_file(ol, "/works/OL2019091W.json", "ol_works_OL2019091W_description_text_object.json")
    ol.get(f"{OL}/search.json", json={"numFound": 0, "docs": []})
    client.get_work("OL100W")
    client.search(field="q", value="x")
    assert client.throttle.acquired == client.request_count == 4
