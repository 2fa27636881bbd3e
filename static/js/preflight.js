// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // An HTMX request refused by the server (403, 404, 409, 500…): show why, in the notice area,
  // instead of silently doing nothing. The error pages carry their message in [data-error].
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = "The request failed (" + xhr.status + ").";
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var detail = doc.querySelector("[data-error]");
      if (detail && detail.textContent.trim()) { text = detail.textContent.trim(); }
    } catch (e) { /* keep the generic text */ }
    var box = document.getElementById("messages");
    if (!box) { return; }
    var p = document.createElement("p");
    p.className = "notice error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    box.replaceChildren(p);
  });

  document.addEventListener("htmx:sendError", function () {
    var box = document.getElementById("messages");
    if (!box) { return; }
    var p = document.createElement("p");
    p.className = "notice error";
    p.setAttribute("role", "alert");
    p.textContent = "Preflight could not be reached. Check your connection and try again.";
    box.replaceChildren(p);
  });
})();
