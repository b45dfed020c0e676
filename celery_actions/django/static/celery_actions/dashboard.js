// The Queues dashboard's live updates: the server pushes the page's regions that changed
// (server-sent events, rendered and escaped by the server); no build step, no framework.
const source = document.body.dataset.live;
const state = document.getElementById("live-state");

function show(text, ok) {
  if (!state) return;
  state.textContent = text;
  state.classList.toggle("off", !ok);
}

if (source) {
  const events = new EventSource(source);
  events.addEventListener("open", () => show("live", true));
  events.addEventListener("error", () => show("reconnecting", false));
  events.addEventListener("regions", (event) => {
    const regions = JSON.parse(event.data);
    for (const [id, html] of Object.entries(regions)) {
      const element = document.getElementById(id);
      // a region someone is typing in is left alone until they leave it
      if (!element || element.contains(document.activeElement) && document.activeElement.tagName === "INPUT") continue;
      element.innerHTML = html;
      element.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
    }
    document.body.dataset.updated = String(Date.now());
  });
} else {
  show("static", true);
}
