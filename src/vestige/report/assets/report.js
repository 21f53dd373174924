"use strict";
/* vestige report.html: finding filters and the paged timeline. No library, no network: every text
   from the evidence is set as textContent, after its invisible characters are made escapes. */
(function () {
  const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u115f\u1160\u17b4\u17b5\u3164\uffa0\u034f]/gu;

  function visible(text) {
    return String(text).replace(INVISIBLE, function (c) {
      const code = c.codePointAt(0);
      const hex = code.toString(16);
      if (code < 0x100) return "\\x" + hex.padStart(2, "0");
      if (code < 0x10000) return "\\u" + hex.padStart(4, "0");
      return "\\U" + hex.padStart(8, "0");
    });
  }

  function byId(id) { return document.getElementById(id); }

  /* -- findings: filters by rule, artifact and text ------------------------------------------- */
  function setUpFilters() {
    const rule = byId("filter-rule");
    const artifact = byId("filter-artifact");
    const text = byId("filter-text");
    const count = byId("finding-count");
    if (!rule || !artifact || !text || !count) return;
    const findings = Array.from(document.querySelectorAll("article.finding"));
    const words = new Map(findings.map(function (f) { return [f, f.textContent.toLowerCase()]; }));
    function apply() {
      const wanted = text.value.trim().toLowerCase();
      let shown = 0;
      for (const finding of findings) {
        const keep = (!rule.value || finding.dataset.rule === rule.value) &&
          (!artifact.value || finding.dataset.artifact === artifact.value) &&
          (!wanted || words.get(finding).includes(wanted));
        finding.hidden = !keep;
        if (keep) shown += 1;
      }
      for (const group of document.querySelectorAll(".severity-group, #stories")) {
        group.hidden = !group.querySelector("article.finding:not([hidden])");
      }
      count.textContent = "Showing " + shown + " of " + findings.length + " findings";
    }
    rule.addEventListener("change", apply);
    artifact.addEventListener("change", apply);
    text.addEventListener("input", apply);
    byId("filters").addEventListener("submit", function (event) { event.preventDefault(); });
    apply();
  }

  /* -- timeline: compressed chunks decoded on demand, one page of rows in the DOM -------------- */
  const chunks = new Map();
  const PLACES = ["acquisition", "table", "row", "line", "offset", "key", "packet"];
  /* an event's own attributes; its other keys are the fields of its record */
  const ATTRIBUTES = new Set(["message", "datetime", "timestamp", "timestamp_desc", "data_type", "evidence", "tag"]);

  function text(value) { return value === undefined || value === null ? "" : String(value); }

  /* where an event's evidence is: its path and its place, as the findings' tables write it */
  function where(evidence) {
    if (!evidence || typeof evidence !== "object") return "";
    const place = PLACES.filter(function (name) { return evidence[name] !== undefined && evidence[name] !== null; })
      .map(function (name) { return name + " " + evidence[name]; }).join(", ");
    return String(evidence.path || "") + (place ? " (" + place + ")" : "");
  }

  /* the chunk holding event number n: the last whose first event is at or before it */
  function chunkOf(starts, n) {
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (starts[middle] <= n) low = middle; else high = middle - 1;
    }
    return low;
  }

  function chunk(number) {
    if (!chunks.has(number)) {
      const block = byId("tl-" + number);
      const binary = atob(block.textContent);
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      chunks.set(number, new Response(stream).text().then(JSON.parse));
      if (chunks.size > 8) chunks.delete(chunks.keys().next().value);
    }
    return chunks.get(number);
  }

  function setUpTimeline() {
    const metaBlock = byId("timeline-meta");
    const table = byId("timeline-table");
    if (!metaBlock || !table) return;
    const meta = JSON.parse(metaBlock.textContent);
    const body = table.tBodies[0];
    const status = byId("timeline-status");
    const number = byId("page-number");
    const pageCount = byId("page-count");
    const search = byId("timeline-search");
    let matches = null; /* the event numbers a search found, or null: every event */
    let page = 0;
    let drawn = 0;

    function total() { return matches === null ? meta.events : matches.length; }
    function pages() { return Math.max(1, Math.ceil(total() / meta.page)); }

    async function rowsOf(first, count) {
      const out = [];
      for (let i = first; i < Math.min(first + count, total()); i += 1) {
        const event = matches === null ? i : matches[i];
        const number = chunkOf(meta.starts, event);
        const rows = await chunk(number);
        out.push(rows[event - meta.starts[number]]);
      }
      return out;
    }

    function cell(row, text, className) {
      const td = document.createElement("td");
      td.textContent = visible(text);
      if (className) td.className = className;
      row.appendChild(td);
      return td;
    }

    async function show(wanted) {
      page = Math.min(Math.max(0, wanted), pages() - 1);
      const ticket = ++drawn;
      const rows = await rowsOf(page * meta.page, meta.page);
      if (ticket !== drawn) return; /* a later request won */
      const fragment = document.createDocumentFragment();
      for (const event of rows) {
        const tr = document.createElement("tr");
        cell(tr, text(event.datetime));
        cell(tr, text(event.data_type));
        cell(tr, text(event.timestamp_desc));
        const message = cell(tr, text(event.message));
        const fields = Object.keys(event).filter(function (name) { return !ATTRIBUTES.has(name); });
        if (fields.length) {
          const details = document.createElement("span");
          details.className = "details";
          details.textContent = visible(fields.map(function (name) {
            const value = event[name];
            return name + ": " + (typeof value === "string" ? value : JSON.stringify(value));
          }).join(" · "));
          message.appendChild(details);
        }
        if (event.data_type === "vestige.finding" && event.finding_id) {
          tr.className = "is-finding";
          const link = document.createElement("a");
          link.href = "#f-" + encodeURIComponent(String(event.finding_id));
          link.textContent = " (finding " + visible(String(event.finding_id)) + ")";
          message.insertBefore(link, message.firstChild ? message.firstChild.nextSibling : null);
        }
        cell(tr, where(event.evidence));
        fragment.appendChild(tr);
      }
      body.replaceChildren(fragment);
      number.value = String(page + 1);
      number.max = String(pages());
      pageCount.textContent = pages().toLocaleString("en");
      const first = total() ? page * meta.page + 1 : 0;
      status.textContent = "Events " + first.toLocaleString("en") + "–" +
        (page * meta.page + rows.length).toLocaleString("en") + " of " + total().toLocaleString("en") +
        (matches === null ? "" : " matching (of " + meta.events.toLocaleString("en") + ")");
      table.dataset.page = String(page + 1);
    }

    async function find(text) {
      const wanted = text.trim().toLowerCase();
      if (!wanted) { matches = null; return show(0); }
      const found = [];
      for (let c = 0; c < meta.starts.length; c += 1) {
        const rows = await chunk(c);
        if (search.value.trim().toLowerCase() !== wanted) return; /* typed on */
        rows.forEach(function (event, i) {
          if (JSON.stringify(event).toLowerCase().includes(wanted)) found.push(meta.starts[c] + i);
        });
        status.textContent = "Searching… " + found.length.toLocaleString("en") + " found";
      }
      matches = found;
      return show(0);
    }

    byId("page-first").addEventListener("click", function () { show(0); });
    byId("page-prev").addEventListener("click", function () { show(page - 1); });
    byId("page-next").addEventListener("click", function () { show(page + 1); });
    byId("page-last").addEventListener("click", function () { show(pages() - 1); });
    number.addEventListener("change", function () { show(Number(number.value) - 1); });
    let pending = 0;
    search.addEventListener("input", function () {
      clearTimeout(pending);
      pending = setTimeout(function () { find(search.value); }, 250);
    });
    for (const bar of document.querySelectorAll("#timeline-chart .bar")) {
      bar.addEventListener("click", function () {
        search.value = "";
        matches = null;
        show(Math.floor(Number(bar.dataset.first) / meta.page));
        table.scrollIntoView();
      });
    }
    if (meta.events) show(0);
  }

  function start() {
    setUpFilters();
    setUpTimeline();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
