// Exhibition items: a deep-zoom viewer per specimen that opens on the region the curator chose
// (data-region = [x, y, w, h] in full-size pixels). OpenSeadragon comes from static/vendor.
document.addEventListener("DOMContentLoaded", function () {
  if (typeof OpenSeadragon === "undefined") { return; }
  document.querySelectorAll("[data-exhibit-services]").forEach(function (element) {
    var services = JSON.parse(element.getAttribute("data-exhibit-services"));
    if (!services.length) { return; }
    var region = element.hasAttribute("data-region") ? JSON.parse(element.getAttribute("data-region")) : null;
    var fallback = element.querySelector(".exhibit-fallback");
    var viewer = OpenSeadragon({
      element: element,
      prefixUrl: element.getAttribute("data-osd-images"),
      tileSources: services,
      showNavigator: false,
      gestureSettingsMouse: { clickToZoom: false, scrollToZoom: false },  // the page scrolls past it
      crossOriginPolicy: "Anonymous",
      immediateRender: true
    });
    viewer.addHandler("open", function () {
      if (fallback) { fallback.remove(); }
      if (region) {
        var rect = viewer.viewport.imageToViewportRectangle(region[0], region[1], region[2], region[3]);
        viewer.viewport.fitBounds(rect, true);
      }
      element.setAttribute("data-opened", "true");
    });
    element.viewer = viewer;
  });
});
