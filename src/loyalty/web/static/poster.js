// The poster page's Print button (vendor_poster.html): shown only with script, as only script can print; without it
// the browser's own Print command does the same (style.css's print rules show the sheet alone either way).
const button = document.getElementById("print-poster");
if (button) {
  button.addEventListener("click", () => window.print());
  button.hidden = false;
}
