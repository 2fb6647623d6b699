"""Pages of a long list: which rows to fetch, and the links under the list ("Trang 2 / 7")."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from pa_server.schemas.common import whole_number

#: Rows per page of the staff lists.
PER_PAGE = 50


@dataclass(frozen=True)
class Paging:
    """Page `page` (from 1) of `total` rows, `per_page` at a time; `query` keeps the filters."""

    page: int
    per_page: int
    total: int
    query: tuple[tuple[str, str], ...] = ()

    @property
    def pages(self) -> int:
        """How many pages (at least 1, so an empty list is "page 1 of 1")."""
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        """Rows to skip to reach this page."""
        return (self.page - 1) * self.per_page

    @property
    def first_row(self) -> int:
        """The number (from 1) of this page's first row; 0 when the list is empty."""
        return 0 if self.total == 0 else self.offset + 1

    @property
    def last_row(self) -> int:
        """The number of this page's last row."""
        return min(self.total, self.offset + self.per_page)

    @property
    def beyond(self) -> bool:
        """The page asked for lies past the last one (a typed or stale address)."""
        return self.page > self.pages

    @property
    def has_prev(self) -> bool:
        """A page before this one exists."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """A page after this one exists."""
        return self.page < self.pages

    def url(self, page: int) -> str:
        """The query string of page `page`, filters kept ("?status=draft&trang=2")."""
        params = [(k, v) for k, v in self.query if k != "trang" and v]
        if page > 1:
            params.append(("trang", str(page)))
        return "?" + urlencode(params) if params else "?"

    def window(self, around: int = 2) -> list[int | None]:
        """Page numbers to link, None where some are skipped: [1, None, 4, 5, 6, None, 12]."""
        shown = {1, self.pages} | set(
            range(max(1, self.page - around), min(self.pages, self.page + around) + 1)
        )
        out: list[int | None] = []
        last = 0
        for n in sorted(shown):
            if n - last > 1:
                out.append(None)
            out.append(n)
            last = n
        return out


def page_number(raw: str | int | None) -> int:
    """A page number from the query (`trang`): anything not a positive number is page 1."""
    text = str(raw or "").strip()
    number = whole_number(text)
    return number if number is not None and 0 < number < 1_000_000 else 1


def paginate(
    page: str | int | None,
    total: int,
    *,
    per_page: int = PER_PAGE,
    query: dict[str, str] | None = None,
) -> Paging:
    """The `Paging` for a requested page (a page past the end stays so: it shows no rows)."""
    return Paging(page_number(page), per_page, total, tuple((query or {}).items()))
