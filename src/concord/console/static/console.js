// Concord console: live refresh of the dashboard (figures + charts) and confirmation of destructive forms.
// Vendored with the package: the console never loads a script from anywhere else.
(function () {
  "use strict";
  var PERIOD_MS = 5000;

  function refreshFigures(section) {
    fetch(section.getAttribute("data-summary"), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var key = el.getAttribute("data-live");
          if (key === "updated") { el.textContent = new Date(data.at * 1000).toISOString().slice(0, 19).replace("T", " "); }
          else if (key in data) { el.textContent = String(data[key]); }
        });
      })
      .catch(function () { /* a missed refresh is retried on the next tick */ });
  }

  function refreshCharts(section) {
    fetch(section.getAttribute("data-fragment"))
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { section.innerHTML = html; } })
      .catch(function () {});
  }

  document.addEventListener("DOMContentLoaded", function () {
    var tiles = document.querySelector("[data-summary]");
    var charts = document.querySelector("[data-fragment]");
    if (tiles || charts) {
      window.setInterval(function () {
        if (tiles) { refreshFigures(tiles); }
        if (charts) { refreshCharts(charts); }
      }, PERIOD_MS);
    }
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { ev.preventDefault(); }
      });
    });
  });
}());
