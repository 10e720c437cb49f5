"""The translation catalogs: extract the messages of the code and templates (babel.cfg), and
bring each language's messages.po up to date with them.

    python -m app.web.catalogs update   # after changing a marked string: then translate the
                                        # new or fuzzy entries of app/locale/cy/.../messages.po

tests/unit/test_catalogs.py runs `extract` and fails while a catalog is out of date or has a
message without a translation.
"""

from __future__ import annotations

import pathlib
import sys

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from app.web.language import DEFAULT, DOMAIN, LANGUAGES, LOCALE_DIR

ROOT = LOCALE_DIR.parent.parent
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "N_": None,
    "NP_": ((1, "c"), 2),
    "translate": None,
    "say": None,  # app.domain.coaching
    # app.domain.errors: the engine's refusals are English sentences marked by their constructor.
    "Forbidden": None,
    "NotNow": None,
    "NotFound": None,
    "Invalid": None,
    "RoomMovedOn": None,
    "NotAQuestion": None,
    # app.db: the data layer's refusals (app.db.refusal), translated where shown (forms.said).
    "AdminError": None,
    "ScheduleError": None,
    "FeedbackError": None,
    "LogError": None,
    "CommitmentError": None,
    "AttendanceError": None,
}


def extract() -> Catalog:
    """Every message the code and templates mark, as a template catalog (.pot)."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    catalog = Catalog(project="Setroom", domain=DOMAIN, charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS, comment_tags=("Translators:",)
    ):
        catalog.add(
            message,
            None,
            [(filename, lineno)],
            auto_comments=comments,
            context=context,
        )
    return catalog


def po_path(language: str) -> pathlib.Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(language: str) -> Catalog:
    with po_path(language).open("rb") as source:
        return read_po(source, locale=language, domain=DOMAIN)


def update() -> None:
    """Merge the extracted messages into each translated catalog: new ones come in empty,
    changed ones fuzzy, gone ones are dropped."""
    template = extract()
    for language in LANGUAGES:
        if language == DEFAULT:
            continue
        path = po_path(language)
        if path.is_file():
            catalog = read(language)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=language, domain=DOMAIN, project="Setroom")
        catalog.update(template, update_header_comment=False)
        catalog.obsolete.clear()
        with path.open("wb") as out:
            write_po(out, catalog, width=100, include_lineno=False)


def main(argv: list[str]) -> int:
    if argv[1:] == ["update"]:
        update()
        return 0
    print("usage: python -m app.web.catalogs update", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
