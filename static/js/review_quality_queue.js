// The review queue, live: when an annotator submits anywhere in the project, fetch the queue again (the API
// judges new submissions first) and redraw the rows. Text goes in through textContent only.
const root = document.getElementById("review-queue");

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
  return td;
}

function link(href, text, className) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  if (className) a.className = className;
  return a;
}

function draw(data) {
  const body = root.querySelector("tbody");
  const rows = [];
  const base = root.dataset.adjudicate.replace(/0\/$/, "");
  for (const item of data.items) {
    const tr = document.createElement("tr");
    tr.dataset.chain = item.chain;
    const url = `${base}${item.chain}/`;
    cell(tr, "").append(link(url, item.source_id));
    const why = cell(tr, "");
    for (const text of item.reason_text) {
      const span = document.createElement("span");
      span.className = "reason";
      span.textContent = text;
      why.append(span);
    }
    cell(tr, String(item.contested));
    cell(tr, item.alpha === null ? "—" : item.alpha.toFixed(2));
    cell(tr, String(item.n_annotators));
    cell(tr, String(item.step_count));
    cell(tr, "").append(link(url, item.status === "open" ? "Adjudicate" : "Open", "button"));
    rows.push(tr);
  }
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = cell(tr, "Nothing here. Chains arrive as annotators submit.");
    td.colSpan = 7;
    td.className = "muted";
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  for (const [status, n] of Object.entries(data.counts)) {
    const badge = document.querySelector(`.count[data-status="${status}"]`);
    if (badge) badge.textContent = String(n);
  }
  document.getElementById("queue-live").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

async function refresh() {
  const response = await fetch(root.dataset.api, { headers: { Accept: "application/json" } });
  if (response.ok) draw(await response.json());
}

function connect(delay = 1000) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${root.dataset.ws}`);
  socket.addEventListener("open", () => { root.dataset.live = "yes"; });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    // resync: the first message of every (re)connection; what happened while the page had no socket
    // was not sent to it, so read the queue again.
    if (["resync", "assignment.submitted", "review.changed"].includes(message.event)) refresh();
  });
  socket.addEventListener("close", () => {
    root.dataset.live = "no";
    setTimeout(() => connect(Math.min(delay * 2, 30000)), delay);
  });
}

if (root && "WebSocket" in window) connect();
