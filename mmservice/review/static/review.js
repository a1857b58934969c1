/* The review page's script: take the next item, show it (media blurred), decide with single
   keys, submit-and-next, count the lease down. Talks only to /review/api on this origin, with
   the session cookie and the CSRF token from the page's <meta>. No key ever reaches this file. */
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var queue = document.querySelector('meta[name="review-queue"]').content;
  var current = null;      // the leased item
  var leaseEnds = 0;       // ms timestamp
  var busy = false;
  var $ = function (id) { return document.getElementById(id); };
  var KEYS = { a: "approve", r: "reject", e: "escalate", s: "skip", v: "reveal",
               u: "uphold", o: "overturn", n: "next" };

  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin",
                 headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" } };
    if (body !== undefined) { opts.body = JSON.stringify(body); }
    return fetch("/review/api/" + path, opts).then(function (r) {
      if (r.status === 401) { window.location = "/review"; throw new Error("logged out"); }
      return r.json().then(function (j) { return { status: r.status, body: j }; });
    });
  }

  function say(text) { $("status").textContent = text || ""; }

  function clear(el) { while (el.firstChild) { el.removeChild(el.firstChild); } }

  function li(list, text) {
    var e = document.createElement("li"); e.textContent = text; list.appendChild(e);
  }

  function highlighted(text, hits) {
    /* The text with matched list terms in <mark>, from their [start, end) offsets. */
    var box = $("text-box"); clear(box);
    var spans = (hits || []).filter(function (h) {
      return h.offsets && h.offsets.length === 2 && (h.input === "text" || h.input === "transcript");
    }).map(function (h) { return h.offsets; }).sort(function (x, y) { return x[0] - y[0]; });
    var at = 0;
    spans.forEach(function (s) {
      if (s[0] < at) { return; }
      box.appendChild(document.createTextNode(text.slice(at, s[0])));
      var m = document.createElement("mark"); m.textContent = text.slice(s[0], s[1]);
      box.appendChild(m); at = s[1];
    });
    box.appendChild(document.createTextNode(text.slice(at)));
  }

  function show(item) {
    current = item;
    leaseEnds = Date.now() + item.lease.expires_in_s * 1000;
    $("lease-expired").hidden = true; $("empty").hidden = true; $("item").hidden = false;
    $("item-id").textContent = item.id;
    $("item-stage").textContent = item.stage;
    $("item-severity").textContent = item.severity;
    $("item-source").textContent = (item.sources || [item.source]).join(", ");
    $("item-policy").textContent = item.policy ? item.policy.name + " v" + item.policy.version : "-";
    $("item-reports").textContent = String(item.report_count || 0);
    var c = item.content || {};
    var img = $("media-img");
    img.className = "blurred";                       // re-blurred for every item
    img.removeAttribute("src");
    $("image-box").hidden = c.kind !== "image" && c.kind !== "video";  // a video: its contact sheet
    $("audio-box").hidden = c.kind !== "audio";
    var audio = $("media-audio"); audio.pause(); audio.muted = true; audio.removeAttribute("src");
    if (c.kind === "image" || c.kind === "video") { img.src = "/review/api/" + item.id + "/media"; }
    if (c.kind === "audio") { audio.src = "/review/api/" + item.id + "/media"; }
    var text = c.text || c.transcript || "";
    $("text-box").hidden = !text;
    if (text) { highlighted(text, item.matched_lists); }
    var tb = $("scores").querySelector("tbody"); clear(tb);
    Object.keys(item.category_scores || {}).sort(function (x, y) {
      return item.category_scores[y] - item.category_scores[x];
    }).forEach(function (k) {
      var tr = document.createElement("tr");
      var a = document.createElement("td"); a.textContent = k;
      var b = document.createElement("td"); b.textContent = item.category_scores[k].toFixed(3);
      tr.appendChild(a); tr.appendChild(b); tb.appendChild(tr);
    });
    var lists = $("lists"); clear(lists);
    (item.matched_lists || []).forEach(function (h) {
      li(lists, h.list + " / " + h.item_id + " (" + h.kind + ", " + h.action +
         (h.distance !== undefined ? ", distance " + h.distance : "") +
         (h.matched ? ", \u201c" + h.matched + "\u201d" : "") + ")");
    });
    var prior = $("prior"); clear(prior);
    (item.prior_decisions || []).forEach(function (p) {
      li(prior, p.at + ": " + p.decision + " (" + p.verdict + ") by " + p.reviewer);
    });
    var reps = $("reports"); clear(reps);
    (item.reports || []).forEach(function (r) { li(reps, r.reporter_id + ": " + r.reason); });
    var appeal = item.stage === "appeal";
    document.querySelector(".buttons.first").hidden = appeal;
    document.querySelector(".buttons.appeal").hidden = !appeal;
    enable(true);
    say("");
  }

  function enable(on) {
    document.querySelectorAll("#decide button").forEach(function (b) { b.disabled = !on; });
  }

  function next() {
    if (busy) { return; }
    busy = true; say("Loading…");
    api("POST", "queues/" + encodeURIComponent(queue) + "/next", {}).then(function (r) {
      busy = false;
      $("break-notice").hidden = !(r.body.exposure && r.body.exposure.capped);
      if (!r.body.item) {
        current = null; $("item").hidden = true; $("empty").hidden = false; say("");
        return;
      }
      show(r.body.item);
    }).catch(function (e) { busy = false; say("Could not load: " + e.message); });
  }

  function reveal() {
    if (!current) { return; }
    var img = $("media-img");
    if (img.className === "revealed") { return; }
    img.className = "revealed";
    api("POST", current.id + "/reveal", {});
  }

  function showAudit(itemId) {
    api("GET", itemId + "/audit").then(function (r) {
      var ol = $("audit-log"); clear(ol);
      (r.body.data || []).forEach(function (e) {
        var ev = e.event;
        li(ol, ev.ts + " " + ev.type + (ev.decision ? " " + ev.decision : "") + " by " + ev.actor);
      });
      $("last").hidden = false;
    });
  }

  function act(action) {
    if (action === "next") { if (!current) { next(); } return; }
    if (!current || busy) { return; }
    if (action === "reveal") { reveal(); return; }
    if (leaseEnds <= Date.now()) { return; }
    var item = current, token = item.lease.token;
    busy = true; enable(false);
    var call;
    if (action === "skip") {
      call = api("POST", item.id + "/skip", { lease_token: token });
    } else {
      var body = { decision: action, lease_token: token };
      var reason = $("reason").value.trim(), note = $("note").value.trim();
      if (reason) { body.reason = reason; }
      if (note) { body.note = note; }
      if (action === "escalate") { body.queue = $("escalate-to").value.trim() || "escalations"; }
      call = api("POST", item.id + "/decision", body);
    }
    call.then(function (r) {
      busy = false;
      if (r.status !== 200) {
        enable(true);
        say((r.body.error && r.body.error.message) || ("failed: " + r.status));
        return;
      }
      $("reason").value = ""; $("note").value = "";
      current = null;
      if (action !== "skip") { showAudit(item.id); }
      next();                                        // submit-and-next
    }).catch(function (e) { busy = false; enable(true); say("failed: " + e.message); });
  }

  function tick() {
    if (!current) { $("lease").textContent = ""; return; }
    var left = Math.max(0, Math.round((leaseEnds - Date.now()) / 1000));
    var m = Math.floor(left / 60), s = left % 60;
    $("lease").textContent = "lease " + m + ":" + (s < 10 ? "0" : "") + s;
    $("lease").className = left < 60 ? "lease low" : "lease";
    if (left === 0) {
      $("lease-expired").hidden = false; enable(false);
      document.querySelector('#decide button[data-action="reveal"]').disabled = false;
      current = null;
    }
  }

  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) {
      if (ev.key === "Escape") { t.blur(); }
      return;                                        // keys are off while typing
    }
    var action = KEYS[ev.key];
    if (!action) { return; }
    ev.preventDefault();
    act(action);
  });
  document.querySelectorAll("#decide button").forEach(function (b) {
    b.addEventListener("click", function () { act(b.dataset.action); });
  });
  $("decide").addEventListener("submit", function (ev) { ev.preventDefault(); });
  $("media-img").addEventListener("click", reveal);
  $("media-audio").addEventListener("play", function () {
    $("media-audio").muted = false;                 // muted until the reviewer plays it
    if (current) { api("POST", current.id + "/reveal", {}); }
  });
  setInterval(tick, 500);
  next();
}());
