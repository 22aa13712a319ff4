// Escalade dashboard: keeps countdowns ticking between server renders.
// No inline scripts anywhere, so a strict Content-Security-Policy holds.
(function () {
  "use strict";
  function span(seconds) {
    var parts = [[86400, "d"], [3600, "h"], [60, "m"], [1, "s"]], out = [];
    for (var i = 0; i < parts.length && out.length < 2; i++) {
      var n = Math.floor(seconds / parts[i][0]);
      if (n > 0) { out.push(n + parts[i][1]); seconds -= n * parts[i][0]; }
    }
    return out.join(" ") || "0s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) { return; }
      var left = Math.round((at - now) / 1000);
      el.textContent = left >= 0 ? "in " + span(left) : span(-left) + " ago";
      el.classList.toggle("overdue", left < 0);
    });
  }
  setInterval(tick, 1000);
})();
