// The counter terminal's enhancements (PAGES.md, "Staff terminal"). The page works without this module:
// its forms post and the server draws the answer. With it: the camera finds the card, the card number is
// checked as it is typed, the PIN has an on-screen pad, forms post in place with an Idempotency-Key made
// when the button is pressed and reused on retry, and the customer clears from the screen 30 s after the
// last action (staff can keep it open: WCAG 2.2.1).

import { cameraAvailable, scanOnce } from "./scan.js";

const CLEAR_AFTER_SECONDS = 30;
const RETRY_DELAYS_MS = [500, 1500];
// The page's language as the server writes dates in it (web/rendering.py, BABEL_LOCALES).
const LOCALES = { en: "en-GB", fr: "fr-LU", de: "de-LU", lb: "lb-LU" }; // after a network error; a server's answer is never retried
const root = document.getElementById("terminal");

/** @param {string} name @param {Record<string, string|number>} [values] */
function message(name, values = {}) {
  let text = root?.dataset[name] ?? "";
  for (const [key, value] of Object.entries(values)) text = text.replace(`{${key}}`, String(value));
  return text;
}

/** Luhn (ISO/IEC 7812-1), as the server checks it (services/card_numbers.py). @param {string} digits */
function luhnValid(digits) {
  let total = 0;
  for (let i = 0; i < digits.length; i += 1) {
    let value = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) value = value * 2 > 9 ? value * 2 - 9 : value * 2;
    total += value;
  }
  return total % 10 === 0;
}

function enhanceCardNumber() {
  const input = /** @type {HTMLInputElement|null} */ (document.getElementById("card_number"));
  const hint = document.getElementById("card-number-check");
  if (!input || !hint || !root || input.dataset.enhanced) return;
  input.dataset.enhanced = "yes";
  const total = Number(root.dataset.cardDigits);
  input.addEventListener("input", () => {
    const digits = input.value.replace(/\D/g, "").slice(0, total);
    const atEnd = input.selectionStart === input.value.length;
    const grouped = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
    if (atEnd && grouped !== input.value) input.value = grouped; // grouped as printed on the card
    input.removeAttribute("aria-invalid");
    if (digits.length < total) hint.textContent = message("msgDigits");
    else if (luhnValid(digits)) hint.textContent = message("msgCheckOk");
    else {
      hint.textContent = message("msgCheckBad");
      input.setAttribute("aria-invalid", "true");
    }
  });
}

function enhancePinPad() {
  const pad = document.getElementById("pinpad");
  const pin = /** @type {HTMLInputElement|null} */ (document.getElementById("staff_pin"));
  if (!pad || !pin || pad.dataset.enhanced) return;
  pad.dataset.enhanced = "yes";
  pad.hidden = false;
  pad.addEventListener("click", (event) => {
    const button = /** @type {HTMLElement} */ (event.target).closest("button[data-digit]");
    if (!(button instanceof HTMLButtonElement)) return;
    const digit = button.dataset.digit ?? "";
    if (digit === "back") pin.value = pin.value.slice(0, -1);
    else if (digit === "clear") pin.value = "";
    else if (pin.value.length < pin.maxLength) pin.value += digit;
  });
  // The last staff member chosen on this device is chosen again: one less step per customer.
  const staff = /** @type {HTMLSelectElement|null} */ (document.getElementById("staff_pin_id"));
  if (staff) {
    const remembered = localStorage.getItem("loyalty.staff_pin_id");
    const known = [...staff.options].some((option) => option.value === remembered);
    if (remembered && known && staff.value === "") staff.value = remembered; // the server's choice stays
    staff.addEventListener("change", () => localStorage.setItem("loyalty.staff_pin_id", staff.value));
  }
}

/** Shows a banner in its live region (polite for success, assertive for a refusal). */
function announce(ok, text) {
  const good = document.getElementById("result-ok");
  const bad = document.getElementById("result-error");
  if (!good || !bad) return;
  (ok ? bad : good).textContent = "";
  (ok ? good : bad).textContent = text ? `${ok ? "✓" : "✗"} ${text}` : "";
}

// An action whose answer never arrived keeps its key: pressing again repeats it, never doubles it.
/** @type {{body: string, key: string} | null} */
let pending = null;
let inFlight = 0; // requests on their way: the auto-clear waits for their answers

/** Posts `form` in place and swaps the page's content for the answer's. @param {HTMLFormElement} form */
async function postInPlace(form, submitter) {
  const data = new URLSearchParams(/** @type {any} */ (new FormData(form, submitter)));
  const headers = { "X-CSRF-Token": root?.dataset.csrf ?? "", Accept: "text/html" };
  if (form.id === "act") {
    data.delete("idempotency_key");
    const body = data.toString();
    const key = pending && pending.body === body ? pending.key : crypto.randomUUID();
    pending = { body, key };
    headers["Idempotency-Key"] = key;
    data.set("idempotency_key", key);
  }
  const buttons = form.querySelectorAll("button");
  buttons.forEach((button) => { button.disabled = true; });
  inFlight += 1;
  try {
    const answer = await fetchWithRetry(form.getAttribute("action") ?? "", { method: "POST", body: data, headers, credentials: "same-origin" });
    if (form.id === "act") pending = null;
    if (answer.redirected && answer.url.includes("/terminal/pair")) {
      window.location.assign(answer.url);
      return;
    }
    const html = (answer.headers.get("content-type") ?? "").startsWith("text/html") ? await answer.text() : "";
    swapIn(html);
  } catch (error) {
    announce(false, message("msgOffline"));
  } finally {
    inFlight -= 1;
    buttons.forEach((button) => { button.disabled = false; });
  }
}

/** fetch, again after a network error (same request, same key); an HTTP answer of any status is final. */
async function fetchWithRetry(url, init) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await fetch(url, init);
    } catch (error) {
      if (attempt >= RETRY_DELAYS_MS.length) throw error;
      await new Promise((resolve) => { setTimeout(resolve, RETRY_DELAYS_MS[attempt]); });
    }
  }
}

/** Replaces the screen with the answer's, keeping the live regions so the banner is announced. */
function swapIn(html) {
  const next = new DOMParser().parseFromString(html, "text/html");
  const fresh = next.getElementById("terminal");
  if (!fresh || !root) {
    // Not the counter's page (a refused form, a server in trouble): say so and keep the screen as it is.
    const said = next.querySelector("main .error")?.textContent?.trim();
    announce(false, said || message("msgNotRecorded"));
    return;
  }
  const ok = next.getElementById("result-ok")?.textContent?.trim() ?? "";
  const bad = next.getElementById("result-error")?.textContent?.trim() ?? "";
  // The finding forms stay (the camera's state with them); the customer's panel is the answer's.
  const current = document.getElementById("customer");
  const replacement = next.getElementById("customer");
  if (current && replacement) current.replaceWith(replacement);
  else if (current) current.remove();
  else if (replacement) document.getElementById("find")?.after(replacement);
  if (replacement) resetFinding();
  root.dataset.csrf = fresh.dataset.csrf ?? root.dataset.csrf ?? "";
  if (bad) announce(false, bad.replace(/^✗\s*/, ""));
  else if (ok) announce(true, ok.replace(/^✓\s*/, ""));
  else announce(true, "");
  enhance();
  const heading = document.getElementById("customer-heading");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    // After a refusal the PIN is what staff type next; after a success, the customer is what they read.
    const pin = document.getElementById("staff_pin");
    if (bad && pin) pin.focus();
    else heading.focus();
    startAutoClear();
  }
}

let clearTimer = 0;
let clearAt = 0;

/** @param {boolean} [extendOnly] only move the end later (staff typing), never earlier */
function startAutoClear(extendOnly = false) {
  const note = document.getElementById("auto-clear");
  const text = document.getElementById("auto-clear-text");
  if (!note || !text) return;
  const end = Date.now() + CLEAR_AFTER_SECONDS * 1000;
  clearAt = extendOnly ? Math.max(clearAt, end) : end;
  const show = () => {
    text.textContent = message("msgClears", {
      time: new Date(clearAt).toLocaleTimeString(LOCALES[document.documentElement.lang] ?? undefined, { timeStyle: "medium" }),
    });
  };
  show();
  note.hidden = false;
  window.clearTimeout(clearTimer);
  clearTimer = window.setTimeout(clearCustomer, clearAt - Date.now());
  const panel = document.getElementById("customer");
  if (panel && !panel.dataset.enhanced) {
    panel.dataset.enhanced = "yes";
    panel.addEventListener("input", () => startAutoClear(true)); // staff typing: not the last action yet
  }
  const keep = document.getElementById("keep-open");
  if (!keep || keep.dataset.enhanced) return;
  keep.dataset.enhanced = "yes";
  keep.addEventListener("click", () => {
    clearAt = Date.now() + CLEAR_AFTER_SECONDS * 1000 * 4;
    window.clearTimeout(clearTimer);
    clearTimer = window.setTimeout(clearCustomer, clearAt - Date.now());
    show();
  });
}

/** The finding fields empty again, with their hint as drawn. */
function resetFinding() {
  for (const id of ["card_number", "email"]) {
    const input = /** @type {HTMLInputElement|null} */ (document.getElementById(id));
    if (input) {
      input.value = "";
      input.removeAttribute("aria-invalid");
    }
  }
  const hint = document.getElementById("card-number-check");
  if (hint) hint.textContent = message("msgDigits");
}

/** The next customer never sees the previous one: the panel and the banners go. */
function clearCustomer() {
  window.clearTimeout(clearTimer);
  if (inFlight > 0) {
    clearTimer = window.setTimeout(clearCustomer, 1000); // its answer would bring the panel back
    return;
  }
  document.getElementById("customer")?.remove();
  announce(true, "");
  pending = null;
  resetFinding();
  document.getElementById("card_number")?.focus();
}

function enhanceForms() {
  for (const id of ["find-number", "find-email", "find-qr", "act"]) {
    const form = /** @type {HTMLFormElement|null} */ (document.getElementById(id));
    if (!form || form.dataset.enhanced) continue;
    form.dataset.enhanced = "yes";
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (form.querySelector("button:disabled")) return; // the first tap is on its way
      postInPlace(form, /** @type {SubmitEvent} */ (event).submitter);
    });
  }
  const next = document.getElementById("next-customer");
  if (next && !next.dataset.enhanced) {
    next.dataset.enhanced = "yes";
    next.addEventListener("click", (event) => {
      event.preventDefault();
      clearCustomer();
    });
  }
}

function enhanceCamera() {
  const box = document.getElementById("scan");
  const start = document.getElementById("scan-button");
  const stop = document.getElementById("scan-stop");
  const status = document.getElementById("scan-status");
  const video = /** @type {HTMLVideoElement|null} */ (document.getElementById("scan-video"));
  const form = /** @type {HTMLFormElement|null} */ (document.getElementById("find-qr"));
  const field = /** @type {HTMLInputElement|null} */ (document.getElementById("qr_code"));
  if (!box || !start || !stop || !status || !video || !form || !field) return;
  box.hidden = false;
  /** @type {AbortController|null} */
  let running = null;
  start.addEventListener("click", async () => {
    const available = cameraAvailable();
    if (!available.ok) {
      status.textContent = message(available.reason === "insecure" ? "msgInsecure" : "msgUnsupported");
      return;
    }
    running?.abort();
    running = new AbortController();
    video.hidden = false;
    stop.hidden = false;
    status.textContent = message("msgScanning");
    try {
      const code = await scanOnce(video, { signal: running.signal }); // the camera opens on this tap only
      status.textContent = "";
      field.value = code;
      postInPlace(form, null);
    } catch (error) {
      const name = /** @type {Error} */ (error).name;
      if (name === "NotAllowedError") status.textContent = message("msgDenied");
      else if (name !== "AbortError") status.textContent = message("msgCameraFailed");
      else status.textContent = "";
    } finally {
      video.hidden = true;
      stop.hidden = true;
      running = null;
    }
  });
  stop.addEventListener("click", () => running?.abort());
}

function enhance() {
  enhanceCardNumber();
  enhancePinPad();
  enhanceForms();
}

/** The counter's screen stays on while the page is shown (Screen Wake Lock), where the browser allows it. */
async function keepScreenOn() {
  if (!("wakeLock" in navigator) || document.visibilityState !== "visible") return;
  try {
    await navigator.wakeLock.request("screen");
  } catch {
    // refused (battery saver, no permission): the screen dims as usual
  }
}

if (root) {
  enhance();
  enhanceCamera();
  keepScreenOn();
  document.addEventListener("visibilitychange", keepScreenOn); // a lock ends when the page is hidden
  if (document.getElementById("customer")) startAutoClear();
}
