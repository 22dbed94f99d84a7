// Mission Control console: ticks the countdowns every second and keeps incident rooms and lists live.
// Hand-written, no dependencies, no build step. Without JavaScript every page still works (forms post
// and redirect); this only saves the reload.
(function () {
  "use strict";

  var body = document.body;
  var clock = { base: Date.parse(body.dataset.now || "") || Date.now(), at: performance.now(),
                speed: parseFloat(body.dataset.clockSpeed || "1") || 1 };

  function serverNow() { return clock.base + (performance.now() - clock.at) * clock.speed; }
  function resync(iso) { var t = Date.parse(iso || ""); if (t) { clock.base = t; clock.at = performance.now(); } }

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  // The same compact form as missionctl.web.views.duration: 45s, 4m 05s, 1h 02m, 3d 04h.
  function duration(seconds) {
    var total = Math.abs(Math.trunc(seconds));
    var days = Math.floor(total / 86400), hours = Math.floor(total % 86400 / 3600);
    var minutes = Math.floor(total % 3600 / 60), secs = total % 60;
    if (days) return days + "d " + pad(hours) + "h";
    if (hours) return hours + "h " + pad(minutes) + "m";
    if (minutes) return minutes + "m " + pad(secs) + "s";
    return secs + "s";
  }

  function tone(left, total) {
    if (left < 0) return "bad";
    if (total && left <= total / 5) return "warn";
    return "ok";
  }

  function tick() {
    var now = serverNow();
    var clocks = document.querySelectorAll(".countdown[data-deadline]");
    for (var i = 0; i < clocks.length; i++) {
      var el = clocks[i], state = el.dataset.state;
      if (state !== "running" && state !== "breached") continue;
      var left = Math.trunc((Date.parse(el.dataset.deadline) - now) / 1000);
      var text = duration(left) + (left >= 0 ? " left" : " over");
      if (el.textContent !== text) el.textContent = text;
      var holder = el.closest(".clock") || el.closest("td");
      if (holder) {
        var t = "tone-" + tone(left, parseFloat(el.dataset.total || "0"));
        if (!holder.classList.contains(t)) {
          holder.classList.remove("tone-ok", "tone-warn", "tone-bad");
          holder.classList.add(t);
        }
      }
    }
  }
  tick();
  window.setInterval(tick, 1000);

  // A live page: a room (`#room`, whose fragment comes from its own URL) or a list (`#live-list`, which
  // fetches itself). Either way the fetched page's [data-live] sections replace those that changed.
  var root = document.querySelector("[data-events]");
  if (!root || !window.EventSource) return;
  var status = document.getElementById("live-status");
  var fetching = null, again = false;

  function say(text) { if (status) status.textContent = text; }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fragment = doc.getElementById(root.dataset.fragmentRoot || root.id);
    if (!fragment) return;
    resync(fragment.dataset.now || (doc.body && doc.body.dataset.now));
    root.dataset.version = fragment.dataset.version;
    var active = document.activeElement, activeId = active && active.id;
    var changed = [];
    var sections = fragment.querySelectorAll("[data-live]");
    for (var i = 0; i < sections.length; i++) {
      var fresh = sections[i], current = document.getElementById(fresh.id);
      if (!current || current.innerHTML === fresh.innerHTML) continue;
      // Never wipe what someone is typing: a section holding the focused field waits for the next change.
      if (active && current.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) && active.value) continue;
      // Keep open what the reader opened (an execution's record, a step's parameters).
      var opened = current.querySelectorAll("details[open]");
      for (var j = 0; j < opened.length; j++) {
        var owner = opened[j].closest("[id]");
        var twin = owner && owner !== current ? fresh.querySelector("#" + CSS.escape(owner.id) + " details") : null;
        if (twin) twin.setAttribute("open", "");
      }
      if (current.innerHTML === fresh.innerHTML) continue;
      current.replaceWith(document.importNode(fresh, true));
      changed.push(fresh.id);
    }
    if (activeId && changed.length) {
      var again_ = document.getElementById(activeId);
      if (again_ && again_ !== document.activeElement) again_.focus({ preventScroll: true });
    }
    tick();
    if (changed.length) say("Updated at " + new Date(serverNow()).toISOString().substring(11, 19) + " UTC");
  }

  function refresh() {
    if (fetching) { again = true; return; }
    var url = root.dataset.fragment || (location.pathname + location.search);
    fetching = fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(swap)
      .catch(function () { say("Live updates paused; reload the page if this stays."); })
      .then(function () { fetching = null; if (again) { again = false; refresh(); } });
  }

  var source = new EventSource(root.dataset.events);
  source.addEventListener("hello", function (e) { if (e.data !== root.dataset.version) refresh(); });
  source.addEventListener("change", function (e) { if (e.data !== root.dataset.version) refresh(); });
  source.onerror = function () { say("Reconnecting live updates…"); };
  source.onopen = function () { say(""); };
  window.addEventListener("pagehide", function () { source.close(); });
})();
