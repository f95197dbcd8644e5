// kamlog's account page: the time control. The slider runs over the account's event instants
// (read from the JSON block #instants); the date field picks the end of a day. Moving either
// fetches the same page at the new as_of and swaps in its #review, so the map and every view
// are redrawn from the server's figures; the address bar follows, so the view can be shared.
"use strict";
(function () {
  var control = document.getElementById("timecontrol");
  if (!control) return;
  var slider = document.getElementById("as-of-slider");
  var dateField = document.getElementById("as-of-date");
  var shown = document.getElementById("as-of-shown");
  var instants = JSON.parse(document.getElementById("instants").textContent);
  var knownAt = control.getAttribute("data-known-at");
  var base = control.getAttribute("data-path");
  var pending = 0;

  function iso(seconds) {
    return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
  }

  function load(asOf) {
    var url = base + "?as_of=" + encodeURIComponent(asOf);
    if (knownAt) url += "&known_at=" + encodeURIComponent(knownAt);
    var ticket = ++pending;
    control.setAttribute("data-loading", "true");
    fetch(url, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (text) {
        if (ticket !== pending) return; // a later move won
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("review");
        document.getElementById("review").replaceWith(fresh);
        shown.textContent = asOf;
        control.setAttribute("data-as-of", asOf);
        history.replaceState(null, "", url);
      })
      .catch(function (e) {
        shown.textContent = asOf + " (failed: " + e.message + ")";
      })
      .finally(function () {
        if (ticket === pending) control.removeAttribute("data-loading");
      });
  }

  slider.addEventListener("input", function () {
    shown.textContent = iso(instants[Number(slider.value)]);
  });
  slider.addEventListener("change", function () {
    var t = instants[Number(slider.value)];
    dateField.value = iso(t).slice(0, 10);
    load(iso(t));
  });
  dateField.addEventListener("change", function () {
    if (!dateField.value) return;
    var asOf = dateField.value + "T23:59:59Z";
    var end = Date.parse(asOf) / 1000;
    var i = 0;
    while (i + 1 < instants.length && instants[i + 1] <= end) i++;
    slider.value = String(i);
    load(asOf);
  });
})();
