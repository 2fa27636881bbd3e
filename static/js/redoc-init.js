// Starts Redoc on templates/api/redoc.html with the nonce its styles need, and without its
// search, which would run in a worker made from a blob: URL that the Content-Security-Policy
// refuses (api/docs.py).
(function () {
  "use strict";
  var container = document.getElementById("redoc");
  var options = { nonce: document.currentScript.nonce, disableSearch: true };
  Redoc.init(container.dataset.schemaUrl, options, container);
})();
