// waymark dashboard: the one script (served from the binary; the CSP allows no other).
// 1. Every <time datetime> gets the browser's local time as its title.
// 2. <main data-refresh=N> is fetched again from the same URL every N seconds and swapped in
//    place: the scroll position and the filters (the URL) stay. Paused while the tab is hidden,
//    while a field has the focus or a <details> is open (not to close what the user opened).
"use strict";
(function () {
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d.getTime())) {
        t.title = d.toLocaleString() + " (local) · " + t.getAttribute("datetime") + " UTC";
      }
    });
  }
  function refresh(main) {
    var busy = document.hidden || main.querySelector("details[open]") ||
      (document.activeElement && /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName));
    if (busy) return;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) return;
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("main");
        if (!fresh) return;
        var x = window.scrollX, y = window.scrollY;
        main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes).map(function (n) {
          return document.importNode(n, true);
        }));
        localTimes(main);
        window.scrollTo(x, y);
      })
      .catch(function () { /* the next round tries again */ });
  }
  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    var main = document.getElementById("main");
    var every = main ? parseInt(main.getAttribute("data-refresh"), 10) : 0;
    if (every > 0) setInterval(function () { refresh(main); }, every * 1000);
  });
})();
