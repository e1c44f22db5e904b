// symback's interactive backprop page: steps through the forward and then the backward pass.
// The data (every step in every notation, what each step lights in each view) is the JSON in #sb-data.
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("sb-data").textContent);
  const $ = (id) => document.getElementById(id);
  const state = { i: 0, notation: data.notation, view: data.views[0].key };
  const MARKS = ["sb-current", "sb-lit", "sb-upstream", "sb-pending"];

  const steps = () => data.by[state.notation].steps;
  const view = () => data.views.find((v) => v.key === state.view);
  const unbranch = (name) => name.replace(/\(branch\)$/, "");

  function buttons(group, items, choose) {
    $(group).replaceChildren(...items.map(([key, label, title]) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.key = key;
      b.textContent = label;
      if (title) b.title = title;
      b.addEventListener("click", () => choose(key));
      return b;
    }));
  }

  // Dim what is not computed yet; show a wire's value from its forward step, its gradient from its backward step.
  function paint(fig, v, all) {
    const at = state.i, owner = (name) => (v.owner && v.owner[name]) || name;
    const fwd = {}, bwd = {};
    all.forEach((s, k) => { (s.pass === "forward" ? fwd : bwd)[s.node] = k; });
    const firstBack = all.findIndex((s) => s.pass === "backward");
    fig.querySelectorAll("g.node, g.edge").forEach((g) => g.classList.remove(...MARKS));
    fig.querySelectorAll("g.node").forEach((g) => {
      const o = owner(unbranch(g.dataset.name));
      g.classList.toggle("sb-pending", o in fwd && fwd[o] > at);
    });
    fig.querySelectorAll("g.edge").forEach((g) => {
      if (!g.dataset.src) return;
      const o = owner(unbranch(g.dataset.src));
      const valueAt = o in fwd ? fwd[o] : 0, gradAt = o in bwd ? bwd[o] : firstBack;
      const quiet = (color, hidden) => g.querySelectorAll(`text[fill="${color}"]`).forEach((t) => {
        t.classList.toggle("sb-quiet", hidden);
      });
      quiet(data.colors.value, at < valueAt);
      quiet(data.colors.grad, at < gradAt);
    });
    const s = all[at], lit = v[s.pass][s.node] || { nodes: [], edges: [] };
    const prefix = `${state.view}-${state.notation}`;
    const mark = (id, cls) => {
      const e = document.getElementById(id);
      if (e) e.classList.replace("sb-pending", cls) || e.classList.add(cls);  // what a step lights is never dimmed
    };
    lit.nodes.forEach((n) => mark(`${prefix}-node-${n}`, "sb-current"));
    lit.edges.forEach((e) => mark(`${prefix}-edge-${e}`, "sb-lit"));
    (lit.upstream || []).forEach((n) => mark(`${prefix}-node-${n}`, "sb-upstream"));
    const first = lit.nodes.length && document.getElementById(`${prefix}-node-${lit.nodes[0]}`);
    if (first) show(first);
  }

  // Scroll the picture (not the page) so that the step's first node is in sight.
  function show(el) {
    const box = $("sb-picture"), r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
    if (r.top < b.top || r.bottom > b.bottom) box.scrollTop += r.top - b.top - (b.height - r.height) / 2;
    if (r.left < b.left || r.right > b.right) box.scrollLeft += r.left - b.left - (b.width - r.width) / 2;
  }

  function outline(all) {
    const items = [];
    let group = null;
    all.forEach((s, k) => {
      const head = s.pass === "forward" ? "forward pass" : `backward pass, part ${s.part}`;
      if (head !== group) items.push(`<li class="sb-group-head">${(group = head)}</li>`);
      const uses = s.uses.length
        ? `<span class="sb-uses" title="uses a gradient already computed">↩ ${s.uses.join(", ")}</span>` : "";
      const reused = s.reused_by.length ? `<span class="sb-reused" title="reused by ${s.reused_by.join(", ")}">`
        + `reused ×${s.reused_by.length}</span>` : "";
      const attrs = `data-k="${k}" data-step="${s.id}" data-node="${s.node}" data-pass="${s.pass}" `
        + `data-part="${s.part}"`;
      items.push(`<li class="sb-item${k === state.i ? " sb-active" : ""}" ${attrs}>`
        + `<span class="sb-id">${s.id}</span>${s.symbol}${uses}${reused}</li>`);
    });
    const ol = $("sb-outline");
    ol.innerHTML = items.join("");
    const active = ol.querySelector(".sb-active");
    if (active && ol.parentElement.scrollHeight > ol.parentElement.clientHeight) {
      const box = ol.parentElement, top = active.offsetTop - box.offsetTop;
      const outside = top < box.scrollTop || top > box.scrollTop + box.clientHeight - 40;
      if (outside) box.scrollTop = top - box.clientHeight / 3;
    }
  }

  function render() {
    const all = steps(), text = data.by[state.notation].text;
    state.i = Math.max(0, Math.min(state.i, all.length - 1));
    const s = all[state.i], v = view();
    $("sb-title").innerHTML = text.title;
    $("sb-at").innerHTML = text.at;
    document.querySelectorAll(".sb-figure").forEach((f) => { f.hidden = true; });
    const fig = $(`sb-figure-${state.view}-${state.notation}`);
    $("sb-refused").hidden = !v.refused;
    $("sb-refused").textContent = v.refused ? `The ${v.label} is not shown: ${v.refused}` : "";
    if (fig && !v.refused) { fig.hidden = false; paint(fig, v, all); }
    $("sb-pass").innerHTML = s.pass === "forward" ? text.forward : text.backward;
    $("sb-gloss").innerHTML = s.pass === "forward" ? "" : text.gloss;
    $("sb-part").textContent = s.head ? `${s.head}.` : "";
    $("sb-step-title").innerHTML = `<span class="sb-id">${s.id}</span>${s.symbol}`;
    $("sb-rows").innerHTML = s.rows.map(([kind, depth, h]) =>
      `<div class="sb-row sb-${kind}" style="margin-left: ${depth * 1.5}em">${h}</div>`).join("");
    $("sb-counter").textContent = `step ${state.i + 1} of ${all.length} · ${s.pass} pass`;
    $("sb-prev").disabled = state.i === 0;
    $("sb-next").disabled = state.i === all.length - 1;
    outline(all);
    document.querySelectorAll("#sb-notations button, #sb-views button").forEach((b) => {
      b.setAttribute("aria-pressed", String(b.dataset.key === state.notation || b.dataset.key === state.view));
    });
  }

  if (data.notations.length) {
    const notations = data.notations.map((n) => [n, n, data.titles[n]]);
    buttons("sb-notations", notations, (n) => { state.notation = n; render(); });
  } else {
    $("sb-notations").innerHTML = '<span class="sb-note">an expression keeps its own names</span>';
  }
  if (data.views.length > 1) {
    buttons("sb-views", data.views.map((w) => [w.key, w.label]), (k) => { state.view = k; render(); });
  }
  const go = (i) => { state.i = i; render(); };
  $("sb-prev").addEventListener("click", () => go(state.i - 1));
  $("sb-next").addEventListener("click", () => go(state.i + 1));
  $("sb-zoom").addEventListener("click", (e) => {
    const actual = $("sb-picture").classList.toggle("sb-actual");
    e.currentTarget.textContent = actual ? "fit to page" : "actual size";
  });
  $("sb-outline").addEventListener("click", (e) => {
    const item = e.target.closest("li.sb-item");
    if (item) go(Number(item.dataset.k));
  });
  document.addEventListener("keydown", (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const moves = { ArrowRight: state.i + 1, ArrowLeft: state.i - 1, Home: 0, End: steps().length - 1 };
    if (e.key in moves) { e.preventDefault(); go(moves[e.key]); }
  });
  render();
})();
