// The Headwater dashboard: reads /api/pipelines and /api/pipelines/{id}, renders with plain DOM code
// and Plotly (served from the installed plotly package). No framework, no build step.
"use strict";

(function () {
  const COLORS = { completed: "#1a7f37", failed: "#cf222e", other: "#8c959f" };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, String(value));
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  const number = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
  const seconds = (s) => (s === null || s === undefined ? "–" : Number(s).toFixed(s < 10 ? 2 : 1) + " s");
  const when = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC") : "–");
  const json = (value) => JSON.stringify(value, null, 2);

  function table(headers, rows, attrs) {
    return el(
      "table",
      attrs || {},
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { class: h.num ? "num" : null }, h.label || h)))),
      el("tbody", {}, rows),
    );
  }

  function section(id, title, ...body) {
    return el("section", { id: id }, el("h3", {}, title), ...body);
  }

  async function getJSON(url) {
    const response = await fetch(url);
    const body = await response.json();
    if (!response.ok) throw new Error((body.error || response.statusText) + (body.hint ? " (" + body.hint + ")" : ""));
    return body;
  }

  // -- runs ------------------------------------------------------------------------------------------
  function runsSection(p) {
    if (!p.runs.length) {
      return section("runs", "Runs", el("p", { class: "muted" }, "No run records yet in " + p.working_folder + "/runs."));
    }
    const chart = el("div", { id: "chart-runs", class: "chart" });
    const rows = p.runs
      .slice()
      .reverse()
      .map((r) =>
        el(
          "tr",
          { class: "run", "data-run-id": r.run_id, "data-status": r.status, "data-rows": r.rows },
          el("td", {}, el("code", {}, r.run_id)),
          el("td", {}, r.kind),
          el("td", { class: "status-" + r.status }, r.status || "–"),
          el("td", {}, when(r.started_at)),
          el("td", { class: "num" }, seconds(r.seconds)),
          el("td", { class: "num" }, number(r.rows)),
          el("td", {}, Object.entries(r.tables).map(([t, n]) => t + ": " + number(n)).join(", ") || "–"),
          el("td", {}, r.error ? el("a", { href: "#error-" + r.run_id }, r.error.type) : ""),
        ),
      );
    const out = section(
      "runs",
      "Runs (" + p.runs.length + ")",
      chart,
      table(
        ["run", "kind", "status", "started", { label: "duration", num: true }, { label: "rows", num: true }, "tables", "error"],
        rows,
        { id: "runs-table" },
      ),
    );
    out.charts = [() => runsChart(chart, p.runs)];
    return out;
  }

  function runsChart(node, runs) {
    const x = runs.map((r) => r.run_id); // evenly spaced: runs seconds apart and days apart both stay readable
    const bars = ["completed", "failed"].map((status) => ({
      type: "bar",
      name: status + " (duration)",
      x: x,
      y: runs.map((r) => (r.status === status ? r.seconds : null)),
      marker: { color: COLORS[status] },
      hovertext: runs.map((r) => r.run_id + " " + r.kind),
    }));
    const rows = {
      type: "scatter",
      mode: "lines+markers",
      name: "rows",
      x: x,
      y: runs.map((r) => r.rows),
      yaxis: "y2",
      line: { color: "#0969da" },
    };
    Plotly.newPlot(
      node,
      [...bars, rows],
      {
        margin: { t: 10, r: 60, b: 50, l: 60 },
        barmode: "overlay",
        xaxis: { title: { text: "run (UTC start time)" }, type: "category" },
        yaxis: { title: { text: "seconds" }, rangemode: "tozero" },
        yaxis2: { title: { text: "rows" }, overlaying: "y", side: "right", rangemode: "tozero", tickmode: "auto", showgrid: false },
        legend: { orientation: "h", y: 1.12 },
      },
      { displayModeBar: false, responsive: true },
    );
  }

  // -- tables ----------------------------------------------------------------------------------------
  function tablesSection(p) {
    if (!p.tables.length) return section("tables", "Tables", el("p", { class: "muted" }, "No tables yet."));
    const runs = p.tables[0].growth.map((g) => g.run_id);
    const rows = p.tables.map((t) =>
      el(
        "tr",
        { class: "table-row", "data-table": t.name, "data-rows": t.rows === null ? "" : t.rows },
        el("td", {}, el("code", {}, t.name)),
        el("td", { class: "num rows-now" }, number(t.rows)),
        t.growth.map((g) => el("td", { class: "num", "data-run-id": g.run_id }, g.rows ? "+" + number(g.rows) : "0")),
      ),
    );
    const chart = el("div", { id: "chart-growth", class: "chart" });
    const out = section(
      "tables",
      "Tables",
      table(
        ["table", { label: "rows now", num: true }, ...runs.map((id) => ({ label: "+ run " + id, num: true }))],
        rows,
        { id: "tables-table" },
      ),
      runs.length ? chart : null,
    );
    out.charts = runs.length ? [() => growthChart(chart, p.tables)] : [];
    return out;
  }

  function growthChart(node, tables) {
    const traces = tables.map((t) => {
      let total = 0;
      return {
        type: "scatter",
        mode: "lines+markers",
        name: t.name,
        x: t.growth.map((g) => g.run_id),
        y: t.growth.map((g) => (total += g.rows)),
      };
    });
    Plotly.newPlot(
      node,
      traces,
      {
        margin: { t: 10, r: 20, b: 60, l: 60 },
        xaxis: { title: { text: "run" }, type: "category" },
        yaxis: { title: { text: "rows loaded (cumulative)" }, rangemode: "tozero", tickformat: ",d" },
        legend: { orientation: "h", y: 1.12 },
      },
      { displayModeBar: false, responsive: true },
    );
  }

  // -- schemas ---------------------------------------------------------------------------------------
  function schemaChanges(version) {
    const d = version.diff;
    if (!d) {
      return el("li", { class: "muted" }, "first version: tables " + Object.keys(version.tables).join(", "));
    }
    const items = [
      ...d.new_tables.map((t) =>
        el("li", { class: "schema-change change-table", "data-kind": "new_table", "data-table": t }, "new table ", el("code", {}, t)),
      ),
      ...d.added.map((c) =>
        el(
          "li",
          { class: "schema-change change-add", "data-kind": "add", "data-table": c.table, "data-column": c.column },
          "column added: ",
          el("code", {}, c.table + "." + c.column),
          " (" + c.type + ")",
        ),
      ),
      ...d.changed.map((c) =>
        el(
          "li",
          { class: "schema-change change-type", "data-kind": "type", "data-table": c.table, "data-column": c.column },
          "type changed: ",
          el("code", {}, c.table + "." + c.column),
          " " + c.from + " → " + c.to,
        ),
      ),
    ];
    return items.length ? items : el("li", { class: "muted" }, "no column changes");
  }

  function schemasSection(p) {
    if (!p.schemas.length) return section("schemas", "Schema versions", el("p", { class: "muted" }, "No schema yet."));
    return section(
      "schemas",
      "Schema versions",
      p.schemas.map((s) =>
        el(
          "div",
          { class: "schema", "data-schema": s.name },
          el("h4", {}, "schema ", el("code", {}, s.name)),
          s.versions
            .slice()
            .reverse()
            .map((v) =>
              el(
                "div",
                { class: "schema-version", "data-version": v.version },
                el(
                  "strong",
                  {},
                  "version " + v.version,
                  v.load_id ? " · load " + v.load_id : "",
                  v.local_only ? " · in the working folder only (not loaded yet)" : "",
                ),
                el("ul", {}, schemaChanges(v)),
              ),
            ),
        ),
      ),
    );
  }

  // -- state -----------------------------------------------------------------------------------------
  function stateSection(p) {
    const s = p.state;
    if (!s) return section("state", "State and cursors", el("p", { class: "muted" }, "No state yet."));
    const cursors = s.cursors.map((c) =>
      el(
        "tr",
        { class: "cursor", "data-resource": c.resource },
        el("td", {}, c.source),
        el("td", {}, c.resource),
        el("td", {}, el("code", {}, c.cursor)),
        el("td", {}, el("code", {}, typeof c.last_value === "string" ? c.last_value : JSON.stringify(c.last_value))),
        el("td", { class: "num" }, c.lag_seconds === null || c.lag_seconds === undefined ? "–" : seconds(c.lag_seconds)),
      ),
    );
    return section(
      "state",
      "State and cursors",
      el("p", {}, "state version " + s.version + (s.load_id ? ", committed by load " + s.load_id : "")),
      cursors.length
        ? table(["source", "resource", "cursor", "last value", { label: "lag", num: true }], cursors, { id: "cursors-table" })
        : el("p", { class: "muted" }, "No incremental cursors."),
      s.resources.map((r) => el("p", {}, el("code", {}, r.source + "." + r.resource), ": ", el("code", {}, JSON.stringify(r.values)))),
      el("details", {}, el("summary", {}, "the whole state document"), el("pre", {}, json(s.raw))),
    );
  }

  // -- quality ---------------------------------------------------------------------------------------
  function qualitySection(p) {
    const checks = p.checks.map((c) =>
      el(
        "tr",
        { class: "check", "data-check": c.check_name, "data-table": c.table_name, "data-passed": String(c.passed) },
        el("td", {}, el("code", {}, c.load_id)),
        el("td", {}, c.table_name),
        el("td", {}, c.check_name),
        el("td", {}, c.severity),
        el("td", { class: "num" }, number(c.checked_rows)),
        el("td", { class: "num" }, number(c.failing_rows)),
        el("td", { class: "passed-" + c.passed }, c.passed ? "passed" : "failed"),
        el("td", {}, c.error || "", c.samples && c.samples.length ? el("details", {}, el("summary", {}, "samples"), el("pre", {}, json(c.samples))) : ""),
      ),
    );
    const q = p.quarantine;
    const counts = q.counts.map((c) =>
      el("tr", { class: "quarantine-count", "data-table": c.table, "data-rows": c.rows }, el("td", {}, c.table), el("td", {}, c.reason), el("td", { class: "num" }, number(c.rows))),
    );
    const samples = q.samples.map((s) =>
      el("tr", { class: "quarantine-sample" }, el("td", {}, s.table_name), el("td", {}, s.reason), el("td", {}, el("code", {}, JSON.stringify(s.row))), el("td", {}, el("code", {}, s.load_id || ""))),
    );
    return section(
      "quality",
      "Data quality",
      el("h4", {}, "checks"),
      checks.length
        ? table(["load", "table", "check", "severity", { label: "checked", num: true }, { label: "failing", num: true }, "verdict", "details"], checks, { id: "checks-table" })
        : el("p", { class: "muted" }, "No check results."),
      el("h4", {}, "quarantine"),
      counts.length
        ? [
            table(["table", "reason", { label: "rows", num: true }], counts, { id: "quarantine-table" }),
            table(["table", "reason", "row", "load"], samples, { id: "quarantine-samples" }),
          ]
        : el("p", { class: "muted" }, "No quarantined rows."),
    );
  }

  // -- errors ----------------------------------------------------------------------------------------
  function errorsSection(p) {
    if (!p.errors.length) return section("errors", "Errors", el("p", { class: "muted" }, "No failed runs."));
    return section(
      "errors",
      "Errors (" + p.errors.length + ")",
      p.errors.map((e) =>
        el(
          "div",
          { class: "error-card", id: "error-" + e.run_id, "data-run-id": e.run_id },
          el("p", {}, el("strong", {}, e.type || "error"), " in " + e.kind + " " + e.run_id + " (" + when(e.started_at) + ")"),
          el("pre", { class: "error-message" }, e.message || ""),
          e.hint ? el("p", {}, "hint: " + e.hint) : null,
          Object.keys(e).some((k) => !["run_id", "kind", "started_at", "type", "message", "hint"].includes(k))
            ? el("details", {}, el("summary", {}, "everything recorded"), el("pre", {}, json(e)))
            : null,
        ),
      ),
    );
  }

  // -- the page --------------------------------------------------------------------------------------
  function renderPipeline(p) {
    const main = document.getElementById("main");
    const sections = [runsSection(p), tablesSection(p), schemasSection(p), stateSection(p), qualitySection(p), errorsSection(p)];
    main.replaceChildren(
      el(
        "div",
        { class: "pipeline", "data-pipeline": p.id },
        el("h2", {}, p.pipeline, p.id !== p.pipeline ? el("span", { class: "muted" }, " (" + p.id + ")") : null),
        el("p", { class: "muted" }, (p.destination || "?") + " · dataset " + (p.dataset || "?") + " · " + p.working_folder),
        p.problems.length ? el("ul", { class: "problems", id: "problems" }, p.problems.map((t) => el("li", {}, t))) : null,
      ),
      sections[0],
      el("div", { class: "grid" }, sections[1], sections[2]),
      el("div", { class: "grid" }, sections[3], sections[5]),
      sections[4],
    );
    for (const s of sections) for (const draw of s.charts || []) draw();
  }

  function renderNav(pipelines, current) {
    const nav = document.getElementById("pipelines");
    nav.replaceChildren(
      ...pipelines.map((p) =>
        el(
          "a",
          { href: "#" + encodeURIComponent(p.id), class: p.id === current ? "current" : null, "data-pipeline": p.id },
          p.id,
          p.last_run ? el("span", { class: "status-" + p.last_run.status }, " ●") : null,
        ),
      ),
    );
  }

  async function show(listing) {
    const main = document.getElementById("main");
    const wanted = decodeURIComponent(location.hash.slice(1));
    const ids = listing.pipelines.map((p) => p.id);
    const current = ids.includes(wanted) ? wanted : ids[0];
    renderNav(listing.pipelines, current);
    if (!current) {
      main.replaceChildren(el("p", {}, "No pipelines in " + listing.pipelines_dir + ": run one first."));
    } else {
      main.dataset.state = "loading";
      renderPipeline(await getJSON("/api/pipelines/" + encodeURIComponent(current)));
    }
    main.dataset.state = "ready";
  }

  async function start() {
    const listing = await getJSON("/api/pipelines");
    window.addEventListener("hashchange", () => show(listing).catch(fail));
    await show(listing);
  }

  function fail(error) {
    const main = document.getElementById("main");
    main.replaceChildren(el("pre", { class: "problems" }, "The dashboard could not load: " + error.message));
    main.dataset.state = "failed";
    throw error;
  }

  start().catch(fail);
})();
