"""Taxon paths: a row's names (ranks, scientificName, authorship, epithets) read into a
classification path [(rank, name, authorship), …], and each distinct path of a file found or
created in the shared tree set-based (specimens.taxonomy.taxa_ensure)."""

from __future__ import annotations

import re

from psycopg import sql as psql

from specimens.dwc import HIGHER_RANKS, TAXON_TERMS
from specimens.models import TaxonRank
from specimens.taxonomy import taxa_ensure

from .sql import sql_copy, sql_execute, sql_fetch

# --- names and paths ------------------------------------------------------------------------------------

_MARKERS = {"var.", "subsp.", "ssp.", "f.", "forma", "var", "subsp", "cv.", "nothosubsp."}
_EPITHET = re.compile(r"^[a-zà-ÿ][a-zà-ÿ-]*$")
HIGHER_TERMS = tuple(HIGHER_RANKS)  # kingdom … genus, as Darwin Core names them
RANK_OF_MARKER = {"var.": "variety", "var": "variety", "f.": "form", "forma": "form"}
TAXON_RANKS = frozenset(TaxonRank.values)  # TaxonRank.values builds a new list at every call


def name_split(scientific_name: str, authorship: str = "") -> tuple[str, str]:
    """'Chelonodon fluviatilis (Hamilton, 1822)' → ('Chelonodon fluviatilis', '(Hamilton, 1822)')."""
    text = " ".join(scientific_name.strip().strip('"').split())
    authorship = " ".join(authorship.strip().strip('"').split())
    if authorship and text.endswith(authorship):
        return text[: -len(authorship)].rstrip(" ,"), authorship
    words = text.split(" ")
    kept = words[:1]
    for word in words[1:]:
        if _EPITHET.match(word) or word in _MARKERS:
            kept.append(word)
        else:
            break
    return " ".join(kept), authorship or " ".join(words[len(kept):])


def taxon_path_for(values: dict[str, str]) -> list[tuple[str, str, str]]:
    """[(rank, name, authorship), …] from kingdom down to the leaf; authorship only on the leaf."""
    path = [(rank, " ".join(values.get(rank, "").split())) for rank in HIGHER_TERMS]
    path = [(rank if rank != "class" else "class", name) for rank, name in path if name]
    scientific = values.get("scientificName", "")
    authorship = values.get("scientificNameAuthorship", "")
    if scientific.strip().strip('"'):
        leaf, authorship = name_split(scientific, authorship)
    elif values.get("genus") and values.get("specificEpithet"):
        leaf = " ".join(filter(None, [values["genus"], values["specificEpithet"], values.get("infraspecificEpithet", "")]))
        leaf, authorship = " ".join(leaf.split()), authorship.strip()
    else:
        leaf = ""
    result = [(rank, name, "") for rank, name in path]
    if not leaf:
        return result
    rank = (values.get("taxonRank") or "").strip().lower()
    words = leaf.split(" ")
    if rank not in TAXON_RANKS:
        if len(words) == 1:
            rank = "genus" if values.get("genus", "").strip() == leaf else TaxonRank.UNRANKED
        elif len(words) == 2:
            rank = "species"
        else:
            rank = next((RANK_OF_MARKER[w] for w in words if w in RANK_OF_MARKER), "subspecies")
    if len(leaf) > 255 or len(authorship) > 255:
        return result
    if result and result[-1][1] == leaf:
        result[-1] = (result[-1][0], leaf, authorship)
    else:
        result.append((rank, leaf, authorship))
    return result


def taxa_stage(run) -> None:
    """The taxon of each distinct classification the rows name, found or created in the shared tree,
    into the attempt's taxa table (taxon_key → taxon_id) that the write joins."""
    sql_execute(psql.SQL("CREATE UNLOGGED TABLE {} (taxon_key text PRIMARY KEY, taxon_id bigint)").format(
        psql.Identifier(run.taxa)))
    if "scientificName" not in run.columns and "genus" not in run.columns:
        return
    keys = [k for (k,) in sql_fetch(psql.SQL("SELECT DISTINCT taxon_key FROM {}").format(psql.Identifier(run.rows)))]
    paths = {}
    for key in keys:
        values = dict(zip(TAXON_TERMS, key.split("\x1f")))
        path = taxon_path_for(values)
        if path:
            paths[key] = path
    resolved = taxa_ensure(list(paths.values()))
    sql_copy(run.taxa, ["taxon_key", "taxon_id"], ((key, resolved[tuple(path)]) for key, path in paths.items()))
