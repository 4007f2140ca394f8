// Injected by the browser tests before the page's own scripts (an init script: not part of the page, not subject to
// its CSP). Records when Enter is pressed in the question box and when the answer's first text is painted next, and
// whether text was on screen while its answer was still streaming. Reads the page; changes nothing in it.
window.__test = { pressed: null, latencies: [], streamedText: false };
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && event.target && event.target.id === "question") {
    window.__test.pressed = performance.now();
  }
}, true);
document.addEventListener("DOMContentLoaded", () => {
  const turns = document.getElementById("turns");
  new MutationObserver(() => {
    const reply = turns.lastElementChild && turns.lastElementChild.querySelector(".reply");
    const text = reply && reply.querySelector(".answer-text");
    if (!text || !text.textContent) return;
    if (reply.getAttribute("aria-busy") === "true") window.__test.streamedText = true;
    const pressed = window.__test.pressed;
    if (pressed !== null) {
      window.__test.pressed = null;
      requestAnimationFrame(() => window.__test.latencies.push(performance.now() - pressed));
    }
  }).observe(turns, { childList: true, subtree: true, characterData: true, attributes: true });
});
