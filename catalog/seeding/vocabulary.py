"""The seeder's vocabulary: title words, author names, subjects, languages, subtitles.

Fixed lists (and a fixed made-up tail of rarer words), so the same seed gives the same catalog,
and the small Python-side tables the batch SQL draws from: the weighted word bag, ISBN digit
triplets, author names, texts as JSON and as search words.
"""

from __future__ import annotations

import json
import random

from catalog.models import fold
from catalog.search import words

WORDS = [
    "history",
    "war",
    "love",
    "life",
    "world",
    "house",
    "night",
    "time",
    "river",
    "city",
    "garden",
    "king",
    "queen",
    "shadow",
    "light",
    "secret",
    "journey",
    "island",
    "winter",
    "summer",
    "stone",
    "fire",
    "water",
    "sea",
    "mountain",
    "road",
    "empire",
    "dream",
    "silence",
    "stars",
    "children",
    "mother",
    "father",
    "daughter",
    "son",
    "heart",
    "blood",
    "gold",
    "iron",
    "glass",
    "forest",
    "storm",
    "moon",
    "sun",
    "book",
    "letters",
    "memory",
    "music",
    "song",
    "dance",
    "art",
    "science",
    "nature",
    "theory",
    "introduction",
    "guide",
    "principles",
    "modern",
    "ancient",
    "early",
    "new",
    "last",
    "first",
    "lost",
    "hidden",
    "broken",
    "silent",
    "little",
    "great",
    "dark",
    "bright",
    "wild",
    "short",
    "complete",
    "collected",
    "selected",
    "essays",
    "poems",
    "stories",
    "tales",
    "notes",
    "lectures",
    "studies",
    "survey",
    "économie",
    "café",
    "señora",
    "élite",
    "naïve",
    "façade",
    "über",
    "fiancée",
    "mañana",
    "déjà",
    "smörgåsbord",
    "crème",
    "economics",
    "politics",
    "philosophy",
    "religion",
    "language",
    "mathematics",
    "physics",
    "chemistry",
    "biology",
    "medicine",
    "law",
    "society",
    "culture",
    "education",
    "power",
    "freedom",
    "justice",
    "money",
    "trade",
    "revolution",
    "republic",
    "nation",
    "village",
    "harbor",
    "valley",
    "desert",
    "bridge",
    "tower",
    "castle",
    "church",
    "temple",
    "market",
    "school",
    "library",
    "museum",
    "painter",
    "soldier",
    "sailor",
    "doctor",
    "teacher",
    "stranger",
    "traveller",
    "prisoner",
    "witness",
    "widow",
    "orphan",
    "pilgrim",
]
# Words that occur in very few titles: what a search for something rare finds.
RARE_WORDS = [
    f"{a}{b}"
    for a in ("zor", "quil", "vex", "brom", "thal", "myr", "oxen", "pell")
    for b in ("andine", "ethic", "ovary", "umbra", "istic", "alith", "ogram", "ennial", "opsis", "arium")
]
# Title words follow a Zipf-Mandelbrot law, p(k) ~ 1 / (k + ZIPF_OFFSET), over WORDS and then
# TAIL_WORDS (made-up words: a real catalog's vocabulary is large): the most frequent word is in
# about 3 % of titles, as in real catalogs. Word k is drawn ZIPF_SCALE / (k + ZIPF_OFFSET) times
# as often as a rare word.
ZIPF_OFFSET = 24
ZIPF_SCALE = 2_600
TAIL_SIZE = 2_400
FIRST_NAMES = [
    "José",
    "Zoë",
    "Björn",
    "Émile",
    "François",
    "Anaïs",
    "Søren",
    "Łukasz",
    "Chloé",
    "Inés",
    "Jürgen",
    "Renée",
    "Núria",
    "Dvořák",
    "Åsa",
    "Maria",
    "John",
    "Ana",
    "Peter",
    "Olga",
    "Hiroshi",
    "Amara",
    "Chen",
    "Fatima",
    "Liam",
    "Noor",
    "Mateo",
    "Ingrid",
    "Kwame",
    "Priya",
    "Tomás",
    "Göran",
    "Małgorzata",
    "Zoltán",
    "Ágnes",
    "Jiří",
    "Héloïse",
    "Joaquín",
    "Björk",
    "Stéphane",
    "Ümit",
    "Çağla",
    "Øyvind",
    "Raphaël",
    "Elizabeth",
    "James",
    "Mary",
    "William",
    "Sarah",
    "David",
    "Aiko",
    "Yusuf",
    "Leïla",
    "Dmitri",
    "Nadia",
    "Oskar",
    "Sigríður",
    "Tadeusz",
]
LAST_NAMES = [
    "García",
    "Müller",
    "Øster",
    "Lefèvre",
    "Brontë",
    "Dostoyevsky",
    "Hašek",
    "Kierkegaard",
    "Østergård",
    "Nuñez",
    "Smith",
    "Tolkien",
    "Rowling",
    "Achebe",
    "Murakami",
    "Okafor",
    "Silva",
    "Novak",
    "Kowalski",
    "Jansen",
    "Rossi",
    "Dubois",
    "Haddad",
    "Sato",
    "Mbeki",
    "Larsen",
    "Žižek",
    "Ibáñez",
    "Gonçalves",
    "Çelik",
    "Nørgaard",
    "Jókai",
    "Dvořáková",
    "Schäfer",
    "Fernández",
    "Lindqvist",
    "O'Brien",
    "Austen",
    "Dickens",
    "Woolf",
    "Eliot",
    "Márquez",
    "Borges",
    "Lagerlöf",
    "Mistral",
    "Szymborska",
    "Pamuk",
    "Saramago",
    "Kundera",
]
INITIALS = ["A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "T", "V", "W"]
# (subject, weight): a few subjects are far more common than others.
SUBJECTS = (
    ("Fiction", 12),
    ("History", 8),
    ("Biography", 5),
    ("Poetry", 3),
    ("Science", 4),
    ("Philosophy", 2),
    ("Children's literature", 4),
    ("Fantasy", 3),
    ("Mystery", 3),
    ("Romance", 3),
    ("Travel", 2),
    ("Art", 2),
    ("Music", 2),
    ("Economics", 2),
    ("Politics", 2),
    ("Religion", 2),
    ("Mathematics", 1),
    ("Medicine", 1),
    ("Law", 1),
    ("Education", 1),
    ("Cooking", 1),
    ("Gardening", 1),
    ("Nature", 1),
    ("Psychology", 1),
    ("Sociology", 1),
    ("Drama", 1),
    ("Essays", 1),
    ("Short stories", 1),
    ("Science fiction", 2),
    ("Horror", 1),
    ("Littérature française", 1),
    ("Géographie", 1),
)
# (language, weight): mostly English.
LANGUAGES = (
    ("eng", 70),
    ("fre", 6),
    ("ger", 6),
    ("spa", 6),
    ("ita", 4),
    ("por", 3),
    ("rus", 2),
    ("jpn", 2),
    ("chi", 1),
)
SUBTITLES = (
    "a novel",
    "a history",
    "an introduction",
    "selected essays",
    "stories",
    "a memoir",
    "with illustrations",
    "second edition",
    "a study",
    "poems",
    "collected letters",
    "a guide for beginners",
    "from the beginnings to the present",
    "an anthology",
    "volume I",
    "volume II",
    "édition revue et augmentée",
    "Roman",
    "Erzählungen",
    "una novela",
)


def search_words(text: str) -> str:
    """A text's search words joined by spaces (catalog.search.words): what the FTS rows key one by one."""
    found = words(text)
    if not found:
        raise ValueError(f"{text!r} has no search words")
    return " ".join(found)


def canonical_json(value) -> str:
    """JSON exactly as catalog.models.content_hash writes it (sorted keys, compact, UTF-8)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _json_inner(text: str) -> str:
    """A text escaped as inside a JSON string (escaping is per character: pieces concatenate)."""
    return canonical_json(text)[1:-1]


def _tail_words(count: int) -> list[str]:
    """Made-up words of two or three syllables, a few with an accent: always the same ones."""
    rng = random.Random("olcs seed vocabulary")  # noqa: S311 - a fixed vocabulary, not a secret
    onsets = [
        "b",
        "br",
        "c",
        "d",
        "dr",
        "f",
        "g",
        "gr",
        "h",
        "k",
        "l",
        "m",
        "n",
        "p",
        "pr",
        "r",
        "s",
        "st",
        "t",
        "tr",
        "v",
        "z",
    ]
    vowels = ["a", "e", "i", "o", "u", "a", "e", "i", "o", "ai", "ea", "ou"]
    codas = ["", "", "l", "m", "n", "nd", "r", "s", "st", "th"]
    accents = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü"}
    taken = {*WORDS, *RARE_WORDS}
    words: list[str] = []
    while len(words) < count:
        syllables = rng.choice((2, 2, 3))
        word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables)) + rng.choice(codas)
        if rng.random() < 0.05:
            position = rng.choice([i for i, letter in enumerate(word) if letter in accents])
            word = word[:position] + accents[word[position]] + word[position + 1 :]
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


def _word_bag() -> list[tuple[str, ...]]:
    """The title words, each as often as ZIPF_SCALE / (rank + ZIPF_OFFSET), as olcs_seed_words rows."""
    ranked = [*WORDS, *_tail_words(TAIL_SIZE)]
    weighted = [(word, max(1, round(ZIPF_SCALE / (k + ZIPF_OFFSET)))) for k, word in enumerate(ranked)]
    weighted += [(word, 1) for word in RARE_WORDS]
    bag = []
    for word, weight in weighted:
        capitalized = word[:1].upper() + word[1:]
        # A title's sort key is the fold of its words joined by spaces: the same for either form.
        assert fold(capitalized) == fold(word), word
        # One search word as it stands: the title is already its words joined by spaces (FTS rows).
        assert words(capitalized) == [capitalized], word
        entry = (
            word,
            capitalized,
            fold(word),
            " " + word,
            " " + fold(word),
            _json_inner(capitalized),
            " " + _json_inner(word),
        )
        bag += [entry] * weight
    return bag


def _isbn_triplets() -> list[tuple]:
    """Three digits of an ISBN body and their share of the check-digit sums, for 000 … 999.

    A 9-digit body is three triplets A B C; ISBN-13 weighs them 3,1,3 / 1,3,1 / 3,1,3 (after
    978/979), ISBN-10 10,9,8 / 7,6,5 / 4,3,2.
    """
    rows = []
    for i in range(1000):
        a, b, c = (int(digit) for digit in f"{i:03d}")
        rows.append(
            (
                i,
                f"{i:03d}",
                3 * a + b + 3 * c,
                a + 3 * b + c,
                10 * a + 9 * b + 8 * c,
                7 * a + 6 * b + 5 * c,
                4 * a + 3 * b + 2 * c,
            )
        )
    return rows


def _author_name(rng: random.Random) -> str:
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    roll = rng.random()
    if roll < 0.15:
        first, last = name.split(" ", 1)
        name = f"{first} {rng.choice(INITIALS)}. {last}"
    elif roll < 0.25:
        name += f"-{rng.choice(LAST_NAMES)}"
    return name
