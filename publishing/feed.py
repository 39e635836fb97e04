"""The RSS 2.0 feed of dataset versions in the GBIF IPT's shape (its `ipt:` namespace), so GBIF
can register the portal as an installation and harvest each new version. Compare
tests/data/dwca/gbif-ipt/rss.xml."""

from __future__ import annotations

import uuid
from xml.etree import ElementTree as ET

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date

IPT_NS = "http://ipt.gbif.org/"
ATOM_NS = "http://www.w3.org/2005/Atom"


def installation_identifier() -> str:
    """A stable UUID for this portal as a publishing installation (the IPT's own UUID)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, settings.PUBLIC_BASE_URL))


def _rfc822(moment) -> str:
    return http_date(moment.timestamp()).replace("GMT", "+0000")


def rss_xml(versions) -> bytes:
    base = settings.PUBLIC_BASE_URL
    ET.register_namespace("ipt", IPT_NS)
    ET.register_namespace("atom", ATOM_NS)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    site = settings.SITE_NAME
    for tag, text in (("title", f"{site} datasets"), ("link", base + "/")):
        ET.SubElement(channel, tag).text = text
    ET.SubElement(channel, f"{{{ATOM_NS}}}link", {"href": base + reverse("publishing:rss"), "rel": "self",
                                                  "type": "application/rss+xml"})
    ET.SubElement(channel, "description").text = f"Darwin Core Archives published by {site}, one item per version."
    ET.SubElement(channel, "language").text = "en-gb"
    now = _rfc822(timezone.now())
    ET.SubElement(channel, "pubDate").text = _rfc822(versions[0].published_at) if versions else now
    ET.SubElement(channel, "lastBuildDate").text = now
    ET.SubElement(channel, f"{{{IPT_NS}}}identifier").text = installation_identifier()
    ET.SubElement(channel, "generator").text = f"{site} publishing"
    ET.SubElement(channel, "docs").text = "http://cyber.law.harvard.edu/rss/rss.html"
    ET.SubElement(channel, "ttl").text = "15"
    for version in versions:
        dataset = version.dataset
        page = base + reverse("publishing:dataset_detail", args=[dataset.shortname])
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = f"{dataset.title} - Version {version.number}"
        ET.SubElement(item, "link").text = page
        ET.SubElement(item, "description").text = version.change_summary or dataset.abstract
        contact = next(iter(dataset.contacts.all()), None)
        ET.SubElement(item, "author").text = f"{dataset.contact_email} ({contact.name if contact else dataset.institution.name})"
        query = f"?v={version.number}"
        ET.SubElement(item, f"{{{IPT_NS}}}eml").text = base + reverse("publishing:dataset_eml", args=[dataset.shortname]) + query
        ET.SubElement(item, f"{{{IPT_NS}}}dwca").text = base + reverse("publishing:dataset_dwca", args=[dataset.shortname]) + query
        ET.SubElement(item, "pubDate").text = _rfc822(version.published_at)
        ET.SubElement(item, "guid", {"isPermaLink": "false"}).text = f"{dataset.uuid}/v{version.number}"
    ET.indent(rss, space="  ")
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True) + b"\n"
