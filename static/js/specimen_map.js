// The specimen page's small map: the public point, or the square a generalised point stands for.
// Offline: Natural Earth land outlines (TopoJSON from static/vendor/basemap), no tile server.
document.addEventListener("DOMContentLoaded", function () {
  var element = document.getElementById("specimen-map");
  if (!element || typeof L === "undefined") { return; }
  var lat = parseFloat(element.getAttribute("data-lat"));
  var lon = parseFloat(element.getAttribute("data-lon"));
  var half = parseFloat(element.getAttribute("data-half")) || 0;
  var map = L.map(element, { attributionControl: true, zoomControl: true, keyboard: true, scrollWheelZoom: false,
                             worldCopyJump: true });
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution("Natural Earth");
  element.style.background = "#dbe9f2";  // sea
  fetch(element.getAttribute("data-basemap")).then(function (r) { return r.json(); }).then(function (world) {
    if (typeof topojson === "undefined") { return; }
    L.geoJSON(topojson.feature(world, world.objects.land), {
      style: { color: "#7b8c7e", weight: 0.6, fillColor: "#eef1e6", fillOpacity: 1 }, interactive: false
    }).addTo(map).bringToBack();
  });
  if (half > 0) {
    var bounds = [[lat - half, lon - half], [lat + half, lon + half]];
    // The outlines are coarse (1:110 m): stay at country scale and ring the square, however small it draws.
    L.rectangle(bounds, { color: "#b4541a", weight: 2, fillOpacity: 0.25 }).addTo(map);
    L.circleMarker([lat, lon], { radius: 16, color: "#b4541a", weight: 2, dashArray: "4 4", fill: false }).addTo(map);
    map.setView([lat, lon], 5);
  } else {
    L.circleMarker([lat, lon], { radius: 7, color: "#fff", weight: 2, fillColor: "#b4541a", fillOpacity: 1 }).addTo(map);
    map.setView([lat, lon], 5);
  }
});
