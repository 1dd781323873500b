// The programme page's colour (web/program.py): the colour picker and the text field show the same colour, and
// as either changes, the pass preview and the contrast sentence follow at once. The contrast is WCAG 2.x's,
// computed as the server does (wallet/colors.py): relative luminance of the sRGB channels, ratio
// (lighter + 0.05) / (darker + 0.05), and the pass writes its text in black or white, whichever contrasts more
// (black on a tie). The sentences come translated from the page (#contrast's data-*), with {ratio}, {black} and
// {white} to fill in.
//
// The logo's file field refuses a file over the size limit before it is sent (the server says so too).
//
// Without script the page still works: the server draws the contrast of the saved colour, and takes whichever of
// the two colour fields was changed.

const BLACK = [0, 0, 0];
const WHITE = [255, 255, 255];
const HEX = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i;

/** `#rrggbb` (or `#rgb`, with or without `#`) → [r, g, b] in 0–255; null for anything else. */
function parseHex(text) {
  const match = HEX.exec(text.trim());
  if (!match) return null;
  let digits = match[1];
  if (digits.length === 3) digits = Array.from(digits, (digit) => digit + digit).join("");
  return [0, 2, 4].map((start) => parseInt(digits.slice(start, start + 2), 16));
}

/** WCAG 2.x relative luminance, 0 (black) to 1 (white). */
function luminance(rgb) {
  const [red, green, blue] = rgb.map((channel) => {
    const value = channel / 255;
    return value <= 0.04045 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * red + 0.7152 * green + 0.0722 * blue;
}

/** WCAG contrast ratio, 1 to 21. */
function contrast(first, second) {
  const [lighter, darker] = [luminance(first), luminance(second)].sort((a, b) => b - a);
  return (lighter + 0.05) / (darker + 0.05);
}

function hex(rgb) {
  return "#" + rgb.map((channel) => channel.toString(16).padStart(2, "0")).join("");
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? values[name] : whole));
}

function setUpColour() {
  const picker = document.getElementById("card-color-picker");
  const text = document.getElementById("card-color");
  const output = document.getElementById("contrast");
  const preview = document.getElementById("pass-preview");
  if (!picker || !text || !output || !preview) return;
  const verdict = output.querySelector('[data-part="verdict"]');
  const both = output.querySelector('[data-part="both"]');
  const format = new Intl.NumberFormat(document.documentElement.lang || undefined, {
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  });
  const fallback = output.dataset.default; // an emptied field: the passes' default colour

  function show(rgb) {
    const black = contrast(BLACK, rgb);
    const white = contrast(WHITE, rgb);
    const textColour = black >= white ? BLACK : WHITE;
    preview.querySelector('[data-part="background"]').setAttribute("fill", hex(rgb));
    for (const part of preview.querySelectorAll('[data-part="text"]')) part.setAttribute("fill", hex(textColour));
    const template = textColour === BLACK ? output.dataset.black : output.dataset.white;
    verdict.textContent = fill(template, { ratio: format.format(Math.max(black, white)) });
    both.textContent = fill(output.dataset.both, { black: format.format(black), white: format.format(white) });
  }

  picker.addEventListener("input", () => {
    text.value = picker.value;
    text.removeAttribute("aria-invalid");
    show(parseHex(picker.value));
  });
  text.addEventListener("input", () => {
    const typed = text.value.trim();
    const rgb = typed === "" ? parseHex(fallback) : parseHex(typed);
    if (rgb === null) {
      verdict.textContent = output.dataset.invalid;
      both.textContent = "";
      return;
    }
    if (typed !== "") picker.value = hex(rgb);
    show(rgb);
  });
}

function setUpLogo() {
  const file = document.getElementById("logo-file");
  if (!file) return;
  const most = Number(file.dataset.mostBytes);
  file.addEventListener("change", () => {
    const chosen = file.files && file.files[0];
    file.setCustomValidity(chosen && chosen.size > most ? file.dataset.tooLarge : "");
    file.reportValidity();
  });
}

setUpColour();
setUpLogo();
