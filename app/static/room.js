/* Setroom live room: what htmx has no answer for.
 *
 * - The countdown: #room-timer carries the deadline; we count down locally every 250 ms,
 *   corrected by the server clock offset read from #room-clock whenever the server sends it.
 * - The connection indicator in #room-status (htmx:wsOpen / wsClose / wsError), and a banner
 *   (#room-connection, a live region) while the socket is lost or closed.
 * - How soon htmx's ws extension tries again after losing the socket: capped, jittered
 *   exponential backoff (docs/protocol.md, "Reconnecting").
 * - Comforts around the ws extension's out-of-band swaps: keep keyboard focus and open
 *   <details> across a swap, reset "new item" forms once sent, clear the last error.
 *
 * No inline scripts or handlers anywhere: this file is loaded with `defer`.
 */
(function () {
  "use strict";

  /* Text this script writes, in the page's language: the server puts the translations of
     SCRIPT_TEXT (app/web/render.py) on <body data-ui-text>; English is the fallback. */
  var UI_TEXT = (function () {
    try {
      return JSON.parse(document.body.getAttribute("data-ui-text") || "{}");
    } catch (e) {
      return {};
    }
  })();
  function tr(text) {
    return UI_TEXT[text] || text;
  }

  var TICK_MS = 250;
  var WARN_MS = 60000;
  var RECONNECTING = [1006, 1011, 1012, 1013]; // the codes htmx's ws extension retries on
  var CLOSE_REPLACED = 4001; // this person opened the room in too many windows; this one went
  var RETRY_BASE_MS = 250;
  var RETRY_CAP_MS = 2000;

  var offset = 0; // server clock minus this clock, in ms
  var lastLeft = null; // ms left at the previous tick of the current deadline
  var lastDeadline = null;
  var conn = "connecting";
  var saved = null; // focus and <details> state captured before a swap

  function byId(id) {
    return document.getElementById(id);
  }

  function mmss(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var m = Math.floor(s / 60);
    s = s % 60;
    return (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  var spoken = null; // our own last announcement, kept briefly so a swap does not wipe it

  function announce(text) {
    var el = byId("room-announcer");
    if (!el) return;
    spoken = { text: text, at: Date.now() };
    el.textContent = "";
    window.setTimeout(function () {
      el.textContent = text;
    }, 100);
  }

  function keepAnnouncement() {
    var el = byId("room-announcer");
    if (el && spoken && !el.textContent.trim() && Date.now() - spoken.at < 2000) {
      el.textContent = spoken.text;
    }
  }

  /* Clock and countdown */

  function readOffset() {
    var clock = byId("room-clock");
    var serverNow = clock ? Number(clock.getAttribute("data-server-now-ms")) : NaN;
    if (serverNow > 0) offset = serverNow - Date.now();
  }

  function tick() {
    var t = byId("room-timer");
    if (!t) return;
    var running = t.getAttribute("data-running") === "true";
    var deadline = Number(t.getAttribute("data-deadline-ms"));
    var duration = Number(t.getAttribute("data-duration-ms")) || 0;
    var left;
    if (running && deadline > 0) {
      if (deadline !== lastDeadline) {
        lastDeadline = deadline;
        lastLeft = null;
      }
      left = Math.max(0, deadline - (Date.now() + offset));
      var up = left <= 0;
      var warn = !up && left <= WARN_MS;
      var clock = t.querySelector("[data-timer-clock]");
      var label = t.querySelector("[data-timer-label]");
      if (clock) clock.textContent = mmss(left);
      if (label) label.textContent = up ? tr("Time's up") : warn ? tr("Under a minute left") : tr("of {duration}").replace("{duration}", mmss(duration));
      t.classList.toggle("timer--warn", warn);
      t.classList.toggle("timer--elapsed", up);
      t.classList.toggle("timer--running", !up);
      if (lastLeft !== null) {
        if (lastLeft > WARN_MS && left <= WARN_MS && !up) announce(tr("One minute left"));
        if (lastLeft > 0 && up) announce(tr("Time's up"));
      }
      lastLeft = left;
    } else {
      lastDeadline = null;
      lastLeft = null;
      left = t.getAttribute("data-elapsed") === "true" ? 0 : Number(t.getAttribute("data-remaining-ms")) || 0;
    }
    var fill = t.querySelector("[data-timer-fill]");
    if (fill) fill.style.setProperty("--left", duration > 0 ? String(Math.min(1, left / duration)) : "0");
  }

  /* Reconnecting: the nth retry waits 250 ms x 2^n, at most 2 s, drawn from the upper half of
     that at random, so that a room whose server restarted does not come back all at once, and
     each page is back within 2 s of the server. */

  function reconnectDelay(retry) {
    var ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * Math.pow(2, retry));
    return ceiling * (0.5 + Math.random() / 2);
  }

  if (window.htmx) window.htmx.config.wsReconnectDelay = reconnectDelay;

  /* Connection indicator */

  var CONN_TEXT = { connecting: tr("Connecting…"), open: tr("Connected"), lost: tr("Reconnecting…"), closed: tr("Disconnected: reload to rejoin") };
  var BANNER_TEXT = {
    lost: tr("Connection lost. Reconnecting…"),
    closed: tr("Disconnected. Reload the page to rejoin."),
    replaced: tr("This room is open in other windows, so this one stopped. Reload the page to use it here.")
  };
  var closedBy = null; // the close code that ended the connection for good

  /* The banner is made once, outside the regions the server swaps, and stays in the page while
     empty: a live region must be there before its text changes for screen readers to say it. */
  function banner() {
    var el = byId("room-connection");
    if (el) return el;
    var main = document.querySelector("[ws-connect]"); // only pages with a room socket
    if (!main) return null;
    el = document.createElement("div");
    el.id = "room-connection";
    el.className = "conn-banner";
    el.setAttribute("role", "status");
    el.setAttribute("aria-live", "polite");
    main.insertBefore(el, byId("room-error") || main.firstChild);
    return el;
  }

  function showBanner() {
    var el = banner();
    if (!el) return;
    var key = conn === "lost" ? "lost" : conn === "closed" ? (closedBy === CLOSE_REPLACED ? "replaced" : "closed") : null;
    var text = key ? BANNER_TEXT[key] : "";
    var shown = el.firstChild ? el.firstChild.textContent : "";
    if (text === shown) return;
    el.textContent = "";
    if (!text) return;
    var p = document.createElement("p");
    p.className = "alert";
    p.textContent = text;
    el.appendChild(p);
  }

  function showConn() {
    var els = document.querySelectorAll(".conn");
    for (var i = 0; i < els.length; i++) {
      els[i].setAttribute("data-conn", conn === "closed" ? "lost" : conn);
      var text = els[i].querySelector(".conn__text");
      if (text) text.textContent = CONN_TEXT[conn];
    }
  }

  function setConn(state) {
    var was = conn;
    conn = state;
    showConn();
    showBanner(); // says "lost" and "closed" itself, being a live region
    if (state === "open" && (was === "lost" || was === "closed")) announce(tr("Reconnected"));
  }

  /* Focus and <details> across swaps */

  var KEY_FIELDS = ["question_id", "commitment_id", "member", "participant", "phase_id"];

  /* A key that finds "the same control" in the new HTML: its id, else its form's command and
     the ids it acts on, plus its label. A loose key without the label finds a toggle's other
     side (Star / Unstar). */
  function focusKey(el, loose) {
    if (!el || el === document.body || !el.closest) return null;
    if (el.id) return "#" + el.id;
    var form = el.closest("form[ws-send]");
    if (!form) return null;
    var parts = [];
    var type = form.querySelector("input[name=type]");
    parts.push(type ? type.value : "");
    for (var i = 0; i < KEY_FIELDS.length; i++) {
      var input = form.querySelector("input[type=hidden][name=" + KEY_FIELDS[i] + "]");
      if (input) parts.push(KEY_FIELDS[i] + "=" + input.value);
    }
    if (!loose) parts.push(el.getAttribute("aria-label") || el.textContent.trim());
    return parts.join("|");
  }

  function findByKey(key, loose) {
    if (key.charAt(0) === "#") return byId(key.slice(1));
    var candidates = document.querySelectorAll("form[ws-send] button, form[ws-send] select");
    for (var i = 0; i < candidates.length; i++) {
      if (focusKey(candidates[i], loose) === key) return candidates[i];
    }
    return null;
  }

  function regionOf(el) {
    var region = el && el.closest ? el.closest("[id^='room-']") : null;
    return region ? region.id : null;
  }

  function capture() {
    var active = document.activeElement;
    var details = {};
    var all = document.querySelectorAll("details[id]");
    for (var i = 0; i < all.length; i++) details[all[i].id] = all[i].open;
    var sel = null;
    try {
      if (active && typeof active.selectionStart === "number") sel = [active.selectionStart, active.selectionEnd];
    } catch (e) {
      sel = null; // some input types have no selection
    }
    saved = {
      key: focusKey(active, false),
      looseKey: focusKey(active, true),
      region: regionOf(active),
      sel: sel,
      details: details
    };
  }

  function restore() {
    if (!saved) return;
    var s = saved;
    saved = null;
    Object.keys(s.details).forEach(function (id) {
      var d = byId(id);
      if (d && d.tagName === "DETAILS") d.open = s.details[id];
    });
    var active = document.activeElement;
    if (!s.key || (active && active !== document.body)) return;
    var target = findByKey(s.key, false) || (s.looseKey && findByKey(s.looseKey, true));
    if (!target && s.region) {
      // The control is gone (Raise became Lower): the first button of its region, never a
      // text field, which would open a phone's keyboard.
      var region = byId(s.region);
      target = region && region.querySelector("button, summary");
    }
    if (!target) return;
    target.focus({ preventScroll: true });
    if (s.sel && typeof target.setSelectionRange === "function") {
      try {
        target.setSelectionRange(s.sel[0], s.sel[1]);
      } catch (e) {
        /* not a text field */
      }
    }
  }

  /* Keep the current phase in view when the plan scrolls sideways (narrow screens). */

  function showCurrentPhase() {
    var plan = document.querySelector(".plan");
    var current = plan && plan.querySelector("[aria-current=step]");
    if (!plan || !current || plan.scrollWidth <= plan.clientWidth) return;
    plan.scrollLeft = current.offsetLeft - plan.offsetLeft - (plan.clientWidth - current.offsetWidth) / 2;
  }

  /* Wiring */

  document.addEventListener("htmx:wsConnecting", function () {
    if (conn !== "lost") setConn(conn === "open" ? "lost" : "connecting");
  });
  document.addEventListener("htmx:wsOpen", function () {
    setConn("open");
  });
  document.addEventListener("htmx:wsClose", function (evt) {
    var code = evt.detail && evt.detail.event ? evt.detail.event.code : 1006;
    var again = RECONNECTING.indexOf(code) >= 0;
    closedBy = again ? null : code;
    setConn(again ? "lost" : "closed");
  });
  document.addEventListener("htmx:wsError", function () {
    if (conn === "open") setConn("lost");
  });

  /* Choices made in a form but not yet sent (a select, a checkbox) survive a swap of their
     region: someone joining re-renders the controls, and must not reset "hand the controls to".
     Fields with hx-preserve are kept by htmx itself; a choice whose option is gone is dropped. */
  var chosen = {};

  document.addEventListener("change", function (evt) {
    var el = evt.target;
    if (!el || !el.id || !el.closest || !el.closest("form[ws-send]")) return;
    if (el.hasAttribute("hx-preserve")) return;
    if (el.tagName === "SELECT") chosen[el.id] = { value: el.value };
    else if (el.type === "checkbox") chosen[el.id] = { checked: el.checked };
  });

  document.addEventListener("htmx:wsAfterSend", function (evt) {
    var form = evt.target;
    if (!form || !form.querySelectorAll) return;
    var fields = form.querySelectorAll("select[id], input[type=checkbox][id]");
    for (var i = 0; i < fields.length; i++) delete chosen[fields[i].id];
  });

  function restoreChoices() {
    Object.keys(chosen).forEach(function (id) {
      var el = byId(id);
      var choice = chosen[id];
      if (!el) return;
      if ("checked" in choice) {
        el.checked = choice.checked;
        return;
      }
      for (var i = 0; i < el.options.length; i++) {
        if (el.options[i].value === choice.value) {
          el.value = choice.value;
          return;
        }
      }
      delete chosen[id];
    });
  }

  document.addEventListener("htmx:wsBeforeMessage", capture);
  document.addEventListener("htmx:wsAfterMessage", function () {
    // Let in from the lobby: load the room itself.
    var lobby = document.getElementById("room-lobby");
    if (lobby && lobby.getAttribute("data-admitted") === "true") {
      window.location.reload();
      return;
    }
    readOffset();
    showConn();
    restoreChoices();
    restore();
    keepAnnouncement();
    showCurrentPhase();
    tick();
  });

  document.addEventListener("htmx:wsBeforeSend", function () {
    var error = byId("room-error");
    if (error) error.textContent = "";
  });
  document.addEventListener("htmx:wsAfterSend", function (evt) {
    var form = evt.target;
    if (form && form.matches && form.matches("form[data-reset-on-send]")) form.reset();
  });

  document.addEventListener("click", function (evt) {
    var printer = evt.target && evt.target.closest ? evt.target.closest("[data-print]") : null;
    if (printer) {
      window.print();
      return;
    }
    var button = evt.target && evt.target.closest ? evt.target.closest("[data-dismiss-error]") : null;
    if (!button) return;
    var error = byId("room-error");
    if (error) error.textContent = "";
  });

  function start() {
    banner();
    readOffset();
    showCurrentPhase();
    tick();
    window.setInterval(tick, TICK_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
