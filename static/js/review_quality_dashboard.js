// The quality dashboard, live: when an annotator submits in the project, or while the figures shown are
// stale (being recomputed in the background), fetch the page again and swap in its content. The HTML is
// this server's own page, rendered from escaped templates; nothing from the socket message is shown.
const root = document.getElementById("quality-dashboard");
const RETRY_MS = 3000;
const MAX_TRIES = 40;
let timer = null;
let tries = 0;

async function refresh() {
  timer = null;
  const response = await fetch(location.href, { headers: { Accept: "text/html" } });
  if (!response.ok) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.getElementById("quality-dashboard");
  if (!fresh) return;
  const current = document.getElementById("quality-dashboard");
  fresh.dataset.live = current.dataset.live || "";
  current.replaceWith(document.adoptNode(fresh));
  if (fresh.dataset.stale === "yes" && ++tries < MAX_TRIES) schedule(RETRY_MS);
}

function schedule(ms) {
  if (timer === null) timer = setTimeout(refresh, ms);
}

function connect(delay = 1000) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${root.dataset.ws}`);
  socket.addEventListener("open", () => { document.getElementById("quality-dashboard").dataset.live = "yes"; });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.event === "assignment.submitted") {
      tries = 0;
      schedule(500); // a burst of submissions: one fetch
    }
  });
  socket.addEventListener("close", () => setTimeout(() => connect(Math.min(delay * 2, 30000)), delay));
}

if (root) {
  if (root.dataset.stale === "yes") schedule(RETRY_MS);
  if ("WebSocket" in window) connect();
}
