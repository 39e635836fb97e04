// Deep zoom for every element with data-iiif-services (a JSON list of IIIF Image API info.json URLs).
// OpenSeadragon is served from static/vendor/ (npm lockfile), never from a CDN.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-iiif-services]").forEach(function (element) {
    var services = JSON.parse(element.getAttribute("data-iiif-services"));
    if (!services.length || typeof OpenSeadragon === "undefined") { return; }
    var viewer = OpenSeadragon({
      element: element,
      prefixUrl: element.getAttribute("data-osd-images"),
      tileSources: services,
      sequenceMode: services.length > 1,
      showReferenceStrip: services.length > 1,
      showNavigator: true,
      gestureSettingsMouse: { clickToZoom: false },
      crossOriginPolicy: "Anonymous"
    });
    element.viewer = viewer;
    viewer.addHandler("open", function () { element.setAttribute("data-opened", "true"); });
  });
});
