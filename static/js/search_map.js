/* The search results on a Leaflet map (templates/portal/search.html, view=map).
 *
 * The server counts: /search/map.json answers grid cells (or, under 5,000 located records, the
 * points themselves at their public coordinates) for the visible box and zoom, so the browser never
 * holds more than a few hundred shapes. The basemap is Natural Earth from static/vendor (offline);
 * a production site may name a tile server instead (settings.PORTAL_MAP_TILE_URL).
 * Click a cell: list its records. "Draw a box": two clicks (or taps) filter the search to it.
 */
(function () {
  "use strict";
  var el = document.getElementById("search-map");
  if (!el || !window.L) { return; }
  var status = document.getElementById("map-status");
  var drawButton = document.getElementById("map-draw");

  var map = L.map(el, { worldCopyJump: true, minZoom: 1, maxZoom: 14, zoomSnap: 1 });
  if (el.dataset.tiles) {
    L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution || "", maxZoom: 14 }).addTo(map);
  } else {
    map.attributionControl.addAttribution("Natural Earth");
  }

  // --- offline basemap: land at 1:110 m, country borders at 1:50 m once zoomed in -------------
  // No outline on land: its polygons are cut at the date line and the poles, which a stroke would draw.
  var landStyle = { stroke: false, fillColor: "#f3f1e7", fillOpacity: 1 };
  var borderStyle = { color: "#9db0a6", weight: 0.8, fill: false };
  function loadTopo(url, name, style) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (topo) {
      var layer = L.geoJSON(topojson.feature(topo, topo.objects[name]), { style: style, interactive: false });
      layer.addTo(map);
      layer.bringToBack();
      return layer;
    });
  }
  if (!el.dataset.tiles) {
    loadTopo(el.dataset.basemap, "land", landStyle);
  }
  var bordersLoaded = false;
  function maybeBorders() {
    if (!el.dataset.tiles && !bordersLoaded && map.getZoom() >= 4) {
      bordersLoaded = true;
      loadTopo(el.dataset.countries, "countries", borderStyle).then(function () { results.bringToFront(); });
    }
  }

  // --- where to start ---------------------------------------------------------------------------
  // A drawn box: show it. Otherwise the first answer covers the world and the map fits the results.
  var bbox = (el.dataset.bbox || "").split(",").map(Number);
  var fitToResults = !(bbox.length === 4 && bbox.every(isFinite));
  if (!fitToResults) {
    map.fitBounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]]);
  } else {
    map.setView([30, 0], 2);
  }

  // --- results layer ----------------------------------------------------------------------------
  var results = L.featureGroup().addTo(map);
  var request = 0;

  function searchUrl(changes) {
    var query = new URLSearchParams(window.location.search);
    query.delete("cursor");
    Object.keys(changes).forEach(function (key) {
      if (changes[key] === null) { query.delete(key); } else { query.set(key, changes[key]); }
    });
    return el.dataset.search + "?" + query.toString();
  }
  function round(v) { return Math.round(v * 10000) / 10000; }
  function boxParam(south, west, north, east) { return [round(west), round(south), round(east), round(north)].join(","); }

  function colour(count, max) {
    var t = Math.log(count + 1) / Math.log(max + 1);  // log scale: one huge cell does not wash out the rest
    var light = Math.round(82 - t * 52);
    return "hsl(158, 52%, " + light + "%)";
  }

  var LABELS_MAX = 150;  // beyond this many cells, counts in tooltips only
  function compact(n) {
    if (n >= 1e6) { return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + "M"; }
    if (n >= 1e4) { return Math.round(n / 1e3) + "k"; }
    return n.toLocaleString();
  }

  function say(text) { if (status) { status.textContent = text; } }

  function draw(data) {
    results.clearLayers();
    var specimenBase = data.specimen_url.replace("00000000-0000-0000-0000-000000000000", "");
    if (data.mode === "points") {
      data.points.forEach(function (p) {
        var marker = L.circleMarker([p.lat, p.lon], { radius: 6, color: "#114d3b", weight: 1, fillColor: "#2f9d7a", fillOpacity: 0.85 });
        var box = document.createElement("div");
        var link = document.createElement("a");
        link.href = specimenBase + p.uuid;
        link.textContent = p.name || "Unnamed";
        var line = document.createElement("div");
        line.textContent = p.institution + " " + p.catalog_number + (p.grain > 0 ? " · position generalised to " + p.grain + "°" : "");
        box.appendChild(link);
        box.appendChild(line);
        marker.bindPopup(box);
        results.addLayer(marker);
      });
      say(data.points.length ? data.points.length.toLocaleString() + " located records shown as points." : "No located records in this view.");
      return;
    }
    var max = 1;
    data.cells.forEach(function (c) { max = Math.max(max, c.count); });
    data.cells.forEach(function (c) {
      var bounds = [[c.south, c.west], [c.south + c.size, c.west + c.size]];
      var rect = L.rectangle(bounds, { color: "#114d3b", weight: 0.5, fillColor: colour(c.count, max), fillOpacity: 0.75 });
      rect.bindTooltip(c.count.toLocaleString() + " records · click to list them");
      rect.on("click", function () {
        if (drawing) { return; }
        window.location.href = searchUrl({ bbox: boxParam(c.south, c.west, c.south + c.size, c.west + c.size), view: null });
      });
      results.addLayer(rect);
      var corner = map.latLngToContainerPoint([c.south, c.west]);
      var across = map.latLngToContainerPoint([c.south, c.west + c.size]).x - corner.x;
      if (data.cells.length <= LABELS_MAX && across >= 40) {  // a label only where it fits
        var label = L.divIcon({ className: "grid-cell-label", html: "", iconSize: [48, 16] });
        var marker = L.marker([c.south + c.size / 2, c.west + c.size / 2], { icon: label, interactive: false, keyboard: false });
        marker.on("add", function () { marker.getElement().textContent = (data.estimated ? "~" : "") + compact(c.count); });
        results.addLayer(marker);
      }
    });
    say(data.cells.length.toLocaleString() + " cells of " + data.size + "°; darker cells hold more records." +
        (data.estimated ? " Counts are estimates (a broad search)." : ""));
  }

  function refresh() {
    maybeBorders();
    var b = map.getBounds();
    var extent = boxParam(Math.max(-90, b.getSouth()), b.getWest(), Math.min(90, b.getNorth()), b.getEast());
    var url = el.dataset.url + (el.dataset.url.indexOf("?") >= 0 ? "&" : "?") + "z=" + map.getZoom() +
      (fitToResults ? "" : "&extent=" + extent);
    var mine = ++request;
    say("Loading…");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (answer) {
        if (mine !== request) { return; }  // a later move already asked again
        if (!answer.ok) {
          var errors = answer.body.errors || {};
          say(Object.keys(errors).map(function (k) { return errors[k].join(" "); }).join(" ") || "The map could not be loaded.");
          return;
        }
        draw(answer.body);
        if (fitToResults) {
          fitToResults = false;
          if (results.getLayers().length) {
            map.fitBounds(results.getBounds().pad(0.1), { maxZoom: 6 });  // asks again, for this view
          }
        }
      })
      .catch(function () { if (mine === request) { say("The map could not be loaded."); } });
  }
  map.on("moveend", refresh);
  refresh();

  // --- draw a box: first click one corner, then the opposite one --------------------------------
  var drawing = false, corner = null, preview = null;
  function stopDrawing() {
    drawing = false; corner = null;
    if (preview) { map.removeLayer(preview); preview = null; }
    el.classList.remove("drawing");
    if (drawButton) { drawButton.setAttribute("aria-pressed", "false"); drawButton.textContent = "Draw a box to filter"; }
  }
  if (drawButton) {
    drawButton.addEventListener("click", function () {
      if (drawing) { stopDrawing(); say(""); return; }
      drawing = true;
      el.classList.add("drawing");
      drawButton.setAttribute("aria-pressed", "true");
      drawButton.textContent = "Cancel box";
      say("Click one corner of the box, then the opposite corner.");
    });
  }
  map.on("click", function (e) {
    if (!drawing) { return; }
    if (!corner) {
      corner = e.latlng;
      preview = L.rectangle([corner, corner], { color: "#b4541a", weight: 2, fill: false, dashArray: "4 4" }).addTo(map);
      say("Now click the opposite corner.");
      return;
    }
    var south = Math.min(corner.lat, e.latlng.lat), north = Math.max(corner.lat, e.latlng.lat);
    var west = Math.min(corner.lng, e.latlng.lng), east = Math.max(corner.lng, e.latlng.lng);
    stopDrawing();
    if (north - south <= 0 || east - west <= 0) { say("That box has no area; try again."); return; }
    window.location.href = searchUrl({ bbox: boxParam(south, west, north, east), view: "map" });
  });
  map.on("mousemove", function (e) {
    if (drawing && corner && preview) { preview.setBounds([corner, e.latlng]); }
  });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && drawing) { stopDrawing(); say(""); } });
})();
