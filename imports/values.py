"""Python readings of the few value kinds SQL cannot parse well; applied once per DISTINCT value."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from specimens.dates import UNKNOWN_ORDER, EventDateError, parse_event_date
from specimens.models import BasisOfRecord

# "Tue Apr 01 00:00:00 CET 1930": java.util.Date.toString(), found in old GBIF downloads.
JAVA_DATE = re.compile(
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{1,2}) "
    r"\d{2}:\d{2}:\d{2} [A-Z]{2,5} (\d{4})$"
)
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}


@dataclass(frozen=True)
class DateReading:
    text: str = ""  # the ISO 8601 value stored in eventDate
    start: dt.date | None = None
    end: dt.date | None = None
    year: int | None = None
    month: int | None = None
    day: int | None = None
    error: str | None = None
    java: bool = False
    time: str = ""  # Darwin Core eventTime read from the value ("" for none, or midnight)
    changed: bool = False  # stored differently from the file: the file's text goes to verbatimEventDate


def event_date_read(raw: str, *, today: dt.date, order: str = UNKNOWN_ORDER) -> DateReading:
    """One eventDate value of a file; `order` is the file's slash-date order (slash_order_detect)."""
    text = " ".join(raw.split())
    java = JAVA_DATE.match(text)
    if java:
        month, day, year = MONTHS[java.group(1)], int(java.group(2)), int(java.group(3))
        try:
            iso = dt.date(year, month, day).isoformat()
        except ValueError:
            return DateReading(error=f"eventDate '{text}' is not a real calendar date.")
        parsed = parse_event_date(iso)
        return DateReading(iso, parsed.start, parsed.end, parsed.year, parsed.month, parsed.day, java=True, changed=True)
    try:
        parsed = parse_event_date(text, order=order)
    except EventDateError as exc:
        return DateReading(error=f"eventDate: {exc}")
    if parsed.start > today:
        return DateReading(error=f"eventDate '{text}' is in the future.")
    return DateReading(parsed.text, parsed.start, parsed.end, parsed.year, parsed.month, parsed.day,
                       time=parsed.time, changed=parsed.text != text)


YMD_NOT_A_DATE = "year/month/day {value} is not a real calendar date; no eventDate was derived from it."
YMD_IN_FUTURE = "year/month/day {value} is in the future; no eventDate was derived from it."


def event_date_from_parts(year: str | None, month: str | None, day: str | None, *, today: dt.date) -> DateReading:
    """eventDate and its range from the year, month and day columns of a row without eventDate.

    Parts that are not whole numbers in range are left to the column checks (their values are
    dropped with a warning); a day without a month, or a month without a year, derives nothing.
    """
    parts = []
    for text, low, high in ((year, 1, 9999), (month, 1, 12), (day, 1, 31)):
        text = (text or "").strip()
        if not text:
            break
        if not re.fullmatch(r"[0-9]{1,4}", text) or not low <= int(text) <= high:
            break
        parts.append(int(text))
    if not parts:
        return DateReading()
    iso = "-".join([f"{parts[0]:04d}", *(f"{p:02d}" for p in parts[1:])])
    shown = "-".join(p for p in (year, month, day) if p)
    try:
        parsed = parse_event_date(iso)
    except EventDateError:
        return DateReading(error=YMD_NOT_A_DATE.format(value=shown))
    if parsed.start > today:
        return DateReading(error=YMD_IN_FUTURE.format(value=shown))
    return DateReading(iso, parsed.start, parsed.end, parsed.year, parsed.month, parsed.day)


_BASIS = {re.sub(r"[^a-z]", "", value.lower()): value for value in BasisOfRecord.values}
_BASIS.update({
    "specimen": BasisOfRecord.PRESERVED_SPECIMEN,
    "s": BasisOfRecord.PRESERVED_SPECIMEN,
    "fossil": BasisOfRecord.FOSSIL_SPECIMEN,
    "living": BasisOfRecord.LIVING_SPECIMEN,
    "observation": BasisOfRecord.HUMAN_OBSERVATION,
    "o": BasisOfRecord.HUMAN_OBSERVATION,
    "literature": BasisOfRecord.MATERIAL_CITATION,
    "unknown": BasisOfRecord.OCCURRENCE,  # GBIF's enum for "not stated"
})


def basis_of_record_read(raw: str) -> tuple[str | None, str | None]:
    """'PRESERVED_SPECIMEN' (GBIF enum), 'preservedspecimen', 'Preserved specimen' → PreservedSpecimen."""
    value = _BASIS.get(re.sub(r"[^a-z]", "", raw.lower()))
    if value:
        return str(value), None
    return None, f"basisOfRecord '{raw}' is not one of: {', '.join(BasisOfRecord.values)}."


LICENCES = {
    "cc0": "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
    "cc010": "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
    "ccby40": "http://creativecommons.org/licenses/by/4.0/legalcode",
    "ccby": "http://creativecommons.org/licenses/by/4.0/legalcode",
    "ccbync40": "http://creativecommons.org/licenses/by-nc/4.0/legalcode",
    "ccbync": "http://creativecommons.org/licenses/by-nc/4.0/legalcode",
    "publicdomain": "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
}


def license_read(raw: str) -> tuple[str | None, str | None]:
    text = raw.strip()
    if re.match(r"^https?://\S+$", text) and len(text) <= 200:
        return text, None
    value = LICENCES.get(re.sub(r"[^a-z0-9]", "", text.lower()))
    if value:
        return value, None
    return None, f"license '{text}' is neither a URL nor a known licence (CC0, CC BY 4.0, CC BY-NC 4.0)."


# --- external media (multimedia extensions) -----------------------------------------------------

MEDIA_URL_MAX_LENGTH = 2000
MEDIA_URL_NOT_WEB = "'{url}' is not a web address (http or https); the media link was left out."
MEDIA_URL_PRIVATE = "'{url}' points at a private or local address; the media link was left out."
MEDIA_URL_MISSING = "This media row has no address (identifier or accessURI); it was left out."
MEDIA_URL_TOO_LONG = "The media address is longer than {limit} characters; the media link was left out."
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home", ".intranet", ".corp")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff")


def media_url_refusal(url: str) -> str | None:
    """Why a media address from a file is refused, or None. Nothing is fetched (now or at import):
    this keeps scripts, local files, inline data and addresses inside our network off record pages."""
    import ipaddress
    from urllib.parse import urlsplit

    if len(url) > MEDIA_URL_MAX_LENGTH:
        return MEDIA_URL_TOO_LONG.format(limit=MEDIA_URL_MAX_LENGTH)
    if any(c.isspace() or ord(c) < 32 for c in url):
        return MEDIA_URL_NOT_WEB.format(url=url)
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port  # noqa: B018 — raises on a malformed port
    except ValueError:
        return MEDIA_URL_NOT_WEB.format(url=url)
    if parts.scheme.lower() not in ("http", "https") or not host:
        return MEDIA_URL_NOT_WEB.format(url=url)
    if host == "localhost" or host.endswith(_PRIVATE_SUFFIXES) or "." not in host and ":" not in host:
        return MEDIA_URL_PRIVATE.format(url=url)
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        # Numeric forms a browser reads as an address (2130706433, 0x7f.1, 127.1) are refused too.
        if re.fullmatch(r"[0-9a-fx.]+", host) and not re.search(r"[g-wyz]", host) and re.search(r"\d", host.split(".")[-1]):
            return MEDIA_URL_PRIVATE.format(url=url)
        return None
    if not address.is_global:
        return MEDIA_URL_PRIVATE.format(url=url)
    return None


def media_item_read(values: dict[str, str]) -> tuple[dict | None, str | None, str]:
    """(item, refusal, address) for one multimedia row; `values` are keyed as standards.terms.MEDIA_TERMS.

    The item keeps the address, format, type, title, licence, rights holder and creator, and
    says whether the address is an image (a thumbnail on the record page) or a link.
    """
    url = values.get("url") or values.get("page") or ""
    if not url:
        return None, MEDIA_URL_MISSING, ""
    refusal = media_url_refusal(url)
    if refusal:
        return None, refusal, url
    item = {key: values[key] for key in ("format", "type", "title", "license", "rights_holder", "creator")
            if values.get(key)}
    item["url"] = url
    if values.get("page") and values["page"] != url and not media_url_refusal(values["page"]):
        item["page"] = values["page"]
    media_format, media_type = values.get("format", "").lower(), values.get("type", "").lower()
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    item["image"] = bool(values.get("url")) and (
        media_format.startswith("image/") or media_type.rsplit("/", 1)[-1] in ("stillimage", "image")
        or (not media_format and path.endswith(IMAGE_SUFFIXES))
    )
    return item, None, url
