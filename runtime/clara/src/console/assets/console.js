// clara's console: when a turn finishes, a live view is fetched again and swapped in, so the
// page stays current without a reload. The server sends turns over server-sent events; a
// browser that falls behind simply misses some and catches up on the next.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || main.dataset.live !== "true" || !window.EventSource) return;
  var status = document.getElementById("live-status");
  // One fetch at a time; a turn that finishes meanwhile asks for one more after it.
  var pending = false, again = false;
  function refresh() {
    if (pending) { again = true; return; }
    pending = true;
    fetch(location.href, { headers: { "x-console-partial": "1" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) main.innerHTML = html; })
      .finally(function () {
        pending = false;
        if (again) { again = false; refresh(); }
      });
  }
  var events = new EventSource("/console/events");
  events.addEventListener("turn", refresh);
  // The server ends a stream after a while; on reconnecting, catch up on what finished between.
  var opened = false;
  events.onopen = function () {
    if (status) status.textContent = "live";
    if (opened) refresh();
    opened = true;
  };
  events.onerror = function () { if (status) status.textContent = "reconnecting…"; };
})();
