/* Setroom: an optional sound at time's up.
 *
 * Each person chooses for themselves: the room's "Sound at time's up" toggle (#sound-toggle in
 * the timer card, hidden until this script shows it) is off by default and remembered in
 * localStorage. When the timer reaches time's up (room.js marks #room-timer with the class
 * timer--elapsed as the countdown ends; the server's own time's up arrives as
 * data-elapsed="true"), a short two-note chime is made with the Web Audio API: no sound file.
 *
 * It only watches the page (a MutationObserver, and the ws extension's htmx:wsAfterMessage)
 * and never touches the room's logic. Loaded with `defer`; no inline script anywhere.
 */
(function () {
  "use strict";

  var KEY = "setroom.sound";
  var audio = null; // one AudioContext, made on the first gesture that needs it
  var was = null; // was the timer at time's up at the last look? null: not looked yet
  var chimedAt = 0;
  var QUIET_MS = 5000; // one chime per time's up, whatever swaps and ticks follow it

  function enabled() {
    try {
      return window.localStorage.getItem(KEY) === "on";
    } catch (e) {
      return false; // storage blocked: the sound stays off
    }
  }

  function remember(on) {
    try {
      window.localStorage.setItem(KEY, on ? "on" : "off");
    } catch (e) {
      /* not remembered, still applied for this page */
    }
  }

  function context() {
    var Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) return null;
    if (!audio) audio = new Ctor();
    if (audio.state === "suspended") audio.resume();
    return audio;
  }

  /* Two soft sine notes, a falling fifth, about half a second in all. */
  function chime() {
    var ctx = context();
    if (!ctx) return;
    var start = ctx.currentTime + 0.02;
    [
      [880, 0],
      [587.33, 0.22]
    ].forEach(function (note) {
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      var t = start + note[1];
      osc.type = "sine";
      osc.frequency.setValueAtTime(note[0], t);
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.25, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.32);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.35);
    });
  }

  function showToggle() {
    var button = document.getElementById("sound-toggle");
    if (!button) return;
    button.hidden = false;
    button.setAttribute("aria-pressed", enabled() ? "true" : "false");
  }

  function check() {
    var timer = document.getElementById("room-timer");
    if (!timer) return;
    var elapsed =
      !timer.hidden &&
      (timer.classList.contains("timer--elapsed") || timer.getAttribute("data-elapsed") === "true");
    // Only the moment it happens chimes: a page opened (or reloaded) after time's up is quiet.
    if (was === false && elapsed && enabled() && Date.now() - chimedAt > QUIET_MS) {
      chimedAt = Date.now();
      chime();
    }
    was = elapsed;
  }

  document.addEventListener("click", function (evt) {
    var button = evt.target && evt.target.closest ? evt.target.closest("#sound-toggle") : null;
    if (!button) return;
    var on = button.getAttribute("aria-pressed") !== "true";
    remember(on);
    button.setAttribute("aria-pressed", on ? "true" : "false");
    if (on) chime(); // a sample at once, and this gesture lets the browser play later chimes
  });

  // Browsers start audio only after a gesture: a page opened with the sound on wakes its
  // AudioContext at the person's first key or click.
  function wake() {
    if (enabled()) context();
    document.removeEventListener("pointerdown", wake, true);
    document.removeEventListener("keydown", wake, true);
  }
  document.addEventListener("pointerdown", wake, true);
  document.addEventListener("keydown", wake, true);

  document.addEventListener("htmx:wsAfterMessage", function () {
    showToggle();
    check();
  });

  function start() {
    showToggle();
    check();
    if (!window.MutationObserver) return;
    new MutationObserver(check).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["class", "data-elapsed"]
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
