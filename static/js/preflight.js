// Small progressive enhancements; every page works without this file. No inline scripts or
// handlers anywhere: a strict Content-Security-Policy can forbid them.
(function () {
  "use strict";

  // After an action the server sends back only what changed, and marks the element acted on
  // with data-focus (its message is inside it): move focus there, so keyboard and screen
  // reader users stay where they were and hear what happened. Focusing scrolls it into view
  // only if it is not in view already.
  document.addEventListener("htmx:afterSettle", function () {
    var target = document.querySelector("[data-focus]");
    if (!target) { return; }
    target.removeAttribute("data-focus");
    if (!target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
    target.focus();
  });

  // A message beside the form that sent the request, replacing an earlier one there; the page
  // notice area when the request came from no form.
  function say(elt, text) {
    var p = document.createElement("p");
    p.className = "notice error";
    p.setAttribute("role", "alert");
    p.setAttribute("tabindex", "-1");
    p.setAttribute("data-request-error", "");
    p.textContent = text;
    var form = elt && elt.closest ? elt.closest("form") : null;
    if (form && document.body.contains(form)) {
      var old = form.querySelector("[data-request-error]");
      if (old) { old.remove(); }
      form.prepend(p);
      p.focus();
      return;
    }
    var box = document.getElementById("messages");
    if (box) { box.replaceChildren(p); }
  }

  // An HTMX request refused by the server (403, 404, 500…): show why instead of silently doing
  // nothing. The error pages carry their message in [data-error].
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = "The request failed (" + xhr.status + ").";
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var detail = doc.querySelector("[data-error]");
      if (detail && detail.textContent.trim()) { text = detail.textContent.trim(); }
    } catch (e) { /* keep the generic text */ }
    say(event.detail.elt, text);
  });

  document.addEventListener("htmx:sendError", function (event) {
    say(event.detail.elt, "Preflight could not be reached. Check your connection and try again.");
  });

  // A skip link moves focus to its target (a region with tabindex="-1"), not only the view, so
  // the next Tab starts there.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.skip-link");
    if (!link) { return; }
    var target = document.getElementById(link.getAttribute("href").slice(1));
    if (target) { target.focus(); }
  });

  // A print button says so with data-print; the Content-Security-Policy refuses onclick=.
  document.addEventListener("click", function (event) {
    if (event.target instanceof Element && event.target.closest("[data-print]")) {
      window.print();
    }
  });
})();
