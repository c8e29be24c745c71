// Identity Box web page: the status, the pairing code, and saving a backup to this computer.
// No framework and no inline script (the page's Content-Security-Policy forbids it). Every call
// goes to the box that served the page.
"use strict";

const $ = (id) => document.getElementById(id);

// The box's clock minus ours, in seconds (expiry times are the box's).
let clockOffset = 0;
const boxNow = () => Date.now() / 1000 + clockOffset;

/** A problem the user can act on: `message` is shown as it is. */
class Problem extends Error {}

/** GET or POST `path` and return its JSON; errors become a Problem with the box's message. */
async function call(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { cache: "no-store", ...options });
  } catch (_) {
    throw new Problem("The box cannot be reached. Check that it is plugged in and that this " +
      "computer is on the same network, then try again.");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (!response.ok) {
    const problem = new Problem((body && body.message) ||
      `The box answered with an error (${response.status}). Try again in a minute.`);
    problem.status = response.status;
    problem.kind = body && body.error;
    throw problem;
  }
  return body;
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (days > 0) return `${days} day${days === 1 ? "" : "s"}, ${hours} h`;
  if (hours > 0) return `${hours} h ${minutes} min`;
  if (minutes > 0) return `${minutes} min ${s % 60} s`;
  return `${s} s`;
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

// ---- Status and pairing ------------------------------------------------------------------

let pairingExpires = null;

async function refreshStatus() {
  try {
    const info = await call("/v1/info");
    clockOffset = info.time - Date.now() / 1000;
    $("box-name").textContent = info.name;
    document.title = `${info.name} — Identity Box`;
    $("box-version").textContent = `Identity Box ${info.version}`;
    $("uptime").textContent = duration(info.uptime_s);
    $("last-backup").textContent = info.last_backup_at
      ? new Date(info.last_backup_at * 1000).toLocaleString()
      : "No backup yet";
    showPairing(info);
    refreshPeople();
    $("status-error").hidden = true;
  } catch (e) {
    $("status-error").textContent = e.message;
    $("status-error").hidden = false;
  }
  try {
    const health = await call("/health");
    $("health").textContent = health.storage && health.storage.nearly_full
      ? "Healthy, but its memory card is nearly full: delete backups or identities you no longer need."
      : "Healthy";
    $("reachable").textContent = reachable(health.ipfs);
  } catch (e) {
    $("health").textContent = e.status === 503
      ? "Starting… this takes up to a minute."
      : "Not healthy. Unplug the box, wait ten seconds, and plug it in again.";
  }
}

// Whether boxes and phones outside the home reach the box (protocol §4, "Across homes").
function reachable(ipfs) {
  if (!ipfs || !ipfs.running) return "–";
  let text;
  if (ipfs.reachability === "public") {
    text = "Reachable directly";
  } else if (ipfs.relays > 0) {
    text = `Reachable through ${ipfs.relays === 1 ? "a relay" : `${ipfs.relays} relays`}`;
  } else if (ipfs.network === "lan") {
    text = "Only on the home network (add a relay to reach it from outside)";
  } else {
    text = "Not yet: looking for a relay";
  }
  if (ipfs.hole_punch) {
    const when = new Date(ipfs.hole_punch.at * 1000).toLocaleString();
    text += ipfs.hole_punch.ok
      ? `; last direct connection made ${when}`
      : `; the last direct connection failed ${when} (stayed relayed)`;
  }
  return text;
}

async function refreshPeople() {
  try {
    const answer = await call("/v1/people");
    const list = $("people-list");
    list.replaceChildren();
    answer.people.forEach((person, i) => {
      const item = document.createElement("li");
      const names = person.devices.map((d) => {
        const seen = d.last_seen
          ? `last seen ${new Date(d.last_seen * 1000).toLocaleString()}`
          : "not seen yet";
        return `${d.name} (${d.pending ? "waiting for approval, " : ""}${seen})`;
      });
      item.textContent = `Person ${i + 1}: ${names.join("; ")}`;
      list.appendChild(item);
    });
    $("people-none").hidden = answer.people.length > 0;
  } catch (e) {
    // The status section reports a box that does not answer.
  }
}

function showPairing(info) {
  const open = info.pairing_open;
  $("pairing-open").hidden = !open;
  $("pairing-closed").hidden = open;
  pairingExpires = open ? info.pairing_expires : null;
  if (open) {
    // Drawn again at each refresh: the code changes once a phone has used it.
    $("pairing-qr").src = `/v1/pairing/qr.svg?t=${Date.now()}`;
  }
  tickPairing();
}

function tickPairing() {
  if (pairingExpires === null || pairingExpires === undefined) {
    $("pairing-left").textContent = $("pairing-open").hidden
      ? "" : "The code stays valid until a phone pairs.";
    return;
  }
  const left = pairingExpires - boxNow();
  if (left <= 0) {
    pairingExpires = null; // one refresh, not one a second
    refreshStatus();
    return;
  }
  $("pairing-left").textContent = `This code is valid for ${duration(left)} more.`;
}

// ---- Saving a backup ----------------------------------------------------------------------

let extraction = null; // {session, secret, expires, timer, qrUrl}

function step(name) {
  for (const div of document.querySelectorAll("#save [data-step]")) {
    div.hidden = div.dataset.step !== name;
  }
}

function stopExtraction() {
  if (!extraction) return;
  clearTimeout(extraction.timer);
  URL.revokeObjectURL(extraction.qrUrl);
  extraction = null;
}

function problem(message) {
  stopExtraction();
  $("save-problem").textContent = message;
  step("problem");
  $("save-retry").focus();
}

async function startExtraction() {
  stopExtraction();
  $("save-start").disabled = true;
  try {
    const started = await call("/v1/extract", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    const qrUrl = URL.createObjectURL(new Blob([started.qr_svg], { type: "image/svg+xml" }));
    extraction = { ...started, qrUrl, timer: null };
    $("save-qr").src = qrUrl;
    $("save-code").textContent = started.code;
    step("approve");
    $("save-cancel").focus();
    poll();
  } catch (e) {
    problem(e.message);
  } finally {
    $("save-start").disabled = false;
  }
}

async function poll() {
  const current = extraction;
  if (!current) return;
  let status;
  try {
    status = await call(`/v1/extract/${encodeURIComponent(current.session)}`, {
      headers: { "Idbox-Extract-Secret": current.secret },
    });
  } catch (e) {
    if (current !== extraction) return;
    if (e.status === 404) {
      problem("The request expired before your phone approved it. Try again, and approve " +
        "on your phone within five minutes.");
    } else {
      problem(e.message);
    }
    return;
  }
  if (current !== extraction) return; // cancelled meanwhile
  if (status.status === "approved") {
    download(status);
  } else if (status.status === "refused") {
    problem("Your phone refused this request, so nothing was saved. If that was not you, " +
      "check which phones are paired with the box.");
  } else {
    const left = status.expires - boxNow();
    $("save-left").textContent = `Waiting for your phone… (${duration(left)} left)`;
    current.timer = setTimeout(poll, 1000);
  }
}

function download(approved) {
  stopExtraction();
  const link = document.createElement("a");
  link.href = approved.url;
  link.download = approved.filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  $("save-file").textContent = approved.filename;
  $("save-size").textContent = size(approved.size);
  step("done");
  $("save-again").focus();
}

// ---- Start --------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("save-start").addEventListener("click", startExtraction);
  $("save-retry").addEventListener("click", startExtraction);
  $("save-again").addEventListener("click", () => step("start"));
  $("save-cancel").addEventListener("click", () => {
    stopExtraction();
    step("start");
    $("save-start").focus();
  });
  refreshStatus();
  setInterval(refreshStatus, 10000);
  setInterval(tickPairing, 1000);
});
