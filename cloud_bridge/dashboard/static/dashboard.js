/* The manager's dashboard: asks for a token, keeps it in this tab's sessionStorage, and fills
   each panel from the bridge's JSON under /dashboard/api with "Authorization: Bearer".
   Nothing here is fetched from anywhere but the bridge that served the page.
   It refreshes itself every REFRESH_SECONDS while the tab is visible (and the box is ticked),
   keeping each list's page and updating the charts' data in place. */
"use strict";

(() => {
  const TOKEN_KEY = "packline.dashboard.token";
  const API = "api";
  const OKABE_ITO = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442"];
  const REFRESH_SECONDS = 15;

  class AuthError extends Error {}

  const byId = (id) => document.getElementById(id);
  const panelBody = (name) => document.querySelector(`[data-panel="${name}"]`);

  /* --- elements --------------------------------------------------------------------------- */

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function badge(kind, icon, text) {
    return el("span", { className: `badge ${kind}` }, el("span", { "aria-hidden": "true", text: icon }), text);
  }

  const when = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "never");
  const percent = (rate) => (rate === null || rate === undefined ? "n/a" : `${(rate * 100).toFixed(1)} %`);
  const shown = (value) => (value === null || value === undefined ? "n/a" : String(value));

  /* A table with a caption, header cells with scope, and one row per item. */
  function table(caption, columns, items, { hiddenCaption = false } = {}) {
    const head = el("tr", {}, columns.map((c) => el("th", { scope: "col", className: c.number ? "number" : null, text: c.label })));
    const rows = items.map((item) =>
      el("tr", {}, columns.map((c, index) => {
        const value = c.value(item);
        const cell = el(index === 0 ? "th" : "td", { className: c.number ? "number" : c.className || null }, value);
        if (index === 0) cell.setAttribute("scope", "row");
        return cell;
      })),
    );
    return el(
      "table",
      {},
      el("caption", { className: hiddenCaption ? "visually-hidden" : null, text: caption }),
      el("thead", {}, head),
      el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: columns.length, className: "empty", text: "Nothing to show." }))]),
    );
  }

  /* --- the API ---------------------------------------------------------------------------- */

  async function api(path, params = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) throw new AuthError("Sign in with an API token to see the dashboard.");
    const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== ""));
    const url = `${API}/${path}${query.toString() ? `?${query}` : ""}`;
    const response = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } });
    let body = null;
    try { body = await response.json(); } catch { body = null; }
    const said = body && body.error && body.error.message ? body.error.message : `HTTP ${response.status}`;
    if (response.status === 401) throw new AuthError(`The token was not accepted: ${said}. Sign in again.`);
    if (response.status === 403) throw new AuthError(`This token may not read the dashboard: ${said}. Sign in with a viewer token.`);
    if (!response.ok) throw new Error(`The bridge answered ${response.status}: ${said}`);
    return body;
  }

  /* --- paged lists ------------------------------------------------------------------------ */

  /* A list the server pages: keeps its offset and filters, and draws a pager under the table. */
  /* Previous/next buttons under a page; the one that had focus gets it back after a redraw. */
  function pager(page, { onPrevious, onNext, noun = "Rows" }) {
    const first = page.total === 0 ? 0 : page.offset + 1;
    const last = page.offset + page.items.length;
    const focused = document.activeElement ? document.activeElement.dataset.pager : undefined;
    const previous = el("button", { type: "button", disabled: page.offset === 0, "data-pager": "previous", text: "Previous page" });
    const next = el("button", { type: "button", disabled: page.next_offset === null, "data-pager": "next", text: "Next page" });
    previous.addEventListener("click", onPrevious);
    next.addEventListener("click", onNext);
    const box = el("div", { className: "pager" }, el("p", { text: `${noun} ${first} to ${last} of ${page.total}` }), previous, next);
    const refocus = { previous, next }[focused];
    return { box, restoreFocus: () => { if (refocus && !refocus.disabled) refocus.focus(); } };
  }

  /* Whether a container held the focus, so a redraw can keep it there. */
  const holdsFocus = (container) => container.contains(document.activeElement);

  /* A list the server pages: keeps its offset and filters, and draws a pager under the table.
     Only the newest request draws, so a refresh cannot overwrite a page the user turned to. */
  function pagedList(container, { caption, path, columns, rows = 10, filters = () => ({}) }) {
    let offset = 0;
    let latest = 0;
    const holder = el("div");
    container.append(holder);

    async function load() {
      const ticket = ++latest;
      const page = await api(path, { limit: rows, offset, ...filters() });
      if (ticket !== latest) return;
      const hadFocus = holdsFocus(holder);
      const controls = pager(page, {
        onPrevious: () => { offset = Math.max(0, offset - rows); guarded(load); },
        onNext: () => { offset = page.next_offset; guarded(load); },
      });
      holder.replaceChildren(table(caption, columns, page.items), controls.box);
      if (hadFocus) controls.restoreFocus();
    }

    return { load, reset() { offset = 0; return load(); } };
  }

  /* --- panels ----------------------------------------------------------------------------- */

  function presence(station) {
    return station.online ? badge("good", "\u25CF", "Online") : badge("bad", "\u2715", "Offline");
  }

  function printer(station) {
    const icons = { ok: ["good", "\u2713", "OK"], fault: ["bad", "\u26A0", "Fault"], offline: ["bad", "\u2715", "Offline"] };
    const [kind, icon, text] = icons[station.printer] || ["neutral", "?", station.printer ? station.printer : "Unknown"];
    return el("span", {}, badge(kind, icon, text), station.printer_detail ? ` ${station.printer_detail}` : "");
  }

  function stationsPanel(body) {
    body.append(el("p", { className: "note", "data-testid": "station-rates-note", text:
      "Both rates count per confirmed line (a line picked in full and confirmed at its slot), since each station set up. " +
      "Short rate: shortages per confirmed line. Wrong scans per confirmed line: wrong scans divided by confirmed lines; " +
      "stations do not report how many items they scanned, so it is not a share of scans and can exceed 1." }));
    const list = pagedList(body, {
      caption: "Stations, their presence, printer, throughput, error rates and outbox",
      path: "stations",
      rows: 25,
      columns: [
        { label: "Station", value: (s) => s.station_id },
        { label: "Status", value: presence },
        { label: "Version", value: (s) => shown(s.software_version) },
        { label: "Phase", value: (s) => shown(s.phase) },
        { label: "Printer", value: printer },
        { label: "Shipments, last hour", number: true, value: (s) => s.shipments_last_hour },
        { label: "Orders, last hour", number: true, value: (s) => s.orders_last_hour },
        { label: "Short rate", number: true, value: (s) => percent(s.short_rate) },
        { label: "Wrong scans per confirmed line", number: true, value: (s) => shown(s.wrong_scan_rate === null ? null : s.wrong_scan_rate.toFixed(3)) },
        { label: "Outbox depth", number: true, value: (s) => shown(s.outbox_depth) },
        { label: "Last seen", value: (s) => when(s.last_seen) },
      ],
    });
    return list.load;
  }

  const STATE_STYLE = {
    new: ["info", "\u2022"], held_credit: ["bad", "\u26A0"], held_prepayment: ["bad", "\u26A0"],
    allocated: ["info", "\u25A3"], partially_allocated: ["warn", "\u25A2"], released: ["info", "\u279C"],
    picking: ["info", "\u25B6"], shipped: ["good", "\u2713"], partially_shipped: ["warn", "\u25D0"],
    cancelled: ["neutral", "\u2715"],
  };
  const stateLabel = (state) => state.replace(/_/g, " ");
  const stateBadge = (state) => {
    const [kind, icon] = STATE_STYLE[state] || ["neutral", "\u2022"];
    return badge(kind, icon, stateLabel(state));
  };

  function ordersPanel(body) {
    const counts = el("div");
    const select = el("select", { id: "order-state-filter" }, el("option", { value: "", text: "All states" }));
    const filter = el("div", { className: "filters" }, el("label", { for: "order-state-filter", text: "Show orders in state" }), select);
    const listBox = el("div");
    body.classList.add("split");
    body.append(counts, el("div", {}, el("h3", { text: "Orders, newest first" }), filter, listBox));
    const list = pagedList(listBox, {
      caption: "Orders, newest first",
      path: "orders",
      filters: () => ({ state: select.value }),
      columns: [
        { label: "Order", value: (o) => o.order_no },
        { label: "Account", value: (o) => o.account },
        { label: "State", value: (o) => stateBadge(o.state) },
        { label: "Station", value: (o) => shown(o.station) },
        { label: "Received", value: (o) => when(o.created_at) },
      ],
    });
    select.addEventListener("change", () => guarded(list.reset));
    return async () => {
      const summary = await api("orders/by-state");
      counts.replaceChildren(table(
        `Orders by state (${summary.total} in all)`,
        [{ label: "State", value: (s) => stateBadge(s.state) }, { label: "Orders", number: true, value: (s) => s.count }],
        summary.states,
      ));
      if (select.options.length === 1) {
        for (const s of summary.states) select.append(el("option", { value: s.state, text: stateLabel(s.state) }));
      }
      await list.load();
    };
  }

  function despatchesPanel(body) {
    return async () => {
      const today = await api("despatches/today");
      const figure = (label, value) => el("div", {}, el("dt", { text: label }), el("dd", { text: String(value) }));
      body.replaceChildren(
        el("dl", { className: "figures" }, figure("Shipments", today.shipments), figure("Orders", today.orders), figure("Units", today.units)),
        el("p", { className: "note", "data-testid": "despatches-since", text: `Since midnight ${today.timezone} time: ${today.since_local} ${today.timezone} (${when(today.since)}).` }),
      );
    };
  }

  const charts = {};

  /* A chart with its data as a table in a <details>, for screen readers and for exact figures. */
  function chartPanel(body, name, path, type) {
    const canvasId = `${name}-canvas`;
    const box = el("div", { className: "chart-box" });
    const data = el("div");
    body.append(box, data);
    return async () => {
      const chart = await api(path);
      const columns = [{ label: type === "line" ? "Hour" : "Station", value: (row) => row.label }].concat(
        chart.series.map((series, index) => ({ label: series.label, number: true, value: (row) => row.values[index] })),
      );
      const rows = chart.labels.map((label, index) => ({ label, values: chart.series.map((s) => s.values[index]) }));
      const open = data.querySelector("details") ? data.querySelector("details").open : false;
      data.replaceChildren(el("details", { open }, el("summary", { text: `${chart.title}: data table` }), table(chart.title, columns, rows)));
      if (typeof Chart === "undefined") {
        box.replaceChildren(el("p", { className: "note", text: "The chart could not be drawn; the data table below has the figures." }));
        return;
      }
      const drawn = charts[name];
      if (drawn && drawn.data.datasets.length === chart.series.length) {
        /* A refresh: new figures into the chart that is there, no new canvas, no flicker. */
        drawn.data.labels = chart.labels;
        chart.series.forEach((series, index) => {
          drawn.data.datasets[index].label = series.label;
          drawn.data.datasets[index].data = series.values;
        });
        drawn.options.plugins.legend.display = chart.series.length > 1;
        drawn.update("none");
        return;
      }
      if (drawn) drawn.destroy();
      const canvas = el("canvas", { id: canvasId, role: "img", "aria-label": `${chart.title}. The figures are in the data table below.` });
      box.replaceChildren(canvas);
      charts[name] = new Chart(canvas, {
        type,
        data: {
          labels: chart.labels,
          datasets: chart.series.map((series, index) => ({
            label: series.label,
            data: series.values,
            borderColor: OKABE_ITO[index % OKABE_ITO.length],
            backgroundColor: OKABE_ITO[index % OKABE_ITO.length],
            borderDash: index === 1 ? [6, 4] : [],
            pointStyle: index === 1 ? "rect" : "circle",
            tension: 0.2,
          })),
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          plugins: { title: { display: false }, legend: { display: chart.series.length > 1, labels: { usePointStyle: true } } },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        },
      });
    };
  }

  /* Opens on the open lines, newest first: those are the holds someone still has to act on. */
  function creditErrorsPanel(body) {
    const select = el("select", { id: "credit-errors-show", "data-testid": "credit-errors-show" },
      el("option", { value: "open", text: "Open only", selected: true }),
      el("option", { value: "all", text: "All, resolved included" }));
    const filter = el("div", { className: "filters" }, el("label", { for: "credit-errors-show", text: "Show lines" }), select);
    body.append(filter, el("p", { className: "note", text: "Why orders did not progress, with the credit gate's exact messages, newest first." }));
    const list = pagedList(body, {
      caption: "Credit check error report",
      path: "credit-errors",
      filters: () => ({ show: select.value }),
      columns: [
        { label: "Order", value: (r) => r.order_no },
        { label: "Step", value: (r) => stateLabel(r.step) },
        { label: "Message", className: "message", value: (r) => r.message },
        { label: "Reported", value: (r) => when(r.created_at) },
        { label: "Status", value: (r) => (r.resolved_at ? badge("good", "\u2713", `Resolved ${when(r.resolved_at)}`) : badge("bad", "\u26A0", "Open")) },
      ],
    });
    select.addEventListener("change", () => guarded(list.reset));
    return list.load;
  }

  function autoQueuePanel(body) {
    const list = pagedList(body, {
      caption: "Orders waiting in the auto queue, next retry first",
      path: "auto-queue",
      columns: [
        { label: "Order", value: (e) => e.order_no },
        { label: "Step", value: (e) => stateLabel(e.step) },
        { label: "Message", className: "message", value: (e) => e.message },
        { label: "Failed at", value: (e) => when(e.failed_at) },
        { label: "Next retry", value: (e) => when(e.next_retry_at) },
        { label: "Failed tries", number: true, value: (e) => e.attempts },
      ],
    });
    return list.load;
  }

  function inventoryPanel(body) {
    const account = el("input", { id: "inventory-account", type: "search", maxlength: "64", autocomplete: "off" });
    const sku = el("input", { id: "inventory-sku", type: "search", maxlength: "64", autocomplete: "off" });
    const apply = el("button", { type: "submit", text: "Filter" });
    const form = el("form", { className: "filters", role: "search", "aria-label": "Filter inventory" },
      el("label", { for: "inventory-account", text: "Account" }), account,
      el("label", { for: "inventory-sku", text: "Product" }), sku, apply);
    body.append(form, el("p", { className: "note", text: "Available is on hand minus allocated. Borrowed stock is reserved for this account's orders from a linked account; lent stock is this account's, reserved for a linked account's orders." }));
    const list = pagedList(body, {
      caption: "Stock by account and product, with borrowing from linked accounts",
      path: "inventory",
      rows: 15,
      filters: () => ({ account: account.value.trim(), sku: sku.value.trim() }),
      columns: [
        { label: "Account", value: (r) => r.account },
        { label: "Product", value: (r) => r.sku },
        { label: "On hand", number: true, value: (r) => r.on_hand },
        { label: "Allocated", number: true, value: (r) => r.allocated },
        { label: "Available", number: true, value: (r) => r.available },
        { label: "Lent", number: true, value: (r) => r.lent },
        { label: "Borrowed", number: true, value: (r) => r.borrowed },
        { label: "Borrowed from", value: (r) => r.borrowed_from.map((b) => `${b.from_account} (${b.units})`).join(", ") || "none" },
      ],
    });
    form.addEventListener("submit", (event) => { event.preventDefault(); guarded(list.reset); });
    return list.load;
  }

  function sagePanel(body) {
    const summaryBox = el("div");
    const reconcileBox = el("div");
    const rejectedBox = el("div");
    body.append(summaryBox, reconcileBox, el("h3", { text: "Rejected postings" }), rejectedBox);
    const rejected = pagedList(rejectedBox, {
      caption: "Postings Sage refused, with Sage's messages",
      path: "sage/rejected",
      columns: [
        { label: "Posting", value: (p) => String(p.posting_id) },
        { label: "Document", value: (p) => `${stateLabel(p.kind)} ${p.reference}` },
        { label: "Shipment", number: true, value: (p) => p.shipment_id },
        { label: "State", value: (p) => badge("bad", "\u26A0", p.state) },
        { label: "Problem", className: "message", value: (p) => p.message },
        { label: "Sage's message", className: "message", value: (p) => p.sage_messages.join(" / ") || "none" },
        { label: "Written", value: (p) => when(p.created_at) },
      ],
    });
    const DIFFERENCES_PER_PAGE = 10;
    let differencesOffset = 0;
    let latest = 0;

    function drawReconcile(reconcile) {
      const last = reconcile.last;
      const parts = [el("h3", { text: "Last reconcile result" })];
      if (!last) {
        parts.push(el("p", { className: "note", text: reconcile.note }));
        reconcileBox.replaceChildren(...parts);
        return;
      }
      const verdict = last.ok ? badge("good", "\u2713", "Agreed") : badge("bad", "\u26A0", `${last.problems} ${last.problems === 1 ? "problem" : "problems"}`);
      parts.push(
        el("p", {}, verdict, ` ${reconcile.note}`),
        el("p", { className: "note", text:
          `Ran ${when(last.started_at)} to ${when(last.finished_at)}` +
          (last.shipped_since ? `, shipments since ${when(last.shipped_since)}` : "") +
          `. Compared ${last.shipment_lines_checked} shipment lines, ${last.postings_checked} postings, ` +
          `${last.documents_checked} Sage documents and ${last.stock_items_checked} stock items.` }),
      );
      const page = last.difference_lines;
      if (page.total > 0) {
        const hadFocus = holdsFocus(reconcileBox);
        const controls = pager(page, {
          noun: "Differences",
          onPrevious: () => { differencesOffset = Math.max(0, differencesOffset - DIFFERENCES_PER_PAGE); guarded(loadSummary); },
          onNext: () => { differencesOffset = page.next_offset; guarded(loadSummary); },
        });
        parts.push(table("Differences the last reconciliation found, those needing attention first", [
          { label: "Kind", value: (d) => (d.needs_attention ? badge("bad", "\u26A0", stateLabel(d.kind)) : badge("info", "\u2022", stateLabel(d.kind))) },
          { label: "Difference", className: "message", value: (d) => d.message },
          { label: "Shipment", value: (d) => shown(d.shipment_id) },
          { label: "Posting", value: (d) => shown(d.posting_id) },
          { label: "Product", value: (d) => shown(d.sku) },
        ], page.items), controls.box);
        reconcileBox.replaceChildren(...parts);
        if (hadFocus) controls.restoreFocus();
        return;
      }
      reconcileBox.replaceChildren(...parts);
    }

    async function loadSummary() {
      const ticket = ++latest;
      const sage = await api("sage", { limit: DIFFERENCES_PER_PAGE, offset: differencesOffset });
      if (ticket !== latest) return;
      const connection = sage.environment
        ? `Posting to the ${sage.environment} environment, business ${sage.business_id}.`
        : "The bridge has not posted to Sage yet, so no environment is recorded.";
      summaryBox.replaceChildren(
        el("p", { text: connection }),
        table("Posting queue by state", [
          { label: "State", value: (s) => stateLabel(s.state) },
          { label: "Postings", number: true, value: (s) => s.count },
        ], sage.queue),
        el("p", { text: `Pending and due now: ${sage.due_now}. Last posted: ${when(sage.last_posted_at)}.` }),
        table("Records last read from Sage", [
          { label: "Resource", value: (m) => m.resource },
          { label: "Business", value: (m) => m.business_id },
          { label: "Read at", value: (m) => when(m.synced_at) },
        ], sage.sync_marks),
      );
      drawReconcile(sage.reconcile);
    }

    return async () => {
      await Promise.all([loadSummary(), rejected.load()]);
    };
  }

  function fleetPanel(body) {
    return async () => {
      const fleet = await api("fleet");
      const progress = (r) => {
        const done = r.updated + r.failed + r.timed_out;
        return el("span", {}, el("progress", { max: String(Math.max(r.targeted, 1)), value: String(done), "aria-label": `${r.rollout} progress` }),
          ` ${r.updated} of ${r.targeted} updated, ${r.failed} failed, ${r.timed_out} timed out, ${r.in_progress} in progress, ${r.absent} absent`);
      };
      body.replaceChildren(
        table("Software versions across stations", [
          { label: "Version", value: (v) => shown(v.version) },
          { label: "Stations", number: true, value: (v) => v.stations },
          { label: "Online", number: true, value: (v) => v.online },
        ], fleet.versions),
        el("h3", { text: "Rollouts, newest first" }),
        table("Rollouts and their progress", [
          { label: "Rollout", value: (r) => r.rollout },
          { label: "Version", value: (r) => r.version },
          { label: "Group", value: (r) => r.group },
          { label: "State", value: (r) => `${stateLabel(r.state)}: ${r.reason}` },
          { label: "Progress", value: progress },
        ], fleet.rollouts),
      );
    };
  }

  /* --- the page --------------------------------------------------------------------------- */

  const loaders = {};

  function build() {
    loaders.stations = stationsPanel(panelBody("stations"));
    loaders["orders-by-state"] = ordersPanel(panelBody("orders-by-state"));
    loaders.despatches = despatchesPanel(panelBody("despatches"));
    loaders["chart-orders-per-hour"] = chartPanel(panelBody("chart-orders-per-hour"), "orders-per-hour", "charts/orders-per-hour", "line");
    loaders["chart-picks-per-station"] = chartPanel(panelBody("chart-picks-per-station"), "picks-per-station", "charts/picks-per-station", "bar");
    loaders["credit-errors"] = creditErrorsPanel(panelBody("credit-errors"));
    loaders["auto-queue"] = autoQueuePanel(panelBody("auto-queue"));
    loaders.inventory = inventoryPanel(panelBody("inventory"));
    loaders.sage = sagePanel(panelBody("sage"));
    loaders.fleet = fleetPanel(panelBody("fleet"));
  }

  function showNotice(text) {
    const notice = byId("notice");
    notice.textContent = text;
    notice.hidden = !text;
  }

  function showSignIn(message) {
    autoRefresh.stop();
    sessionStorage.removeItem(TOKEN_KEY);
    byId("panels").hidden = true;
    byId("refresh").hidden = true;
    byId("sign-out").hidden = true;
    byId("auto-refresh-control").hidden = true;
    byId("sign-in").hidden = false;
    byId("updated").textContent = "";
    showNotice(message || "");
    byId("token").value = "";
    byId("token").focus();
  }

  /* Runs one panel's load; a refused token brings the sign-in form back, other errors show. */
  async function guarded(load, name) {
    try {
      await load();
      return true;
    } catch (error) {
      if (error instanceof AuthError) {
        showSignIn(error.message);
      } else if (name) {
        panelBody(name).replaceChildren(el("p", { className: "error-text", text: `Could not load: ${error.message}` }));
      } else {
        showNotice(`Could not load: ${error.message}`);
      }
      return false;
    }
  }

  const clock = (date) => date.toISOString().slice(11, 19);

  /* Loads every panel; a load already under way is joined rather than started twice. */
  let loading = null;
  function loadAll() {
    if (!loading) loading = loadEveryPanel().finally(() => { loading = null; });
    return loading;
  }

  async function loadEveryPanel() {
    for (const name of Object.keys(loaders)) {
      const body = panelBody(name);
      if (!body.hasChildNodes()) body.append(el("p", { className: "loading", text: "Loading\u2026" }));
    }
    const results = await Promise.all(Object.entries(loaders).map(([name, load]) => guarded(async () => {
      await load();
      panelBody(name).querySelectorAll(":scope > .loading").forEach((node) => node.remove());
    }, name)));
    const loaded = results.every(Boolean);
    if (loaded) {
      const now = new Date();
      const updated = byId("updated");
      updated.textContent = `Updated at ${clock(now)} UTC`;
      updated.dataset.updatedAt = now.toISOString();
    }
    return loaded;
  }

  /* Refreshes every REFRESH_SECONDS while signed in, the tab is visible and the box is ticked.
     The next refresh is planned only once the last one is done, so two never overlap; a tab
     that comes back into view refreshes at once if its figures are older than the interval. */
  const autoRefresh = (() => {
    let timer = null;
    let running = false;
    let lastRun = 0;
    const wanted = () => running && !document.hidden && byId("auto-refresh").checked;

    function plan(delay) {
      clearTimeout(timer);
      timer = wanted() ? setTimeout(tick, delay) : null;
    }

    async function tick() {
      timer = null;
      if (!wanted()) return;
      lastRun = Date.now();
      await loadAll();
      plan(REFRESH_SECONDS * 1000);
    }

    function resume() {
      const due = lastRun + REFRESH_SECONDS * 1000 - Date.now();
      plan(Math.max(0, due));
    }

    return {
      start() { running = true; lastRun = Date.now(); plan(REFRESH_SECONDS * 1000); },
      stop() { running = false; plan(0); },
      resume,
      ranNow() { lastRun = Date.now(); if (running) plan(REFRESH_SECONDS * 1000); },
    };
  })();

  async function start() {
    byId("sign-in").hidden = true;
    byId("panels").hidden = false;
    byId("refresh").hidden = false;
    byId("sign-out").hidden = false;
    byId("auto-refresh-control").hidden = false;
    showNotice("");
    const loaded = await loadAll();
    if (loaded && document.body.dataset.loaded !== "true") {
      window.__dashboardLoadedAt = performance.timeOrigin + performance.now();
      document.body.dataset.loaded = "true";
    }
    if (sessionStorage.getItem(TOKEN_KEY)) autoRefresh.start();
  }

  document.addEventListener("DOMContentLoaded", () => {
    build();
    byId("sign-in-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = byId("token").value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      start();
    });
    byId("refresh").addEventListener("click", async () => { await loadAll(); autoRefresh.ranNow(); });
    byId("auto-refresh").addEventListener("change", () => autoRefresh.resume());
    document.addEventListener("visibilitychange", () => autoRefresh.resume());
    byId("sign-out").addEventListener("click", () => showSignIn("Signed out. The token is forgotten."));
    if (sessionStorage.getItem(TOKEN_KEY)) start();
    else showSignIn("");
  });
})();
