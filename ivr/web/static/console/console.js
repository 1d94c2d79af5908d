// The console's one script: follow the menu files, and work the phone.
//
// The server renders every piece of the page; this script only sends the
// phone's moves (with the call's plan so far) and swaps in what comes back,
// lights the node the call is at, and reloads the graph when the files change.
(() => {
  "use strict";

  const page = document.getElementById("console");
  const list = document.querySelector("main.list");
  const watched = page || list;

  // -- menus that follow their files ------------------------------------------
  async function follow() {
    let answer;
    try {
      answer = await fetch(watched.dataset.versionUrl, {
        cache: "no-store",
        headers: { "X-IVR-Console": "1" },
      });
    } catch (error) {
      return; // the server restarts: try again at the next tick
    }
    if (!answer.ok) return;
    const { version } = await answer.json();
    if (version === watched.dataset.version) return;
    if (!page) {
      location.reload();
      return;
    }
    const graph = await fetch(page.dataset.graphUrl, {
      cache: "no-store",
      headers: { "X-IVR-Console": "1" },
    });
    const pane = document.getElementById("graph-pane");
    if (graph.status === 404) {
      pane.innerHTML = '<p class="bad">This menu is no longer served.</p>';
      watched.dataset.version = version;
      return;
    }
    if (!graph.ok) return;
    pane.innerHTML = await graph.text();
    const drawn = pane.querySelector(".graph");
    watched.dataset.version = drawn ? drawn.dataset.version : version;
    light();
  }
  if (watched) setInterval(follow, 1000);
  if (!page) return;

  // The graph at full size (scroll), or fitted to the pane.
  document.getElementById("graph-pane").addEventListener("click", (event) => {
    if (!event.target.closest("[data-fit]")) return;
    document.getElementById("graph-pane").classList.toggle("fit");
    light();
  });

  // -- the phone --------------------------------------------------------------
  const dial = document.getElementById("dial");
  const controls = document.getElementById("controls");
  const transcript = document.getElementById("transcript");
  const notice = document.getElementById("notice");
  const clock = document.getElementById("clock");
  const detail = document.querySelector("#detail pre");
  let plan = null;
  let seen = null;
  let lit = { current: null, visited: [] };
  let busy = false;

  function say(text, bad) {
    notice.hidden = !text;
    notice.textContent = text || "";
    notice.classList.toggle("bad", Boolean(bad));
  }

  async function post(body) {
    if (busy) return;
    busy = true;
    page.classList.add("busy");
    page.dataset.state = "busy";
    try {
      const answer = await fetch(page.dataset.callUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-IVR-Console": "1" },
        body: JSON.stringify(body),
      });
      const data = await answer.json().catch(() => ({}));
      if (!answer.ok) {
        say(data.error || `the server answered ${answer.status}`, true);
        page.dataset.state = "error";
        return;
      }
      show(data);
      page.dataset.state = "ready";
    } catch (error) {
      say(`the server cannot be reached: ${error}`, true);
      page.dataset.state = "error";
    } finally {
      busy = false;
      page.classList.remove("busy");
    }
  }

  function move(made) {
    if (plan) post({ plan, move: made, seen });
  }

  function show(data) {
    plan = data.plan;
    seen = data.seen;
    page.dataset.turn = String(plan.moves.length + 1); // the dial is turn 1
    say(data.notice, false);
    transcript.innerHTML = data.transcript;
    controls.innerHTML = data.controls;
    detail.textContent = JSON.stringify(data.detail, null, 2);
    clock.hidden = false;
    clock.textContent = `Call clock ${data.clock}` +
      (data.elsewhere ? ` · now in ${data.elsewhere}` : "");
    lit = { current: data.current, visited: data.visited };
    light();
    const rows = transcript.querySelectorAll("li");
    if (rows.length) rows[rows.length - 1].scrollIntoView({ block: "nearest" });
    const words = controls.querySelector("input[name=words]");
    if (words && document.activeElement === document.body) words.blur();
  }

  function light() {
    const svg = document.querySelector("#graph-pane svg");
    if (!svg) return;
    svg.querySelectorAll(".lit, .visited").forEach((node) => {
      node.classList.remove("lit", "visited");
    });
    for (const id of lit.visited) {
      const node = svg.getElementById(id);
      if (node) node.classList.add("visited");
    }
    const current = lit.current && svg.getElementById(lit.current);
    if (current) {
      current.classList.add("lit");
      current.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  }

  dial.addEventListener("submit", (event) => {
    event.preventDefault();
    plan = null;
    seen = null;
    transcript.innerHTML = "";
    const form = new FormData(dial);
    post({ dial: { at: form.get("at"), caller: form.get("caller") } });
  });

  function typed() {
    return controls.querySelector("#typed");
  }

  function press(key) {
    const pad = controls.querySelector(".keypad");
    const shown = typed();
    if (!pad || !shown) return;
    const single = pad.dataset.numDigits === "1";
    const finish = pad.dataset.finish;
    shown.value = (shown.value || "") + key;
    if (single || (finish && key === finish)) sendKeys();
  }

  function sendKeys() {
    const shown = typed();
    const keys = shown ? shown.value : "";
    if (keys) move({ kind: "press", value: keys });
    else move({ kind: "silence" });
  }

  controls.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || busy) return;
    if (button.dataset.key !== undefined) press(button.dataset.key);
    else if (button.dataset.sendKeys !== undefined) sendKeys();
    else if (button.dataset.move) move({ kind: button.dataset.move });
    else if (button.dataset.agent !== undefined) {
      const phone = controls.querySelector("select[name=agent]").value;
      move({ kind: "agent", value: phone, at_s: Number(button.dataset.atS) });
    } else if (button.dataset.redial !== undefined) dial.requestSubmit();
  });

  controls.addEventListener("submit", (event) => {
    event.preventDefault();
    const words = event.target.querySelector("input[name=words]");
    if (words && words.value.trim()) move({ kind: "say", value: words.value });
  });

  // Keys typed on the keyboard press the keypad (outside the text boxes).
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target.closest && target.closest("input, select, textarea")) return;
    if (/^[0-9*#]$/.test(event.key)) press(event.key);
    else if (event.key === "Enter" && typed()) sendKeys();
  });
})();
