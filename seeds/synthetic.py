"""Realistic synthetic specimens at scale, for benchmarks and demos.

Rows are generated in Python in chunks and streamed with COPY straight into the specimen table
(1 M rows in about two minutes on two cores, instead of ~10^3 rows a second through
`specimen_create`). They are built the way the services build them: uuid + `occurrence_id_mint`,
`catalog_number_normalise`, event dates parsed by `parse_event_date`, the name and taxon of a
real Taxon node, and one current Identification per specimen. Like an import, the load writes
each record's insert event (its version 1) set-based, one INSERT … SELECT a chunk, with the
per-row insert triggers of the audit trail switched off (BULK_IMPORT_SETTING), and checks its
foreign keys set-based when the role may (see _references_lock); later edits of these rows are
tracked as usual. UUIDs are time-ordered (version 7), so ten million rows fill the right edge of
the uuid and occurrenceID indexes instead of a random page each.

Values come from small pools of real names (seeds/synthetic_taxa.txt, UK places and a
collector pool below), sampled with skewed weights: a few collectors and common species
dominate, dates cluster in 1850-1990 and a quarter of the places lack coordinates.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import pghistory
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from psycopg import sql as psql

from institutions.models import Collection
from specimens.dates import parse_event_date
from specimens.history import specimen_events_write
from specimens.models import BULK_IMPORT_SETTING, Identification, Specimen, Taxon
from specimens.dwc import HIGHER_RANKS
from specimens.services import catalog_number_normalise, occurrence_id_mint, specimen_counts_refresh, taxa_make_public
from specimens.taxonomy import taxa_ensure

TAXA_FILE = Path(__file__).resolve().parent / "synthetic_taxa.txt"
CHUNK_ROWS = 50_000  # rows per transaction: one COPY of specimens + one INSERT of identifications
WRITE_ROWS = 5_000  # rows per COPY write, so PostgreSQL works while Python builds the next batch
NULL = r"\N"
GENERATE_BAD_COUNT = "Give a positive number of specimens to generate."
GENERATE_NUMBERS_EXHAUSTED = "Catalogue numbers {prefix}{{{width} digits}} run out after {last}; use another collection."

# locality, county (vice-county), state/province, country code, latitude, longitude
PLACES = [
    ("Wicken Fen", "Cambridgeshire", "England", "GB", 52.3117, 0.2917),
    ("Box Hill", "Surrey", "England", "GB", 51.2560, -0.3110),
    ("Burnham Beeches", "Buckinghamshire", "England", "GB", 51.5590, -0.6310),
    ("New Forest, near Lyndhurst", "Hampshire", "England", "GB", 50.8720, -1.5760),
    ("Epping Forest", "Essex", "England", "GB", 51.6610, 0.0530),
    ("Wytham Woods", "Berkshire", "England", "GB", 51.7740, -1.3380),
    ("Kew Green", "Surrey", "England", "GB", 51.4830, -0.2900),
    ("Hampstead Heath", "Middlesex", "England", "GB", 51.5600, -0.1630),
    ("Slapton Ley", "Devon", "England", "GB", 50.2830, -3.6530),
    ("Dartmoor, Postbridge", "Devon", "England", "GB", 50.5940, -3.9130),
    ("Lundy", "Devon", "England", "GB", 51.1800, -4.6700),
    ("The Lizard, Kynance Cove", "Cornwall", "England", "GB", 49.9740, -5.2310),
    ("Penzance", "Cornwall", "England", "GB", 50.1180, -5.5370),
    ("St Mary's, Isles of Scilly", "Cornwall", "England", "GB", 49.9150, -6.3010),
    ("Chesil Beach", "Dorset", "England", "GB", 50.6170, -2.5500),
    ("Studland Heath", "Dorset", "England", "GB", 50.6520, -1.9560),
    ("Ventnor, Isle of Wight", "Hampshire", "England", "GB", 50.5940, -1.2070),
    ("Folkestone Warren", "Kent", "England", "GB", 51.0960, 1.2260),
    ("Dungeness", "Kent", "England", "GB", 50.9140, 0.9630),
    ("Wye Downs", "Kent", "England", "GB", 51.1800, 0.9500),
    ("Lewes Downs", "Sussex", "England", "GB", 50.8730, 0.0330),
    ("Beachy Head", "Sussex", "England", "GB", 50.7340, 0.2420),
    ("Malvern Hills", "Worcestershire", "England", "GB", 52.1050, -2.3390),
    ("Wyre Forest", "Worcestershire", "England", "GB", 52.3900, -2.3600),
    ("Cheddar Gorge", "Somerset", "England", "GB", 51.2830, -2.7620),
    ("Shapwick Heath", "Somerset", "England", "GB", 51.1710, -2.8300),
    ("Forest of Dean", "Gloucestershire", "England", "GB", 51.7950, -2.5440),
    ("Slimbridge", "Gloucestershire", "England", "GB", 51.7400, -2.4040),
    ("Savernake Forest", "Wiltshire", "England", "GB", 51.4000, -1.6800),
    ("Salisbury Plain", "Wiltshire", "England", "GB", 51.2300, -1.8700),
    ("Holme-next-the-Sea", "Norfolk", "England", "GB", 52.9640, 0.5390),
    ("Hickling Broad", "Norfolk", "England", "GB", 52.7440, 1.5780),
    ("Thetford Heath, Breckland", "Norfolk", "England", "GB", 52.4130, 0.7500),
    ("Minsmere", "Suffolk", "England", "GB", 52.2470, 1.6200),
    ("Monks Wood", "Huntingdonshire", "England", "GB", 52.4030, -0.2380),
    ("Woodwalton Fen", "Huntingdonshire", "England", "GB", 52.4470, -0.2060),
    ("Tring Park", "Hertfordshire", "England", "GB", 51.7940, -0.6570),
    ("Aston Rowant, Chiltern Hills", "Oxfordshire", "England", "GB", 51.6670, -0.9500),
    ("Sherwood Forest", "Nottinghamshire", "England", "GB", 53.2050, -1.0720),
    ("Dovedale", "Derbyshire", "England", "GB", 53.0580, -1.7770),
    ("Kinder Scout", "Derbyshire", "England", "GB", 53.3850, -1.8720),
    ("Cannock Chase", "Staffordshire", "England", "GB", 52.7500, -2.0000),
    ("Wenlock Edge", "Shropshire", "England", "GB", 52.5500, -2.6300),
    ("Hilbre Island", "Cheshire", "England", "GB", 53.3830, -3.2270),
    ("Formby dunes", "Lancashire", "England", "GB", 53.5600, -3.0800),
    ("Morecambe Bay", "Lancashire", "England", "GB", 54.1000, -2.9000),
    ("Malham Tarn", "Yorkshire", "England", "GB", 54.0970, -2.1650),
    ("Askham Bog", "Yorkshire", "England", "GB", 53.9180, -1.1170),
    ("Spurn Point", "Yorkshire", "England", "GB", 53.5800, 0.1100),
    ("Flamborough Head", "Yorkshire", "England", "GB", 54.1160, -0.0800),
    ("Widdybank Fell, Upper Teesdale", "Durham", "England", "GB", 54.6600, -2.2700),
    ("Lindisfarne", "Northumberland", "England", "GB", 55.6690, -1.8010),
    ("Farne Islands", "Northumberland", "England", "GB", 55.6300, -1.6300),
    ("Windermere", "Westmorland", "England", "GB", 54.3800, -2.9300),
    ("Borrowdale", "Cumberland", "England", "GB", 54.5300, -3.1500),
    ("Snowdon", "Caernarfonshire", "Wales", "GB", 53.0685, -4.0763),
    ("Cwm Idwal", "Caernarfonshire", "Wales", "GB", 53.1170, -4.0270),
    ("Great Orme", "Caernarfonshire", "Wales", "GB", 53.3330, -3.8600),
    ("Newborough Warren", "Anglesey", "Wales", "GB", 53.1580, -4.3550),
    ("Rhossili, Gower", "Glamorgan", "Wales", "GB", 51.5690, -4.2910),
    ("Skomer Island", "Pembrokeshire", "Wales", "GB", 51.7370, -5.2960),
    ("Cors Caron", "Cardiganshire", "Wales", "GB", 52.2500, -3.9170),
    ("Pen y Fan, Brecon Beacons", "Breconshire", "Wales", "GB", 51.8840, -3.4370),
    ("Glenmore, Cairngorms", "Inverness-shire", "Scotland", "GB", 57.1670, -3.6900),
    ("Abernethy Forest", "Inverness-shire", "Scotland", "GB", 57.2200, -3.6800),
    ("Isle of Rum", "Inverness-shire", "Scotland", "GB", 57.0000, -6.3300),
    ("Portree, Isle of Skye", "Inverness-shire", "Scotland", "GB", 57.4130, -6.1940),
    ("Hirta, St Kilda", "Inverness-shire", "Scotland", "GB", 57.8150, -8.5800),
    ("Ben Lawers", "Perthshire", "Scotland", "GB", 56.5450, -4.2210),
    ("Rannoch Moor", "Perthshire", "Scotland", "GB", 56.6300, -4.6700),
    ("Balmaha, Loch Lomond", "Stirlingshire", "Scotland", "GB", 56.0850, -4.5380),
    ("Bass Rock", "East Lothian", "Scotland", "GB", 56.0770, -2.6400),
    ("Arthur's Seat, Edinburgh", "Midlothian", "Scotland", "GB", 55.9440, -3.1620),
    ("Culbin Sands", "Morayshire", "Scotland", "GB", 57.6300, -3.7200),
    ("Glen Clova", "Angus", "Scotland", "GB", 56.8400, -3.1000),
    ("Galloway Forest", "Kirkcudbrightshire", "Scotland", "GB", 55.1000, -4.4000),
    ("Hoy, Orkney", "Orkney", "Scotland", "GB", 58.8500, -3.3000),
    ("Fair Isle, Shetland", "Shetland", "Scotland", "GB", 59.5350, -1.6300),
    ("Giant's Causeway", "County Antrim", "Northern Ireland", "GB", 55.2408, -6.5116),
    ("Lough Neagh, Oxford Island", "County Armagh", "Northern Ireland", "GB", 54.5100, -6.3800),
    ("Strangford Lough", "County Down", "Northern Ireland", "GB", 54.4500, -5.6000),
    ("Mourne Mountains", "County Down", "Northern Ireland", "GB", 54.1800, -5.9200),
    ("Marble Arch Caves", "County Fermanagh", "Northern Ireland", "GB", 54.2600, -7.8100),
    ("The Burren", "County Clare", "", "IE", 53.0000, -9.0000),
    ("Killarney", "County Kerry", "", "IE", 52.0500, -9.5100),
    ("Forêt de Fontainebleau", "Seine-et-Marne", "Île-de-France", "FR", 48.4000, 2.7000),
    ("Dovrefjell", "", "Innlandet", "NO", 62.3000, 9.5000),
    ("Sierra Nevada", "Granada", "Andalucía", "ES", 37.0500, -3.3000),
    ("Zermatt", "", "Valais", "CH", 46.0200, 7.7500),
    ("Texel", "", "Noord-Holland", "NL", 53.0700, 4.8000),
]
COUNTRIES = {"GB": "United Kingdom", "IE": "Ireland", "FR": "France", "NO": "Norway", "ES": "Spain",
             "CH": "Switzerland", "NL": "Netherlands"}
HABITATS = ["", "", "", "chalk grassland", "oak woodland", "heathland", "sand dunes", "fen", "blanket bog",
            "hedgerow", "rocky shore", "river bank", "arable field margin", "pine woodland", "salt marsh",
            "limestone pavement", "garden", "upland moor"]
SURNAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
    "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke",
    "Harris", "Lewis", "Hughes", "Edwards", "Turner", "Hill", "Moore", "Cooper", "Ward", "Morris",
    "King", "Baker", "Harrison", "Morgan", "Allen", "Carter", "Phillips", "Mitchell", "Patel", "Shaw",
    "Bell", "Murray", "Campbell", "Stewart", "MacDonald", "Fraser", "Reid", "Ross", "Griffiths", "Price",
    "Lloyd", "Marshall", "Kennedy", "Palmer", "Hunt", "Fletcher", "Holmes", "Lawrence", "Gibson", "Webb",
    "Ellis", "Graham", "Knight", "Mason", "Barker", "Chapman", "Grant", "Reynolds", "Saunders", "Fox",
]
# Historic British collectors head the pool, so the Zipf skew gives them the big numbers.
HISTORIC_COLLECTORS = [
    "G.C. Druce", "H.C. Watson", "J.D. Hooker", "C. Darwin", "A.R. Wallace", "W.H. Hudson", "J.E. Lousley",
    "E.F. Warburg", "L.B. Hall", "H.W. Bates", "J.C. Dale", "E.B. Ford", "W. Curtis", "J. Sowerby",
    "M. Skene", "A. Newton", "E.A. Ormerod", "J.W. Heslop-Harrison", "C.E. Salmon", "F.J. Hanbury",
]
IDENTIFICATION_QUALIFIERS = [""] * 96 + ["cf.", "cf.", "aff.", "?"]
TYPE_STATUSES = [""] * 997 + ["Holotype", "Syntype", "Lectotype"]
WITHDRAWN_REASONS = ["Duplicate of another record.", "Specimen found to be mislabelled; under re-examination.",
                     "Record merged after deduplication."]
MONTHS = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"]
MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True)
class SyntheticTaxon:
    kingdom: str
    phylum: str
    class_name: str
    order: str
    family: str
    name: str
    authorship: str
    vernacular_name: str
    sensitive: bool


def synthetic_taxa() -> list[SyntheticTaxon]:
    """The species of seeds/synthetic_taxa.txt with their classification."""
    taxa, group = [], None
    for line in TAXA_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.lstrip(">").split("|")]
        if line.startswith(">"):
            group = parts
            continue
        name, authorship, vernacular = parts[:3]
        taxa.append(SyntheticTaxon(*group, name=name, authorship=authorship, vernacular_name=vernacular,
                                   sensitive=len(parts) > 3 and parts[3] == "*"))
    return taxa


def _copy_text(value) -> str:
    """One value in COPY text format (None → NULL; backslash, tab and line breaks escaped)."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _segment(values) -> str:
    return "\t".join(_copy_text(v) for v in values)


def _zipf_cum_weights(n: int, s: float = 1.05) -> list[float]:
    return list(accumulate(1 / (rank ** s) for rank in range(1, n + 1)))


# --- catalogue numbers ------------------------------------------------------------------------

_SIMPLE_PATTERN = re.compile(r"^\^?((?:[A-Za-z0-9_-]|\\[.\-/ ])*?)(?:\\d|\[0-9\])(?:\{(\d+)\}|\+)\$?$")


def catalog_number_format(collection: Collection) -> tuple[str, int]:
    """(prefix, digits) matching the collection's barcode pattern, e.g. `^E\\d{8}$` → ("E", 8).

    Patterns beyond "letters then digits" fall back to the collection code plus 8 digits.
    """
    match = _SIMPLE_PATTERN.match(collection.barcode_pattern or "")
    if match:
        prefix = re.sub(r"\\(.)", r"\1", match.group(1))
        width = int(match.group(2) or 8)
        if re.fullmatch(collection.barcode_pattern, prefix + "1".rjust(width, "0")):
            return prefix, width
    return collection.code, 8


def _next_catalog_serial(collection: Collection, prefix: str, width: int) -> int:
    """1 + the highest serial already used with this prefix and width (reruns add, never collide)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT catalog_number FROM specimens_specimen WHERE collection_id = %s AND catalog_number ~ %s "
            "ORDER BY catalog_number DESC LIMIT 1",
            [collection.pk, "^" + re.escape(prefix) + r"[0-9]{%d}$" % width],
        )
        row = cursor.fetchone()
    return int(row[0][len(prefix):]) + 1 if row else 1


# --- pools ------------------------------------------------------------------------------------


def _taxa_for(collection: Collection, taxa: list[SyntheticTaxon]) -> list[SyntheticTaxon]:
    """Species that fit the collection's discipline (plants in a herbarium, insects in entomology)."""
    text = f"{collection.code} {collection.name} {collection.discipline}".lower()
    if any(word in text for word in ("bot", "herb", "plant", "flora")):
        chosen = [t for t in taxa if t.kingdom in ("Plantae", "Fungi")]
    elif any(word in text for word in ("fung", "myco", "lichen")):
        chosen = [t for t in taxa if t.kingdom == "Fungi"]
    elif any(word in text for word in ("ent", "insect")):
        chosen = [t for t in taxa if t.class_name in ("Insecta", "Arachnida")]
    elif any(word in text for word in ("mollus", "shell", "conch")):
        chosen = [t for t in taxa if t.phylum == "Mollusca"]
    elif any(word in text for word in ("orn", "bird")):
        chosen = [t for t in taxa if t.class_name == "Aves"]
    elif any(word in text for word in ("zoo", "vert", "inv", "mammal")):
        chosen = [t for t in taxa if t.kingdom == "Animalia" and t.class_name != "Insecta"]
    else:
        chosen = taxa
    return chosen or taxa


def synthetic_taxa_ensure(taxa: list[SyntheticTaxon]) -> dict[str, Taxon]:
    """Species name → Taxon, the missing branches created set-based by specimens.taxonomy.taxa_ensure
    (public names, as a curator's would be: these records get published).

    A species already in the tree under the same name is reused, so names stay unambiguous.
    """
    existing = {}
    for taxon in Taxon.objects.filter(rank="species", name__in=[t.name for t in taxa]).order_by("id"):
        existing.setdefault(taxon.name, taxon)
    paths = {}
    for t in taxa:
        if t.name not in existing and t.name not in paths:
            ranks = [*zip(HIGHER_RANKS, (t.kingdom, t.phylum, t.class_name, t.order, t.family, t.name.split()[0]))]
            paths[t.name] = [(rank, name, "") for rank, name in ranks if name] + [("species", t.name, t.authorship)]
    with transaction.atomic():
        ids = taxa_ensure(list(paths.values()), provisional=False, match_leaf_anywhere=False)
        leaf_ids = {name: ids[tuple(path)] for name, path in paths.items()}
        if leaf_ids:  # provisional names met on the way join the public tree
            taxa_make_public(taxa=Taxon.objects.filter(pk__in=leaf_ids.values()))
        created = Taxon.objects.in_bulk(leaf_ids.values())
        named = []
        for t in taxa:
            taxon = created.get(leaf_ids.get(t.name))
            if taxon is not None and t.vernacular_name and not taxon.vernacular_name:
                taxon.vernacular_name = t.vernacular_name
                named.append(taxon)
        Taxon.objects.bulk_update(named, ["vernacular_name"])
    return {t.name: existing.get(t.name) or created[leaf_ids[t.name]] for t in taxa}


def _preparation(t: SyntheticTaxon, rng: random.Random) -> tuple[str, str, str, str | None]:
    """(preparations, sex, life stage, individual count) typical of the group."""
    if t.kingdom == "Plantae":
        return rng.choice(["herbarium sheet", "herbarium sheet", "herbarium sheet", "packet"]), "", "", None
    if t.kingdom == "Fungi":
        return rng.choice(["dried", "packet"]), "", "", None
    sex = rng.choice(["", "", "male", "female"])
    if t.class_name == "Insecta":
        stage = rng.choice(["adult"] * 8 + ["larva", "pupa"])
        return rng.choice(["pinned", "pinned", "pinned", "carded", "in alcohol"]), sex, stage, 1
    if t.class_name in ("Aves", "Mammalia"):
        return rng.choice(["skin", "skin", "skeleton", "skull", "egg" if t.class_name == "Aves" else "skin"]), sex, \
            rng.choice(["adult", "adult", "juvenile"]), 1
    if t.phylum == "Mollusca":
        return rng.choice(["dry shell", "dry shell", "in alcohol"]), "", "", rng.choice([1, 1, 2, 3, 5, 12])
    return rng.choice(["in alcohol", "in alcohol", "dry"]), sex, "", rng.choice([1, 1, 1, 2, 4])


def _date_pool(rng: random.Random, today: dt.date, size: int = 20_000) -> list[str]:
    """COPY segments: event_date, start, end, year, month, day, verbatim_event_date, date_identified."""
    pool = []
    while len(pool) < size:
        roll = rng.random()
        if roll < 0.05:
            year = rng.randint(1780, 1849)
        elif roll < 0.88:
            year = int(rng.triangular(1850, 1990, 1925))
        else:
            year = rng.randint(1991, today.year)
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        kind = rng.random()
        if kind < 0.07:
            event_date, verbatim = "", rng.choice(["", "", "s.d.", "no date"])
        elif kind < 0.70:
            event_date = f"{year}-{month:02d}-{day:02d}"
            verbatim = rng.choice([f"{day} {MONTH_NAMES[month - 1]} {year}", f"{day}.{MONTHS[month - 1]}.{year}", ""])
        elif kind < 0.82:
            event_date, verbatim = f"{year}-{month:02d}", f"{MONTH_NAMES[month - 1]} {year}"
        elif kind < 0.92:
            event_date, verbatim = str(year), str(year)
        elif kind < 0.97:
            last = min(28, day + rng.randint(1, 6))
            event_date = f"{year}-{month:02d}-{day:02d}/{year}-{month:02d}-{last:02d}"
            verbatim = f"{day}-{last}.{MONTHS[month - 1]}.{year}"
        else:
            event_date = f"{year}/{year + rng.randint(1, 4)}"
            verbatim = event_date.replace("/", "-")
        parsed = parse_event_date(event_date)
        if parsed is not None and parsed.end > today:
            continue
        identified = "" if rng.random() < 0.3 else str(min(today.year, year + rng.choice([0, 0, 0, 1, 5, 30])))
        pool.append(_segment([
            event_date, parsed and parsed.start, parsed and parsed.end, parsed and parsed.year,
            parsed and parsed.month, parsed and parsed.day, verbatim, identified,
        ]))
    return pool


def _place_pool(rng: random.Random) -> tuple[list[str], list[float]]:
    """COPY segments for the location columns, and cumulative weights (UK-heavy)."""
    segments, weights = [], []
    for locality, county, state, code, lat, lon in PLACES:
        for variant in range(12):
            with_coordinates = variant < 9  # a quarter of the records were never georeferenced
            if with_coordinates:
                la = round(lat + rng.uniform(-0.03, 0.03), rng.choice([4, 5, 6]))
                lo = round(lon + rng.uniform(-0.05, 0.05), rng.choice([4, 5, 6]))
                datum, uncertainty = "WGS84", rng.choice([30, 100, 250, 1000, 2000, 5000])
                precision = rng.choice([None, "0.0001", "0.00001"])
            else:
                la = lo = datum = uncertainty = precision = None
            text = rng.choice([locality, locality, f"near {locality}", f"{locality}; {county}".rstrip("; ")])
            elevation = rng.choice([None, None, None, rng.randint(0, 900)])
            segments.append(_segment([
                COUNTRIES[code], code, state, county, text, text.upper() if variant == 11 else text,
                elevation, elevation, la, lo, datum or "", uncertainty, precision, rng.choice(HABITATS),
            ]))
            weights.append(1.0 if code == "GB" else 0.5)
    return segments, list(accumulate(weights))


def _collector_pool(rng: random.Random, size: int = 400) -> list[str]:
    names = list(HISTORIC_COLLECTORS)
    while len(names) < size:
        initials = ".".join(rng.choice("ABCDEFGHJMRSTW") for _ in range(rng.choice([1, 1, 2]))) + "."
        name = f"{initials} {rng.choice(SURNAMES)}"
        if name not in names:
            names.append(name)
    return names


def _people_pool(rng: random.Random, collectors: list[str], size: int = 30_000) -> list[str]:
    """COPY segments: recorded_by, record_number, field_number, identified_by, qualifier, type status."""
    weights = _zipf_cum_weights(len(collectors))
    pool = []
    for _ in range(size):
        first = rng.choices(collectors, cum_weights=weights)[0]
        recorded_by = first
        roll = rng.random()
        if roll < 0.12:
            recorded_by = f"{first} | {rng.choices(collectors, cum_weights=weights)[0]}"
        elif roll < 0.17:
            recorded_by = ""
        record_number = str(rng.randint(1, 9000)) if recorded_by and rng.random() < 0.4 else ""
        field_number = f"{rng.choice(['FN', 'F', 'Exp.'])}{rng.randint(1, 999)}" if rng.random() < 0.05 else ""
        identified_by = first if rng.random() < 0.6 else rng.choices(collectors, cum_weights=weights)[0]
        pool.append(_segment([
            recorded_by, record_number, field_number, identified_by,
            rng.choice(IDENTIFICATION_QUALIFIERS), rng.choice(TYPE_STATUSES),
        ]))
    return pool


# --- the load ---------------------------------------------------------------------------------

# Column groups, in COPY order; each group is one pre-built segment per row.
ROW_COLUMNS = ["id", "uuid", "occurrence_id", "catalog_number", "catalog_number_normalised"]
STATUS_COLUMNS = ["status", "published_at", "withdrawn_at", "withdrawn_reason"]
TAXON_COLUMNS = ["taxon_id", "scientific_name", "preparations", "sex", "life_stage", "individual_count",
                 "locality_sensitivity"]
DATE_COLUMNS = ["event_date", "event_date_start", "event_date_end", "year", "month", "day",
                "verbatim_event_date", "date_identified"]
PLACE_COLUMNS = ["country", "country_code", "state_province", "county", "locality", "verbatim_locality",
                 "minimum_elevation_in_meters", "maximum_elevation_in_meters", "decimal_latitude",
                 "decimal_longitude", "geodetic_datum", "coordinate_uncertainty_in_meters", "coordinate_precision",
                 "habitat"]
PEOPLE_COLUMNS = ["recorded_by", "record_number", "field_number", "identified_by", "identification_qualifier",
                  "type_status"]


def _constant_columns(collection: Collection, now: dt.datetime) -> tuple[list[str], str]:
    """Every other column of the table: the same value on each row (field defaults, timestamps)."""
    generated = set(ROW_COLUMNS + STATUS_COLUMNS + TAXON_COLUMNS + DATE_COLUMNS + PLACE_COLUMNS + PEOPLE_COLUMNS)
    fixed = {
        "collection_id": collection.pk, "institution_id": collection.institution_id,
        "created_at": now, "updated_at": now, "license": collection.default_license,
        "rights_holder": collection.institution.name, "basis_of_record": "PreservedSpecimen",
    }
    columns, values = [], []
    for field in Specimen._meta.concrete_fields:
        if field.column in generated:
            continue
        value = fixed[field.column] if field.column in fixed else field.get_default()
        if isinstance(value, (list, dict)):
            value = json.dumps(value)
        columns.append(field.column)
        values.append(value)
    return columns, _segment(values)


def _status_segments(publish_share: float, now: dt.datetime) -> tuple[list[str], list[float]]:
    rest = max(0.0, 1.0 - publish_share)
    segments = [_segment(["published", now, None, ""]), _segment(["draft", None, None, ""]),
                _segment(["in_review", None, None, ""])]
    weights = [publish_share, rest * 0.55, rest * 0.30]
    for reason in WITHDRAWN_REASONS:
        segments.append(_segment(["withdrawn", now - dt.timedelta(days=30), now, reason]))
        weights.append(rest * 0.15 / len(WITHDRAWN_REASONS))
    return segments, list(accumulate(weights))


def _taxon_segments(taxa: list[SyntheticTaxon], nodes: dict[str, Taxon], rng: random.Random):
    """Four variants (preparation, sex, stage) per species; common species weigh more (Zipf)."""
    order = list(taxa)
    rng.shuffle(order)
    segments, weights = [], []
    for rank, t in enumerate(order, start=1):
        node = nodes[t.name]
        name = str(node)
        for _ in range(4):
            preparations, sex, stage, count = _preparation(t, rng)
            segments.append(_segment([node.pk, name, preparations, sex, stage, count,
                                      "10km" if t.sensitive else "none"]))
            weights.append(1 / rank ** 0.8)
    return segments, list(accumulate(weights))


def _reserve_ids(count: int) -> list[int]:
    with connection.cursor() as cursor:
        # One row holding an array: 50,000 one-column rows cost more to send than to draw.
        cursor.execute("SELECT array_agg(nextval(pg_get_serial_sequence('specimens_specimen', 'id'))) "
                       "FROM generate_series(1, %s)", [count])
        return cursor.fetchone()[0]


class Uuid7:
    """Time-ordered UUIDs (RFC 9562 version 7, "fixed bit-length dedicated counter"), as the importer's.

    48 bits of Unix milliseconds at the start of the load, the version, 12 random bits, the
    variant, then a 62-bit counter: a random offset plus a unique bigint of the row (its id). Each
    run's values increase with the id, so the uuid and occurrenceID indexes fill at their right edge;
    random (version 4) UUIDs cost a random index page per row, and at ten million rows those pages
    no longer fit in memory.
    """

    MASK = (1 << 62) - 1
    VARIANT = 1 << 63

    def __init__(self) -> None:
        millis = int(time.time() * 1000)
        self.prefix = f"{millis >> 16:08x}-{millis & 0xFFFF:04x}-7{secrets.randbits(12):03x}-"
        self.offset = secrets.randbits(60)

    def text(self, counter: int) -> str:
        tail = f"{((self.offset + counter) & self.MASK) | self.VARIANT:016x}"
        return f"{self.prefix}{tail[:4]}-{tail[4:]}"

    def sql(self, counter: str) -> str:
        """The same in SQL, for rows built by INSERT … SELECT (`counter` a bigint expression)."""
        return (f"({psql.Literal(self.prefix).as_string(None)} || to_hex((({self.offset} + ({counter})) & {self.MASK}) "
                f"| -9223372036854775808))::uuid")


def _references_lock(cursor, *, collection: Collection, taxon_ids: list[int]) -> bool:
    """Foreign keys checked set-based, when the role may set session_replication_role.

    Each generated row refers to the collection, its institution and one of a few hundred taxa;
    the identifications to the specimens of the same chunk. The per-row foreign-key triggers would
    check each of these keys once a row (five a specimen, two an identification). Instead the
    referenced rows are locked FOR KEY SHARE here, the lock those checks take, and counted, and
    session_replication_role = replica skips the per-row triggers for this transaction (the
    importer does the same). Without the privilege the triggers check as usual.
    """
    cursor.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')")
    if not cursor.fetchone()[0]:
        return False
    checks = [("institutions_collection", [collection.pk]), ("institutions_institution", [collection.institution_id]),
              ("specimens_taxon", taxon_ids)]
    for table, ids in checks:
        cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} x WHERE x.id = ANY(%s) FOR KEY SHARE OF x) l",
                       [ids])
        if cursor.fetchone()[0] != len(set(ids)):
            raise DatabaseError(f"{table}: a referenced row vanished while generating specimens")
    cursor.execute("SELECT set_config('session_replication_role', 'replica', true)")
    return True


def specimens_generate(*, collection: Collection, count: int, seed: int = 0, publish_share: float = 0.8,
                       chunk_rows: int = CHUNK_ROWS, progress=None) -> int:
    """Add `count` synthetic specimens (each with a current Identification) to `collection`.

    Returns the number of rows added. Runs `specimen_counts_refresh()` and ANALYZE afterwards.
    """
    if count <= 0:
        raise ValueError(GENERATE_BAD_COUNT)
    collection = Collection.objects.select_related("institution").get(pk=collection.pk)
    prefix, width = catalog_number_format(collection)
    first_serial = _next_catalog_serial(collection, prefix, width)
    last_serial = first_serial + count - 1
    if len(str(last_serial)) > width:
        raise ValueError(GENERATE_NUMBERS_EXHAUSTED.format(prefix=prefix, width=width, last=last_serial - count))

    # Same seed, same data; each run starts at a new serial, so a rerun differs and never collides.
    rng = random.Random(f"{seed}:{collection.pk}:{first_serial}")
    now = timezone.now()
    taxa = _taxa_for(collection, synthetic_taxa())
    nodes = synthetic_taxa_ensure(taxa)
    taxon_ids = sorted({node.pk for node in nodes.values()})
    taxon_segments, taxon_weights = _taxon_segments(taxa, nodes, rng)
    pool_size = min(20_000, max(2_000, count))  # variety enough for a million rows, quick for a test
    date_segments = _date_pool(rng, timezone.localdate(), size=pool_size)
    place_segments, place_weights = _place_pool(rng)
    people_segments = _people_pool(rng, _collector_pool(random.Random(seed)), size=pool_size)
    status_segments, status_weights = _status_segments(publish_share, now)
    constant_columns, constant_segment = _constant_columns(collection, now)

    columns = (ROW_COLUMNS + STATUS_COLUMNS + TAXON_COLUMNS + DATE_COLUMNS + PLACE_COLUMNS + PEOPLE_COLUMNS
               + constant_columns)
    copy_sql = "COPY specimens_specimen ({}) FROM STDIN".format(", ".join(f'"{c}"' for c in columns))
    occurrence_prefix = occurrence_id_mint(uuid.UUID(int=0))[: -len(str(uuid.UUID(int=0)))]
    specimen_uuids, identification_uuids = Uuid7(), Uuid7()

    done, serial = 0, first_serial

    def statistics_missing() -> bool:
        """True in the first chunk when the table has (almost) no statistics: a new database.

        The planner scales the row count it knows by the table's current size, so statistics
        taken once describe a growing table well enough; ANALYZE after every fifth of growth
        cost ≈ 30 samples of a growing table at ten million rows.
        """
        if done:
            return False
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Specimen._meta.db_table])
            return cursor.fetchone()[0] < 1_000

    while done < count:
        size = min(chunk_rows, count - done)
        with transaction.atomic(), pghistory.context(source="task", action="specimens_generate"):
            with connection.cursor() as cursor:
                # Foreign keys are DEFERRABLE INITIALLY DEFERRED (Django's default): checked per
                # statement instead of 350,000 queued checks a chunk at COMMIT. (The first statement
                # that is not a SELECT also carries the history context.)
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET LOCAL synchronous_commit = off")  # a crash loses a chunk, never consistency
                # No insert trigger call per row: the insert events are written set-based below.
                cursor.execute("SELECT set_config(%s, 'on', true)", [BULK_IMPORT_SETTING])
                _references_lock(cursor, collection=collection, taxon_ids=taxon_ids)
            ids = _reserve_ids(size)
            with connection.cursor() as cursor:
                raw = cursor.cursor  # psycopg's own cursor, for COPY
                with raw.copy(copy_sql) as copy:
                    for start in range(0, size, WRITE_ROWS):
                        n = min(WRITE_ROWS, size - start)
                        statuses = rng.choices(status_segments, cum_weights=status_weights, k=n)
                        taxa_rows = rng.choices(taxon_segments, cum_weights=taxon_weights, k=n)
                        dates = rng.choices(date_segments, k=n)
                        places = rng.choices(place_segments, cum_weights=place_weights, k=n)
                        people = rng.choices(people_segments, k=n)
                        lines = []
                        for i in range(n):
                            specimen_id = ids[start + i]
                            specimen_uuid = specimen_uuids.text(specimen_id)
                            catalog_number = f"{prefix}{serial + start + i:0{width}d}"  # prefix: [A-Za-z0-9_.-/ ]
                            lines.append("\t".join((
                                str(specimen_id), specimen_uuid, occurrence_prefix + specimen_uuid,
                                catalog_number, catalog_number_normalise(catalog_number),
                                statuses[i], taxa_rows[i], dates[i], places[i], people[i], constant_segment,
                            )))
                        lines.append("")
                        copy.write("\n".join(lines))
                if statistics_missing():
                    # Before the identifications' INSERT is planned: on a new database the planner
                    # thinks the table is empty (and, without the privilege above, would serve each
                    # foreign-key check with a scan of a whole index, a plan the session keeps).
                    cursor.execute(f"ANALYZE {Specimen._meta.db_table}")
                cursor.execute(
                    "INSERT INTO specimens_identification (created_at, updated_at, uuid, specimen_id, taxon_id, "
                    "verbatim_identification, identified_by, date_identified, identification_qualifier, type_status, "
                    "remarks, is_current) "
                    f"SELECT s.created_at, s.updated_at, {identification_uuids.sql('s.id')}, s.id, s.taxon_id, "
                    "s.scientific_name, s.identified_by, s.date_identified, s.identification_qualifier, s.type_status, "
                    "'', true FROM specimens_specimen s WHERE s.id = ANY(%s) ORDER BY s.id",
                    [ids],
                )
            specimen_events_write(label="insert", source=psql.SQL("specimens_specimen s WHERE s.id = ANY(%s)"),
                                  params=[ids])
        done += size
        serial += size
        if progress:
            progress(done, count)

    specimen_counts_refresh()
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Specimen._meta.db_table}")
        cursor.execute(f"ANALYZE {Identification._meta.db_table}")
    return done


def specimens_generate_timed(**kwargs) -> tuple[int, float]:
    """`specimens_generate` and the seconds it took (for the command and the benchmarks)."""
    started = time.perf_counter()
    rows = specimens_generate(**kwargs)
    return rows, time.perf_counter() - started
