"""Public search (issue 14): SpecimenSearch upkeep, the page, the API, the map, bad input."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from institutions.models import Collection
from specimens.models import FacetCount, FacetPairCount, GridCount, Specimen, SpecimenSearch
from specimens.search import (
    FACET_SAMPLE,
    INVALID_CURSOR,
    search_page,
    search_params_parse,
    search_rebuild,
    search_summary,
)
from specimens.services import (
    identification_add,
    specimen_create,
    specimen_publish,
    specimen_update,
    specimen_withdraw,
    taxon_ensure_path,
    taxon_sensitivity_set,
)
from tests.factories.institutions import CollectionFactory, InstitutionFactory

pytestmark = pytest.mark.django_db

SEARCH = "/search/"
API = "/api/v1/public/specimens/"
BUMBLEBEE = [("kingdom", "Animalia"), ("phylum", "Arthropoda"), ("class", "Insecta"), ("order", "Hymenoptera"),
             ("family", "Apidae"), ("genus", "Bombus")]


@pytest.fixture
def collection(institution):
    return CollectionFactory(institution=institution, code="ENT", name="Entomology")


@pytest.fixture
def taxa(db):
    taxon_ensure_path(ranks=[*BUMBLEBEE, ("species", "Bombus terrestris")])
    taxon_ensure_path(ranks=[*BUMBLEBEE, ("species", "Bombus lapidarius")])
    return taxon_ensure_path(ranks=[("kingdom", "Plantae"), ("phylum", "Tracheophyta"), ("class", "Magnoliopsida"),
                                    ("order", "Fagales"), ("family", "Fagaceae"), ("genus", "Quercus"),
                                    ("species", "Quercus robur")])


def published(collection, *, publish=True, **data):
    values = {"catalog_number": data.pop("catalog_number", None) or f"N{Specimen.objects.count() + 1:05d}",
              "scientific_name": "Bombus terrestris", "country": "United Kingdom", "country_code": "GB",
              "locality": "Wicken Fen", "decimal_latitude": "52.3099", "decimal_longitude": "0.2803",
              "event_date": "1990-06-01", "recorded_by": "Ann Smith", **data}
    specimen = specimen_create(collection=collection, data=values)
    return specimen_publish(specimen=specimen) if publish else specimen


def hits(query: dict) -> list[str]:
    return [row["catalog_number"] for row in search_page(search_params_parse(query), size=100).rows]


# --- upkeep: the table holds published records, public values only -----------------------------


def test_publish_indexes_and_withdraw_removes_in_the_same_transaction(collection, taxa):
    draft = published(collection, publish=False, catalog_number="D1")
    assert not SpecimenSearch.objects.exists()  # a draft is never searchable
    specimen = specimen_publish(specimen=draft)
    assert hits({"q": "terrestris"}) == ["D1"]
    specimen_withdraw(specimen=specimen, reason="duplicate")
    assert hits({"q": "terrestris"}) == []
    assert FacetCount.objects.get(facet="_total", value="all").n == 0


def test_an_edit_and_a_new_identification_reach_the_search_at_once(collection, taxa):
    specimen = published(collection, catalog_number="E1")
    specimen = specimen_update(specimen=specimen, data={"locality": "Grantchester Meadows"}, expected_version=specimen.version)
    assert hits({"q": "grantchester"}) == ["E1"] and hits({"q": "wicken"}) == []
    identification_add(specimen=specimen, scientific_name="Quercus robur")
    assert hits({"q": "quercus"}) == ["E1"] and hits({"q": "bombus"}) == []


def test_a_withheld_locality_is_not_searchable_and_coordinates_are_generalised(collection, taxa):
    published(collection, catalog_number="S1", locality="Secret Orchid Wood", locality_sensitivity="withhold")
    published(collection, catalog_number="S2", locality="Hidden Bank", locality_sensitivity="100km",
              decimal_latitude="52.3099", decimal_longitude="0.2803")
    assert hits({"q": "orchid"}) == [] and hits({"q": "secret"}) == []
    assert hits({"q": "hidden bank"}) == []
    row = SpecimenSearch.objects.get(catalog_number="S2")
    assert (row.decimal_latitude, row.decimal_longitude, row.coordinate_grain) == (Decimal("52"), Decimal("0"), Decimal("1"))
    withheld = SpecimenSearch.objects.get(catalog_number="S1")
    assert withheld.decimal_latitude is None and "Orchid" not in withheld.place
    # Nothing in any column of either row carries the hidden words or the exact coordinates.
    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM specimens_specimensearch t")
        dump = " ".join(r[0] for r in cursor.fetchall())
    assert "Orchid" not in dump and "Hidden" not in dump and "52.3099" not in dump


def test_a_taxon_made_sensitive_generalises_its_records_in_the_search(collection, taxa):
    published(collection, catalog_number="T1")
    from specimens.models import Taxon

    taxon_sensitivity_set(taxon=Taxon.objects.get(name="Bombus"), level="10km")
    row = SpecimenSearch.objects.get(catalog_number="T1")
    assert row.decimal_latitude == Decimal("52.3") and row.coordinate_grain == Decimal("0.1")
    assert hits({"q": "wicken"}) == []


def test_rebuild_gives_the_same_rows_and_counts_as_the_services_kept(collection, taxa):
    for n in range(3):
        published(collection, catalog_number=f"R{n}", scientific_name=["Bombus terrestris", "Quercus robur"][n % 2])
    published(collection, publish=False, catalog_number="R9")
    kept_counts = set(FacetCount.objects.filter(n__gt=0).values_list("facet", "value", "n"))
    kept_cells = set(GridCount.objects.filter(n__gt=0).values_list("level", "west", "south", "size", "n"))
    kept_rows = set(SpecimenSearch.objects.values_list("catalog_number", "document"))
    kept_pairs = set(FacetPairCount.objects.filter(n__gt=0).values_list("dimension", "dimension_value", "facet", "value", "n"))
    assert kept_pairs and ("genus", "Bombus", "country", "United Kingdom", 2) in kept_pairs
    assert search_rebuild() == 3
    assert set(FacetCount.objects.values_list("facet", "value", "n")) == kept_counts
    assert set(FacetPairCount.objects.values_list("dimension", "dimension_value", "facet", "value", "n")) == kept_pairs
    assert set(GridCount.objects.values_list("level", "west", "south", "size", "n")) == kept_cells
    assert set(SpecimenSearch.objects.values_list("catalog_number", "document")) == kept_rows


def test_deleting_a_specimen_in_raw_sql_takes_its_search_row(collection, taxa):
    published(collection, catalog_number="X1")
    with connection.cursor() as cursor:  # as an import undo does
        for table in ("specimens_identification", "specimens_specimenagent"):
            cursor.execute(f"DELETE FROM {table} WHERE specimen_id IN (SELECT id FROM specimens_specimen)")
        cursor.execute("DELETE FROM specimens_specimen WHERE catalog_number = 'X1'")
    assert not SpecimenSearch.objects.exists()


# --- matching ------------------------------------------------------------------------------------


def test_a_genus_finds_its_species_and_numbers_collectors_places_match(collection, taxa):
    published(collection, catalog_number="BM001234567", scientific_name="Bombus terrestris")
    published(collection, catalog_number="BM7", scientific_name="Bombus lapidarius", recorded_by="Charles Darwin",
              locality="Down House", country="United Kingdom")
    published(collection, catalog_number="Q1", scientific_name="Quercus robur", locality="Kew")
    assert sorted(hits({"q": "Bombus"})) == ["BM001234567", "BM7"]
    assert hits({"q": "Apidae"}) == ["BM001234567", "BM7"] or sorted(hits({"q": "apidae"})) == ["BM001234567", "BM7"]
    assert hits({"q": "BM 001234567"}) == ["BM001234567"]  # spacing ignored, as the curators' lookup does
    assert hits({"q": "darwin"}) == ["BM7"]
    assert hits({"recorded_by": "Darwin"}) == ["BM7"]
    assert hits({"q": "down house"}) == ["BM7"]
    assert hits({"q": "quercus kew"}) == ["Q1"]


def test_a_misspelt_name_is_forgiven_and_said_so(collection, taxa, public_client):
    published(collection, catalog_number="Q1", scientific_name="Quercus robur")
    page = search_page(search_params_parse({"q": "Quercus robr"}))
    assert [r["catalog_number"] for r in page.rows] == ["Q1"] and page.corrected_to == ("Quercus robur",)
    response = public_client.get(SEARCH, {"q": "Qercus robur"})
    assert "Showing records of" in response.content.decode() and "Q1" in response.content.decode()


def test_filters_from_links_of_other_pages_narrow_the_results(collection, taxa, other_institution):
    published(collection, catalog_number="A1", event_date="1995-05-05", type_status="Holotype")
    published(collection, catalog_number="A2", scientific_name="Quercus robur", event_date="2004-01-01", country="France",
              country_code="FR")
    other = CollectionFactory(institution=other_institution, code="BOT")
    published(other, catalog_number="A3", event_date="1990-01-01")
    assert hits({"institution": "own"}) == ["A1", "A2"]
    assert hits({"collection": "OTHER:BOT"}) == ["A3"]
    assert sorted(hits({"family": "Apidae"})) == ["A1", "A3"] and hits({"genus": "Quercus"}) == ["A2"]
    assert hits({"country": "France"}) == ["A2"] and hits({"type_status": "Holotype"}) == ["A1"]
    assert sorted(hits({"year": "1990-1999"})) == ["A1", "A3"] and hits({"year": "2004"}) == ["A2"]
    assert hits({"kingdom": "Animalia", "class": "Insecta", "order": "Hymenoptera", "phylum": "Arthropoda",
                 "institution": "OWN"}) == ["A1"]
    assert sorted(hits({"bbox": "0,52,1,53"})) == ["A1", "A2", "A3"]
    assert hits({"bbox": "10,52,11,53"}) == []
    assert hits({"has_image": "1"}) == []
    assert hits({"mids_level": str(SpecimenSearch.objects.get(catalog_number="A1").mids_level)})


# --- facets and counts ---------------------------------------------------------------------------


def test_unfiltered_counts_come_from_facet_count_and_filtered_from_the_matches(collection, taxa,
                                                                                django_assert_num_queries):
    for n in range(4):
        published(collection, catalog_number=f"F{n}", scientific_name=["Bombus terrestris", "Quercus robur"][n % 2])
    with django_assert_num_queries(4):  # savepoint, timeout, one read of the stored counts, release
        summary = search_summary(search_params_parse({}))
    assert summary.total == 4 and not summary.total_is_estimate
    assert {"value": "Apidae", "count": 2} in summary.facets["family"]
    filtered = search_summary(search_params_parse({"q": "quercus"}))
    assert filtered.total == 2 and filtered.facets["family"] == [{"value": "Fagaceae", "count": 2}]
    assert filtered.facets["institution"] == [{"value": "OWN", "count": 2}]


def test_counts_above_the_sample_are_marked_as_estimates(collection, taxa, monkeypatch):
    import specimens.search as search

    for n in range(5):
        published(collection, catalog_number=f"G{n}")
    monkeypatch.setattr(search, "FACET_SAMPLE", 2)
    monkeypatch.setattr(search, "FACET_ESTIMATE_SAMPLE", 2)
    summary = search.search_summary(search_params_parse({"q": "wicken"}))  # words: counted from the rows
    assert summary.total_is_estimate and summary.facets_are_estimates and summary.total >= 3
    monkeypatch.setattr(search, "TEXT_MATCH_COST", 1e9)  # the sample read from the heap, not the text index
    summary = search.search_summary(search_params_parse({"recorded_by": "smith"}))
    assert summary.total_is_estimate and summary.facets["country"][0]["value"] == "United Kingdom"
    assert FACET_SAMPLE >= 1000  # the real cap: exact counts for ordinary searches
    # A search on one thing reads FacetPairCount: exact at any size.
    exact = search.search_summary(search_params_parse({"q": "bombus"}))
    assert (exact.total, exact.total_is_estimate, exact.facets_are_estimates) == (5, False, False)


def test_one_filter_counts_come_from_pair_counts_and_equal_a_recount(collection, taxa):
    for n in range(6):
        published(collection, catalog_number=f"C{n}", scientific_name=["Bombus terrestris", "Bombus lapidarius",
                                                                        "Quercus robur"][n % 3],
                  country=["France", "United Kingdom"][n % 2], country_code=["FR", "GB"][n % 2],
                  event_date=f"{1950 + n * 7}-01-01")
    published(collection, publish=False, catalog_number="C9", country="Spain")

    def recount(where: str) -> dict:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT country, count(*) FROM specimens_specimensearch r WHERE {where} GROUP BY 1")
            return {value: n for value, n in cursor.fetchall()}

    for query, where in (({"genus": "Bombus"}, "genus = 'Bombus'"), ({"q": "bombus"}, "genus = 'Bombus'"),
                         ({"country": "France"}, "country = 'France'"), ({"year": "1950-1959"}, "year BETWEEN 1950 AND 1959"),
                         ({"family": ["Apidae", "Fagaceae"]}, "true"), ({"q": "Bombus terrestris"}, "scientific_name = 'Bombus terrestris'")):
        summary = search_summary(search_params_parse(query))
        expected = recount(where)
        assert not summary.total_is_estimate and summary.total == sum(expected.values()), query
        assert {f["value"]: f["count"] for f in summary.facets["country"]} == expected, query
    # Two conditions, one a facet: the total is read too; none match, so no rows are read.
    empty = search_summary(search_params_parse({"genus": "Bombus", "has_image": "1"}))
    assert (empty.total, empty.total_is_estimate) == (0, False)
    assert hits({"genus": "Bombus", "has_image": "1"}) == []


def test_a_whole_search_naming_a_taxon_country_or_name_is_that_filter(collection, taxa):
    taxon_ensure_path(ranks=[*BUMBLEBEE, ("species", "Bombus pascuorum Scopoli")])
    published(collection, catalog_number="W1", scientific_name="Bombus pascuorum Scopoli", locality="Quercus Lane")
    published(collection, catalog_number="W2", scientific_name="Quercus robur", country="France", country_code="FR")
    # The genus, not every record carrying the word: the oak on Quercus Lane is found, the bee is not
    assert hits({"q": "Quercus"}) == ["W2"]
    assert search_page(search_params_parse({"q": "quercus"})).params.q_filter == ("genus", ("Quercus",))
    assert hits({"q": "bombus pascuorum"}) == ["W1"]  # the start of a name (its author follows)
    assert search_page(search_params_parse({"q": "bombus pascuorum"})).params.q_filter == (
        "name", ("bombus pascuorum scopoli",))
    assert hits({"q": "france"}) == ["W2"] and hits({"q": "Hymenoptera"}) == ["W1"]
    assert hits({"q": "quercus lane"}) == ["W1"]  # other words stay a text search
    # A download of the search selects the same records as the page
    from specimens.search import search_ids_sql

    sql, values = search_ids_sql(search_params_parse({"q": "Quercus"}))
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        assert [row[0] for row in cursor.fetchall()] == [Specimen.objects.get(catalog_number="W2").pk]


# --- keyset pages --------------------------------------------------------------------------------


def test_keyset_pages_walk_every_record_once_in_order(collection, taxa):
    for n in range(7):
        published(collection, catalog_number=f"K{n}", scientific_name=["Bombus terrestris", "Quercus robur"][n % 2],
                  event_date="" if n == 3 else f"{1950 + n * 5}-01-01")
    for sort in ("name", "catalog", "year", "-year", "newest"):
        seen, params = [], search_params_parse({"sort": sort})
        while True:
            page = search_page(params, size=3)
            seen += [r["catalog_number"] for r in page.rows]
            if not page.next_cursor:
                break
            params = search_params_parse({"sort": sort, "cursor": page.next_cursor})
        assert sorted(seen) == [f"K{n}" for n in range(7)] and len(seen) == 7, sort
        everything = [r["catalog_number"] for r in search_page(search_params_parse({"sort": sort}), size=100).rows]
        assert seen == everything, sort
    years = [r["year"] for r in search_page(search_params_parse({"sort": "-year"}), size=100).rows]
    assert years[0] == 1980 and years[-1] is None  # newest collected first, undated last


def test_the_search_page_costs_the_same_queries_on_a_later_page(collection, taxa, public_client, django_assert_num_queries):
    for n in range(5):
        published(collection, catalog_number=f"P{n}")
    first = public_client.get(SEARCH, {"q": "bombus"})
    # page: savepoint, timeout, the planner's estimate, the rows, release; counts: savepoint, timeout, sample, release
    with django_assert_num_queries(9):
        response = public_client.get(first.context["next_url"] if first.context["next_url"] else SEARCH, {"q": "bombus"})
    assert response.status_code == 200


# --- bad input ------------------------------------------------------------------------------------


def test_metacharacters_give_results_or_nothing_never_an_error(collection, taxa, public_client):
    published(collection, catalog_number="M1")
    for q in ("'; DROP TABLE specimens_specimen; --", "<script>alert(1)</script>", ".*[(?<!x)]+\\", "a & b | !c :* 'd'",
              "%_%", "bombus:*A | !", "M1'--"):
        page = public_client.get(SEARCH, {"q": q})
        api = public_client.get(API, {"q": q})
        assert page.status_code == 200 and api.status_code == 200, q
        assert "<script>alert(1)</script>" not in page.content.decode()
    assert public_client.get(API, {"q": "bombus:*A | !"}).json()["count"] == 1  # the words still count
    assert public_client.get(SEARCH, {"q": "\x00nul"}).status_code == 400  # refused by the middleware, clearly


def test_a_ten_thousand_character_search_is_refused_clearly(public_client, db):
    page = public_client.get(SEARCH, {"q": "bombus " * 1500})
    api = public_client.get(API, {"q": "x" * 10_000})
    assert page.status_code == 400 and "too long" in page.content.decode()
    assert api.status_code == 400 and "too long" in api.json()["q"][0]


def test_unknown_facet_values_find_nothing(collection, taxa, public_client):
    published(collection, catalog_number="U1")
    response = public_client.get(API, {"institution": "NOPE", "family": "Nonexistentidae", "collection": "NO:PE"})
    assert response.status_code == 200 and response.json()["results"] == [] and response.json()["count"] == 0


def test_malformed_parameters_are_a_400_with_a_message(public_client, db):
    for query in ({"year": "last week"}, {"mids_level": "7"}, {"sort": "random()"}, {"view": "table"},
                  {"collection": "NHMUK"}, {"page_size": "1000"}):
        response = public_client.get(API, query)
        assert response.status_code == 400 and list(response.json()) == [next(iter(query))], query
        assert public_client.get(SEARCH, query).status_code == (400 if "page_size" not in query else 200)


def test_a_tampered_or_foreign_cursor_is_a_400(collection, taxa, public_client):
    for n in range(3):
        published(collection, catalog_number=f"C{n}")
    cursor = search_page(search_params_parse({}), size=1).next_cursor
    tampered = cursor[:-3] + ("aaa" if not cursor.endswith("aaa") else "bbb")
    for query in ({"cursor": tampered}, {"cursor": "x" * 5000}, {"cursor": cursor, "q": "other search"},
                  {"cursor": cursor, "sort": "year"}):
        response = public_client.get(API, query)
        assert response.status_code == 400 and response.json()["cursor"] == [INVALID_CURSOR]
    assert public_client.get(SEARCH, {"cursor": tampered}).status_code == 400


def test_map_boxes_outside_the_world_are_clamped_and_empty_ones_refused(collection, taxa, public_client):
    published(collection, catalog_number="W1")
    for box, status in (("-500,-100,500,100", 200), ("170,-10,-170,10", 200), ("0,0,0,0", 400), ("5,5,5,10", 400),
                        ("1,2,3", 400), ("nan,0,1,1", 400), ("a,b,c,d", 400), ("1e309,0,1,1", 400)):
        assert public_client.get(API, {"bbox": box}).status_code == status, box
        assert public_client.get(reverse("portal:search_map_data"), {"z": 3, "extent": box}).status_code == status, box
    assert public_client.get(API, {"bbox": "-500,-100,500,100"}).json()["count"] == 1
    assert public_client.get(reverse("portal:search_map_data"), {"z": 99}).status_code == 400


# --- the API ----------------------------------------------------------------------------------------


def test_api_rows_have_the_keys_of_the_specimen_list_and_a_signed_next(collection, taxa, public_client):
    for n in range(3):
        published(collection, catalog_number=f"API{n}")
    body = public_client.get(API, {"q": "bombus", "page_size": 2}).json()
    reference = public_client.get("/api/v1/specimens/").json()["results"][0]
    assert set(body["results"][0]) == set(reference)
    assert body["count"] == 3 and body["facets"]["family"] == [{"value": "Apidae", "count": 3}]
    rest = public_client.get(body["next"]).json()
    assert [r["catalog_number"] for r in body["results"] + rest["results"]] == ["API0", "API1", "API2"]
    assert rest["next"] is None


def test_the_anonymous_rate_limit_holds_per_client(collection, public_client):
    rates = {"DEFAULT_THROTTLE_CLASSES": ["collections_portal.common.throttling.PortalRateThrottle"],
             "DEFAULT_THROTTLE_RATES": {"anon": "3/minute", "user": "100/minute"}}
    from django.conf import settings

    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, **rates}):
        address = f"10.{Specimen.objects.count() % 250}.{id(rates) % 250}.{id(public_client) % 250}"
        answers = [public_client.get(API, REMOTE_ADDR=address).status_code for _ in range(4)]
        other = public_client.get(API, REMOTE_ADDR="10.250.250.250" if address != "10.250.250.250" else "10.1.1.1")
    assert answers == [200, 200, 200, 429]
    assert other.status_code == 200


def test_the_schema_describes_the_throttle_and_the_parameters(public_client, db):
    schema = public_client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/public/specimens/"]["get"]
    assert "429" in operation["responses"] and "Throttling" in operation["description"]
    assert {"q", "institution", "collection", "bbox", "cursor", "year"} <= {p["name"] for p in operation["parameters"]}


# --- the map -------------------------------------------------------------------------------------------


def test_map_points_under_the_limit_carry_only_public_coordinates(collection, taxa, public_client):
    published(collection, catalog_number="P1", locality_sensitivity="100km")
    data = public_client.get(reverse("portal:search_map_data"), {"z": 12, "extent": "-1,51,2,54"}).json()
    assert data["mode"] == "points"
    assert [(p["lat"], p["lon"], p["grain"]) for p in data["points"]] == [(52.0, 0.0, 1.0)]


def test_map_cells_are_never_finer_than_a_records_public_coordinates(collection, taxa, public_client, monkeypatch):
    import specimens.search as search

    published(collection, catalog_number="G1", locality_sensitivity="100km")
    published(collection, catalog_number="G2", decimal_latitude="51.5074", decimal_longitude="-0.1278")
    monkeypatch.setattr(search, "POINTS_MAX", 0)  # force cells
    for zoom in (2, 12):
        data = public_client.get(reverse("portal:search_map_data"), {"z": zoom, "q": "bombus"}).json()
        cells = {(c["west"], c["south"], c["size"]) for c in data["cells"]}
        coarse = [c for c in cells if c[2] >= 1.0 and c[0] == -0.5 and c[1] == 51.5]
        if zoom == 12:
            assert coarse, cells  # the 100 km record: its whole 1° rounding cell, not a 0.01° one
            assert any(c[2] == 0.01 for c in cells)  # the exact one: fine cells
    unfiltered = public_client.get(reverse("portal:search_map_data"), {"z": 2}).json()
    assert sum(c["count"] for c in unfiltered["cells"]) == 2  # from GridCount


def test_the_map_page_loads_the_bundled_basemap_and_no_cdn(collection, taxa, public_client):
    published(collection, catalog_number="MP1")
    html = public_client.get(SEARCH, {"view": "map"}).content.decode()
    assert "vendor/leaflet/leaflet.js" in html and "vendor/basemap/land-110m.json" in html and "js/search_map.js" in html
    assert "unpkg" not in html and "cdn" not in html.lower()


def test_the_page_has_facets_views_and_renders_for_every_view(collection, taxa, public_client):
    published(collection, catalog_number="V1")
    for view in ("list", "grid", "map"):
        response = public_client.get(SEARCH, {"q": "bombus", "view": view})
        assert response.status_code == 200
        html = response.content.decode()
        assert "Apidae" in html and "Family" in html and "1 specimen" in html
    assert Collection.objects.count() >= 1 and InstitutionFactory  # factories importable for other tests


def test_a_production_tile_server_is_a_setting_and_the_default_is_offline(collection, taxa, public_client):
    published(collection, catalog_number="TS1")
    assert 'data-tiles=""' in public_client.get(SEARCH, {"view": "map"}).content.decode()
    with override_settings(PORTAL_MAP_TILE_URL="https://tiles.example.org/{z}/{x}/{y}.png"):
        html = public_client.get(SEARCH, {"view": "map"}).content.decode()
    assert 'data-tiles="https://tiles.example.org/{z}/{x}/{y}.png"' in html


def test_the_download_form_posts_the_current_search_only_when_downloads_exist(collection, taxa, public_client):
    from portal.views_search import _download_url

    published(collection, catalog_number="DL1")
    html = public_client.get(SEARCH, {"q": "bombus", "family": "Apidae"}).content.decode()
    if _download_url():
        assert f'action="{_download_url()}"' in html and 'name="family" value="Apidae"' in html
    else:
        assert "Download these results" not in html


# --- writers outside the specimen services -----------------------------------------------------


def test_compute_mids_moves_the_search_rows_whose_level_changed(collection, taxa):
    from specimens.mids import mids_compute

    for n in range(3):
        published(collection, catalog_number=f"M{n}")
    assessed = dict(Specimen.objects.values_list("pk", "mids_level"))
    with connection.cursor() as cursor:  # as levels from an older mapping release would stand
        cursor.execute("UPDATE specimens_specimen SET mids_level = -1, mids_assessment_id = NULL")
    search_rebuild()
    assert set(SpecimenSearch.objects.values_list("mids_level", flat=True)) == {-1}
    mids_compute(collection=collection)
    assert dict(SpecimenSearch.objects.values_list("specimen_id", "mids_level")) == assessed
    kept = set(FacetCount.objects.filter(n__gt=0).values_list("facet", "value", "n"))
    kept_pairs = set(FacetPairCount.objects.filter(n__gt=0).values_list("dimension", "dimension_value", "facet", "value", "n"))
    assert ("mids_level", "-1", 3) not in kept
    search_rebuild()
    assert set(FacetCount.objects.filter(n__gt=0).values_list("facet", "value", "n")) == kept
    assert set(FacetPairCount.objects.filter(n__gt=0).values_list(
        "dimension", "dimension_value", "facet", "value", "n")) == kept_pairs


def test_generated_published_specimens_are_searchable(collection):
    from django.core.management import call_command

    call_command("generate_specimens", "--count", "40", "--collection", "OWN:ENT", "--seed", "3",
                 "--publish-share", "1", stdout=__import__("io").StringIO())
    assert SpecimenSearch.objects.count() == Specimen.objects.filter(status="published").count() == 40
    assert search_summary(search_params_parse({})).total == 40


def test_a_search_with_no_results_shows_no_empty_facet_box(collection, taxa, public_client):
    published(collection, catalog_number="Z1")
    empty = public_client.get(SEARCH, {"q": "zzzzqqqq"}).content.decode()
    assert "No published specimens match" in empty
    assert 'class="facets"' not in empty and "no-facets" in empty and 'href="#facets"' not in empty
    found = public_client.get(SEARCH, {"q": "wicken"}).content.decode()
    assert 'class="facets"' in found and "no-facets" not in found
