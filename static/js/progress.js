// The progress page: polls the application's status and, the moment the decision exists, swaps the
// decision into the page (no manual reload). Without JavaScript, the page offers a link instead.
(function () {
  "use strict";
  var root = document.getElementById("application");
  if (!root || !root.dataset.statusUrl) return;
  var url = root.dataset.statusUrl;
  var delay = 250;
  var started = Date.now();

  function showDecision() {
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("application");
        if (!fresh) throw new Error("no decision in the page");
        document.title = doc.title;
        root.replaceWith(fresh);
        var heading = document.getElementById("application-heading");
        if (heading) {
          heading.setAttribute("tabindex", "-1");
          heading.focus();
        }
      })
      .catch(function () { window.location.reload(); });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && !data.pending) { showDecision(); return; }
        // Fast while a decision is expected (within a second), then gentler: a page that keeps asking
        // four times a second while the workers are behind only puts them further behind.
        delay = Date.now() - started < 1000 ? 250 : Math.min(delay * 1.5, 3000);
        window.setTimeout(poll, delay);
      })
      .catch(function () { window.setTimeout(poll, Math.min(delay * 2, 5000)); });
  }
  window.setTimeout(poll, delay);
})();
